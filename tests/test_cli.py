"""End-to-end tests of the `custseg` console script, run as a user would run it: train, score, drift, report."""
import csv
import json

import pytest
from conftest import QUICK, QUICK_SETTINGS, custseg, interruptible, run


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


def test_train_on_the_embedded_sample(model, tmp_path):
    """`custseg train`, as the README's main command runs it: it prints the summary once and makes the tests' shared model.
    Run in this process (`run`: the console script's own start-up is tested by `test_version` and the Ctrl-C tests)."""
    r = run("train", "--out", tmp_path/"artifacts")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path/"artifacts"/"manifest.json").read_text())
    shared = json.loads((model/"manifest.json").read_text())
    assert r.stdout.splitlines()[0].startswith(f"K = {manifest['k']} segments")
    assert [s["name"] for s in manifest["segments"]] == [s["name"] for s in shared["segments"]]
    assert [s["size"] for s in manifest["segments"]] == [s["size"] for s in shared["segments"]]
    assert manifest["metrics"] == pytest.approx(shared["metrics"], rel=1e-6)
    for s in manifest["segments"]: assert s["name"] in r.stdout
    assert sum(line.startswith("trained ") for line in (r.stdout + r.stderr).splitlines()) == 1  # one training line


def test_train_on_a_kaggle_format_file(tmp_path, kaggle_files):
    "The file, K, seed and the settings given are the model's (the fewest resamples: the file's reading is on trial, not the statistics)."
    r = run("train", "--data", kaggle_files["fresh"], "--k", "4", "--seed", "3", "--out", tmp_path/"m", *QUICK)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path/"m"/"manifest.json").read_text())
    assert (manifest["k"], manifest["seed"], manifest["training_data"]["rows"]) == (4, 3, 1500)
    assert {name: manifest["train_config"][name] for name in QUICK_SETTINGS} == QUICK_SETTINGS


def test_score_writes_the_contract_columns_beside_the_input(model, kaggle_files):
    out = model
    r = run("score", kaggle_files["fresh"], "--artifacts", out)
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
    out = model
    r = run("score", kaggle_files["broken"], "-o", tmp_path/"x.csv", "--artifacts", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"custseg: error: file 'broken.csv': column 'MntWines' has text 'lots' in line 13 (ID {kaggle_files['broken_id']}); expected a number"]
    r = run("score", kaggle_files["fresh"], "--artifacts", tmp_path/"nothing")
    assert r.returncode == 2 and "run `custseg train` first" in r.stderr and "Traceback" not in r.stderr
    r = run("score", kaggle_files["broken"], "-o", tmp_path/"x.csv", "--artifacts", out, "--verbose")
    assert r.returncode != 0 and "Traceback" in r.stderr  # --verbose shows the traceback


def test_drift_exit_status(model, kaggle_files):
    out = model
    r = run("drift", kaggle_files["fresh"], "--artifacts", out)
    assert r.returncode == 0, r.stdout + r.stderr  # a fresh synthetic draw: stable or at most watch, never drift
    assert r.stdout.startswith("1,500 customers compared with the training data: ") and "DRIFT" not in r.stdout.splitlines()[0]
    r = run("drift", kaggle_files["shifted"], "--artifacts", out)
    assert r.returncode == 3
    assert "drifted: " in r.stdout and "Income" in r.stdout and "NumWebVisitsMonth" in r.stdout


def test_ctrl_c_at_any_moment_is_one_line_and_status_130(tmp_path):
    """SIGINT at moments spread over a training run: one line and status 130, never a traceback; training that
    finished first exits 0. The moments count from the end of Python's own start-up (`site`, the editable-install
    finder), measured in this run as the slowest of three `custseg --version`: an interrupt before the package's code
    runs is the interpreter's, not the program's, and on a busy machine that start-up alone can take most of a second."""
    import signal, subprocess, time
    from conftest import custseg_exe
    def startup():
        started = time.perf_counter()
        subprocess.run([custseg_exe(), "--version"], capture_output=True, check=True)
        return time.perf_counter() - started
    ready = max(startup() for _ in range(3))
    outcomes = []
    for delay in (ready + d for d in (0.0, 0.15, 0.45, 0.85, 1.35, 2.35, 3.85)):
        proc = subprocess.Popen([custseg_exe(), "train", "--out", str(tmp_path/"m"), "--k", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        outcomes.append((delay, proc.returncode))
        assert "Traceback" not in err, (delay, err)
        if proc.returncode == 130: assert err.rstrip().splitlines()[-1] == "custseg: interrupted", err
        else: assert proc.returncode == 0, (delay, proc.returncode, err)
    assert sum(code == 130 for _, code in outcomes) >= 4, outcomes  # most moments land mid-run


def test_ctrl_c_lost_in_an_interpreter_callback_still_stops_the_command():
    """A Ctrl-C that lands in a callback the interpreter runs for itself (an import lock's, a weakref's: CI once sent one
    0.3 s into `custseg train`) cannot propagate there; Python would print "Exception ignored" and train on. Here a
    weakref callback raises it deterministically: still one line and status 130."""
    import subprocess, sys
    code = "\n".join([
        "import sys, time, weakref",
        "from custseg_nb import cli",
        "def lost(_): raise KeyboardInterrupt",
        "@cli.command('lost-interrupt', 'test only')",
        "def _lost(args):",
        "    class Thing: pass",
        "    thing = Thing(); ref = weakref.ref(thing, lost)",
        "    del thing  # the callback raises where nothing can catch it",
        "    time.sleep(10)",
        "    return 0",
        "sys.exit(cli.main(['lost-interrupt']))"])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=interruptible)
    assert (r.returncode, r.stderr) == (130, "custseg: interrupted\n"), r.stderr


TARGET_COLUMNS = ["ID", "segment", "segment_name", "response_probability", "probability_source", "recommendation", "expected_profit",
                  "cumulative_profit"]
MIGRATION_COLUMNS = ["ID", "segment_before", "segment_after", "moved", "changes"]


def read_rows(path):
    "A written CSV as (header, rows as dicts)."
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def file_ids(path) -> set:
    "The ID column of a customer file in the Kaggle format, as written."
    return {line.split("\t")[0] for line in path.read_text().splitlines()[1:] if line}


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    "The embedded sample without its Response column; the sample as it is (before) and a synthetic next period of it (after)."
    from custseg_nb.files import load_customers, write_customers
    from custseg_nb.synth import next_period
    folder = tmp_path_factory.mktemp("snapshots")
    sample = load_customers()
    return {"customers": write_customers(sample.drop(columns="Response"), folder/"customers.csv"),
            "before": write_customers(sample, folder/"before.csv"),
            "after": write_customers(next_period(sample, seed=1), folder/"after.csv")}


def expected_responders(stdout) -> tuple[float, float, float, int]:
    "Expected responders, the interval's ends and the customers contacted, from the summary's second line."
    import re
    m = re.search(r"^expected responders: ([\d,.]+) \(95% interval ([\d,.]+)–([\d,.]+)\) of ([\d,]+) contacted", stdout, re.M)
    assert m, stdout
    return (*(float(g.replace(",", "")) for g in m.groups()[:3]), int(m[4].replace(",", "")))


def test_targets_ranks_every_customer_likeliest_first(model, snapshots):
    out = model
    r = run("targets", snapshots["customers"], "--all", "--artifacts", out)  # the file has no Response column
    assert r.returncode == 0 and r.stderr == "", r.stderr
    written = snapshots["customers"].with_name("customers_targets.csv")  # default: beside the input
    header, rows = read_rows(written)
    assert header == TARGET_COLUMNS
    assert sorted(row["ID"] for row in rows) == sorted(file_ids(snapshots["customers"]))  # every customer once
    p = [float(row["response_probability"]) for row in rows]
    assert p == sorted(p, reverse=True) and 0 <= p[-1] and p[0] <= 1
    expected, low, high, contacted = expected_responders(r.stdout)
    assert contacted == len(rows) and low <= expected <= high and expected == pytest.approx(sum(p), abs=0.05)
    assert r.stdout.startswith(f"ranked {len(rows):,} customers (all segments)") and str(written) in r.stdout


def test_targets_of_one_segment_are_the_full_ranking_narrowed(model, snapshots, tmp_path):
    out = model
    run("targets", snapshots["customers"], "--all", "-o", tmp_path/"all.csv", "--artifacts", out)
    _, everyone = read_rows(tmp_path/"all.csv")
    r = run("targets", snapshots["customers"], "--segment", "1", "--top", "20", "-o", tmp_path/"seg1.csv", "--artifacts", out)
    assert r.returncode == 0, r.stderr
    header, chosen = read_rows(tmp_path/"seg1.csv")
    assert header == TARGET_COLUMNS and len(chosen) == 20 and {row["segment"] for row in chosen} == {"1"}
    drop = lambda rows: [{k: v for k, v in row.items() if k != "cumulative_profit"} for row in rows]  # cumulative: of its own list
    assert drop(chosen) == drop([row for row in everyone if row["segment"] == "1"][:20])  # same rows, same order, same numbers
    expected, low, high, contacted = expected_responders(r.stdout)
    assert contacted == 20 and expected == pytest.approx(sum(float(row["response_probability"]) for row in chosen), abs=0.05)
    assert low <= expected <= high <= 20


def test_targets_errors_are_one_line_with_exit_2(model, snapshots, tmp_path):
    out = model
    k = json.loads((out/"manifest.json").read_text())["k"]
    r = run("targets", snapshots["customers"], "--segment", "99", "-o", tmp_path/"x.csv", "--artifacts", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"custseg: error: segment 99 does not exist: this model has segments 0–{k - 1}"]
    r = run("targets", snapshots["customers"], "--top", "0", "-o", tmp_path/"x.csv", "--artifacts", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "argument --top: must be at least 1, got 0" in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def migration_matrix(stdout, names) -> list[list[int]]:
    "The counts of the printed migration matrix, row by row (the row shares in brackets dropped), checking each row's total."
    import re
    lines = stdout.splitlines()
    matrix = []
    for j, name in enumerate(names):
        [line] = [l for l in lines if l.startswith(f"{j} {name} ")]
        cells = [int(c.replace(",", "")) for c in re.findall(r"([\d,]+) \(\s*\d+%\)", line[len(f"{j} {name}"):])]
        assert len(cells) == len(names) and int(line.split()[-1].replace(",", "")) == sum(cells), line
        matrix.append(cells)
    return matrix


def test_migrate_counts_every_customer_in_both_snapshots_once(model, snapshots):
    out = model
    names = [s["name"] for s in json.loads((out/"manifest.json").read_text())["segments"]]
    r = run("migrate", snapshots["before"], snapshots["after"], "--artifacts", out)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    header, rows = read_rows(snapshots["after"].with_name("after_migration.csv"))  # default: beside AFTER
    before, after = file_ids(snapshots["before"]), file_ids(snapshots["after"])
    assert header == MIGRATION_COLUMNS
    assert sorted(row["ID"] for row in rows) == sorted(before & after)
    crosstab = [[sum(row["segment_before"] == str(b) and row["segment_after"] == str(a) for row in rows) for a in range(len(names))]
                for b in range(len(names))]
    assert migration_matrix(r.stdout, names) == crosstab
    moved = sum(row["moved"] == "1" for row in rows)
    assert moved == sum(row["segment_before"] != row["segment_after"] for row in rows) > 0  # a period later, some moved
    assert all(bool(row["changes"]) == (row["moved"] == "1") for row in rows)  # movers, and only movers, say why
    assert r.stdout.startswith(f"{len(rows):,} customers in both snapshots: {moved:,} moved segment ({moved/len(rows):.1%}); "
                               f"{len(before - after):,} gone (only before), {len(after - before):,} new (only after)")


def test_migrate_a_snapshot_onto_itself_moves_nobody(model, snapshots, tmp_path):
    out = model
    r = run("migrate", snapshots["before"], snapshots["before"], "-o", tmp_path/"same.csv", "--artifacts", out)
    assert r.returncode == 0, r.stderr
    _, rows = read_rows(tmp_path/"same.csv")
    assert len(rows) == len(file_ids(snapshots["before"])) and {row["moved"] for row in rows} == {"0"}
    assert r.stdout.startswith(f"{len(rows):,} customers in both snapshots: 0 moved segment (0.0%); 0 gone (only before), 0 new")


def test_migrate_errors_are_one_line_with_exit_2(model, snapshots, tmp_path):
    out = model
    r = run("migrate", snapshots["before"], tmp_path/"missing.csv", "-o", tmp_path/"m.csv", "--artifacts", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"custseg: error: file '{tmp_path/'missing.csv'}' does not exist"]
    r = run("migrate", snapshots["before"], snapshots["after"], "-o", tmp_path/"m.csv", "--artifacts", tmp_path/"nothing")
    assert r.returncode == 2 and "run `custseg train` first" in r.stderr and r.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
