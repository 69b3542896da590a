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
    from custseg_nb.files import write_customers
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
    assert list(rows[0]) == ["ID", "segment", "segment_name", "confidence", "runner_up", "outlier"]
    assert len(rows) == 1500
    assert all(names[int(row["segment"])] == row["segment_name"] and 0 <= float(row["confidence"]) <= 1
               and int(row["runner_up"]) != int(row["segment"]) and row["outlier"] in ("0", "1") for row in rows)
    assert sum(row["outlier"] == "1" for row in rows) < 0.05*len(rows)  # same population as training: about 1% flagged


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
    assert r.returncode == 0, r.stdout + r.stderr  # a fresh synthetic draw: stable or at most watch, never drift
    assert r.stdout.startswith("1,500 customers compared with the training data: ") and "DRIFT" not in r.stdout.splitlines()[0]
    r = custseg("drift", kaggle_files["shifted"], "--artifacts", out)
    assert r.returncode == 3
    assert "drifted: " in r.stdout and "Income" in r.stdout and "NumWebVisitsMonth" in r.stdout


def test_report_is_self_contained(tmp_path):
    "The report from the notebooks' stored outputs; `--data` (every notebook re-run on a file) is tested in test_hostile_input."
    r = custseg("report", "--out", tmp_path/"report.html")
    assert r.returncode == 0, r.stderr
    html = (tmp_path/"report.html").read_text()
    assert "embedded synthetic sample" in html and "data:image/png;base64" in html and "cdnjs" not in html


@pytest.fixture(scope="module")
def partitions(tmp_path_factory):
    "A folder of three customer files in the Kaggle format (one draw split in three, so IDs are unique across files), and the draw."
    import numpy as np
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    folder = tmp_path_factory.mktemp("partitions")/"customers"
    folder.mkdir()
    whole = synth_customers(3000, seed=88)
    for i, rows in enumerate(np.array_split(np.arange(len(whole)), 3)): write_customers(whole.iloc[rows], folder/f"day-{i}.csv")
    return folder, whole


def test_score_with_dask_local_gives_the_in_memory_answer(model, partitions):
    import pandas as pd
    from custseg_nb.scoring import Segmenter
    out, _ = model
    folder, whole = partitions
    r = custseg("score", folder/"day-*.csv", "--artifacts", out, "--dask", "local")  # a glob; output beside the folder
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr  # Dask's own logging stays quiet without --verbose
    assert r.stdout.startswith("scored 3,000 customers") and str(folder.with_name("customers_scored")) in r.stdout
    scored = folder.with_name("customers_scored")
    assert sorted(p.name for p in scored.iterdir()) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    expected = Segmenter.load(out).predict(whole)[["ID", "segment", "segment_name", "confidence", "runner_up", "outlier"]]
    pd.testing.assert_frame_equal(pd.read_parquet(scored), expected, check_exact=True)


def test_score_with_dask_errors_are_one_line_with_exit_2(model, partitions, tmp_path):
    import shutil
    out, _ = model
    folder, whole = partitions
    bad = tmp_path/"bad"
    shutil.copytree(folder, bad)
    lines = (bad/"day-1.csv").read_bytes().split(b"\r\n")
    cells = lines[8].split(b"\t")
    cells[4] = b"lots"  # Income of the file's 8th customer (line 9)
    lines[8] = b"\t".join(cells)
    (bad/"day-1.csv").write_bytes(b"\r\n".join(lines))
    r = custseg("score", bad, "-o", tmp_path/"scored", "--artifacts", out, "--dask", "local")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"custseg: error: file 'day-1.csv': column 'Income' has text 'lots' in line 9 (ID {whole.ID[1000 + 7]}); expected a number"]
    assert not (tmp_path/"scored").exists()
    (tmp_path/"empty").mkdir()
    r = custseg("score", tmp_path/"empty", "--artifacts", out, "--dask", "local")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"custseg: error: no customer files (.csv, .tsv, .txt, .parquet, .pq) found in '{tmp_path/'empty'}'"]
    r = custseg("score", folder, "-o", tmp_path/"x", "--artifacts", out, "--dask", "tcp://127.0.0.1:9",
                env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("custseg: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    r = custseg("score", folder, "--artifacts", tmp_path/"nothing", "--dask", "local")
    assert r.returncode == 2 and "run `custseg train` first" in r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_at_any_moment_is_one_line_and_status_130(tmp_path):
    """SIGINT at moments spread over a training run: one line and status 130, never a traceback; training that
    finished first exits 0. (The first ~0.1 s belong to Python's own start-up, `site` and the editable-install finder,
    before any of the package's code runs: an interrupt there is the interpreter's, not the program's.)"""
    import signal, subprocess, time
    from conftest import custseg_exe
    outcomes = []
    for delay in (0.15, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0):
        proc = subprocess.Popen([custseg_exe(), "train", "--out", str(tmp_path/"m"), "--k", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        outcomes.append((delay, proc.returncode))
        assert "Traceback" not in err, (delay, err)
        if proc.returncode == 130: assert err.rstrip().splitlines()[-1] == "custseg: interrupted", err
        else: assert proc.returncode == 0, (delay, proc.returncode, err)
    assert sum(code == 130 for _, code in outcomes) >= 4, outcomes  # most moments land mid-run
