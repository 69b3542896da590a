"""End-to-end tests of the `custseg` console script, run as a user would run it: train, score, drift, report."""
import csv
import json

import pytest
from conftest import custseg


def test_unknown_subcommand_is_a_one_line_usage_error():
    r = custseg("frobnicate")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "invalid choice: 'frobnicate'" in r.stderr
    assert "Traceback" not in r.stderr


def test_version():
    r = custseg("--version")
    assert r.returncode == 0 and r.stdout.startswith("custseg_nb ")


@pytest.fixture(scope="module")
def kaggle_files(tmp_path_factory):
    "Customer files in the real Kaggle format (tab, CRLF, dd-mm-yyyy, blank incomes): a fresh draw, a shifted one, a broken one."
    from custseg_nb.data import write_customers
    from custseg_nb.synth import synth_customers
    folder = tmp_path_factory.mktemp("files")
    fresh = synth_customers(1500, seed=77)
    files = {"fresh": write_customers(fresh, folder/"marketing_campaign.csv"),
             "shifted": write_customers(fresh.assign(Income=fresh.Income*1.5, NumWebVisitsMonth=fresh.NumWebVisitsMonth*2),
                                        folder/"shifted.csv")}
    broken = fresh.head(30).astype({"MntWines": object})
    broken.loc[11, "MntWines"] = "lots"
    files["broken"] = write_customers(broken, folder/"broken.csv")
    files["broken_id"] = broken.ID[11]
    return files


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    "A model trained by `custseg train` on the embedded sample."
    out = tmp_path_factory.mktemp("model")/"artifacts"
    r = custseg("train", "--out", out)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_train_on_the_embedded_sample(model):
    out, stdout = model
    manifest = json.loads((out/"manifest.json").read_text())
    assert f"K = {manifest['k']} segments" in stdout
    for s in manifest["segments"]: assert s["name"] in stdout
    assert set(manifest["metrics"]) >= {"silhouette", "calinski_harabasz", "davies_bouldin", "stability_ari", "pca2_variance"}


def test_train_on_a_kaggle_format_file(tmp_path, kaggle_files):
    r = custseg("train", "--data", kaggle_files["fresh"], "--k", "4", "--seed", "3", "--out", tmp_path/"m")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path/"m"/"manifest.json").read_text())
    assert (manifest["k"], manifest["seed"], manifest["training_data"]["rows"]) == (4, 3, 1500)


def test_score_writes_the_contract_columns_beside_the_input(model, kaggle_files):
    out, _ = model
    r = custseg("score", kaggle_files["fresh"], "--artifacts", out)
    assert r.returncode == 0, r.stderr
    scored = kaggle_files["fresh"].with_name("marketing_campaign_scored.csv")
    rows = list(csv.DictReader(scored.open()))
    names = {s["id"]: s["name"] for s in json.loads((out/"manifest.json").read_text())["segments"]}
    assert list(rows[0]) == ["ID", "segment", "segment_name", "confidence", "runner_up"]
    assert len(rows) == 1500
    assert all(names[int(row["segment"])] == row["segment_name"] and 0 <= float(row["confidence"]) <= 1
               and int(row["runner_up"]) != int(row["segment"]) for row in rows)


def test_score_errors_are_one_line_with_exit_2(model, kaggle_files, tmp_path):
    out, _ = model
    r = custseg("score", kaggle_files["broken"], "-o", tmp_path/"x.csv", "--artifacts", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"custseg: error: file 'broken.csv': column 'MntWines' has text 'lots' in line 13 (ID {kaggle_files['broken_id']}); expected a number"]
    r = custseg("score", kaggle_files["fresh"], "--artifacts", tmp_path/"nothing")
    assert r.returncode == 2 and "run `custseg train` first" in r.stderr and "Traceback" not in r.stderr
    r = custseg("score", kaggle_files["broken"], "-o", tmp_path/"x.csv", "--artifacts", out, "--verbose")
    assert r.returncode != 0 and "Traceback" in r.stderr  # --verbose shows the traceback


def test_drift_exit_status(model, kaggle_files):
    out, _ = model
    r = custseg("drift", kaggle_files["fresh"], "--artifacts", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STABLE" in r.stdout
    r = custseg("drift", kaggle_files["shifted"], "--artifacts", out)
    assert r.returncode == 3
    assert "drifted: " in r.stdout and "Income" in r.stdout and "NumWebVisitsMonth" in r.stdout


def test_report_is_self_contained(tmp_path, kaggle_files):
    r = custseg("report", "--out", tmp_path/"report.html", "--data", kaggle_files["fresh"])
    assert r.returncode == 0, r.stderr
    html = (tmp_path/"report.html").read_text()
    assert "marketing_campaign.csv" in html and "data:image/png;base64" in html and "cdnjs" not in html
