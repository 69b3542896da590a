"""End-to-end: hostile customer files and unwritable outputs give exit 2 and one printable line, never a traceback or a partial file."""
import csv

import pytest
from conftest import QUICK, custseg, run

HUGE_ID = "92233720368547758070"  # beyond int64: kept as the text written, never -9223372036854775808
ROW = 50  # the customer each hostile file spoils; its file line is ROW + 2 (the header is line 1)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    "200 synthetic customers in the real Kaggle format (tab, CRLF, dd-mm-yyyy)."
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    return write_customers(synth_customers(200, seed=5), tmp_path_factory.mktemp("clean")/"customers.csv")


def cell(col, value):
    "Edit of a file's lines: set column `col` of customer ROW to `value` (text, written as is)."
    def edit(lines):
        j = lines[0].split("\t").index(col)
        cells = lines[ROW + 1].split("\t")
        cells[j] = value
        lines[ROW + 1] = "\t".join(cells)
    return edit


def rename(old, new):
    "Edit of a file's lines: rename a column in the header."
    def edit(lines): lines[0] = lines[0].replace(old, new)
    return edit


def hostile(clean, folder, edit):
    "A copy of the clean file with its text edited; returns the path and the spoilt customer's ID."
    lines = clean.read_bytes().decode().split("\r\n")
    customer_id = lines[ROW + 1].split("\t")[0]
    edit(lines)
    path = folder/"hostile.csv"
    path.write_bytes("\r\n".join(lines).encode())
    return path, customer_id


REFUSED = {  # case → (edit, what the one line must say; {line} and {id} name the spoilt customer)
    "duplicate column": (rename("Z_Revenue", "Income"), "column 'Income' appears 2 times"),
    "inf in a count": (cell("NumWebPurchases", "inf"), "column 'NumWebPurchases' has inf in line {line} (ID {id}); expected a finite number"),
    "date in year 9999": (cell("Dt_Customer", "01-01-9999"), "column 'Dt_Customer' has '01-01-9999' in line {line} (ID {id})"),
    "control character in a bad cell": (cell("Income", "\x1b[31m12\x00"), "column 'Income' has text '\\x1b[31m12\\x00' in line {line} (ID {id})"),
    "bare carriage return splitting a row": (cell("Income", "\x1b[31m12\r"), "Expected 29 columns, got 5: {id}\\t"),
}


def run_on(command, path, model, tmp_path):
    "Run one custseg command on a customer file (in this process)."
    if command == "score": return run("score", path, "-o", tmp_path/"scored.csv", "--artifacts", model)
    if command == "drift": return run("drift", path, "--artifacts", model)
    if command == "targets": return run("targets", path, "--all", "-o", tmp_path/"targets.csv", "--artifacts", model)
    return run("train", "--data", path, "--out", tmp_path/"m", "--k", "3", *QUICK)


def assert_one_line(r, contains):
    "Exit 2, exactly one printable stderr line containing `contains`, no traceback."
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n"), r.stderr
    assert r.stderr.rstrip("\n").isprintable(), repr(r.stderr)
    assert "Traceback" not in r.stderr
    assert contains in r.stderr, r.stderr


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("command", ["score", "drift", "targets", "train"])
def test_hostile_file_is_refused_in_one_line(command, case, clean, model, tmp_path):
    edit, expected = REFUSED[case]
    path, customer_id = hostile(clean, tmp_path, edit)
    r = run_on(command, path, model, tmp_path)
    assert_one_line(r, expected.format(line=ROW + 2, id=customer_id))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.csv"]  # no output, no temp file, no model folder


@pytest.mark.parametrize("command, output, ranked", [("score", "scored.csv", False), ("targets", "targets.csv", True)])
def test_an_id_beyond_int64_is_written_as_it_was(command, output, ranked, clean, model, tmp_path):
    path, _ = hostile(clean, tmp_path, cell("ID", HUGE_ID))
    r = run_on(command, path, model, tmp_path)
    assert r.returncode == 0, r.stderr
    with open(tmp_path/output, newline="") as f: ids = [row["ID"] for row in csv.DictReader(f)]
    written = [line.split("\t")[0] for line in clean.read_text().splitlines()[1:]]
    written[ROW] = HUGE_ID
    if ranked: ids, written = sorted(ids), sorted(written)  # targets are reordered by response probability
    assert ids == written  # every ID exactly as in the file: no wrap, no '.0'


@pytest.mark.parametrize("command", ["drift", "train"])
def test_an_id_beyond_int64_is_just_an_id(command, clean, model, tmp_path):
    path, _ = hostile(clean, tmp_path, cell("ID", HUGE_ID))
    r = run_on(command, path, model, tmp_path)
    assert r.returncode in (0, 3), r.stderr  # drift exits 3 when a feature drifted
    assert "Traceback" not in r.stderr


def test_migrate_names_the_spoilt_snapshot_and_line(clean, model, tmp_path):
    path, customer_id = hostile(clean, tmp_path, cell("Income", "lots"))
    r = run("migrate", clean, path, "-o", tmp_path/"migration.csv", "--artifacts", model)
    assert_one_line(r, f"file 'hostile.csv': column 'Income' has text 'lots' in line {ROW + 2} (ID {customer_id}); expected a number")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.csv"]


def test_migrate_of_snapshots_sharing_no_id_is_refused(clean, model, tmp_path):
    from custseg_nb.files import load_customers, write_customers
    df = load_customers(clean)
    others = write_customers(df.assign(ID=df.ID + 10**6), tmp_path/"others.csv")  # another company's customers
    r = run("migrate", clean, others, "-o", tmp_path/"migration.csv", "--artifacts", model)
    assert_one_line(r, "no customer ID is in both snapshots")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["others.csv"]


def test_migrate_matches_customers_when_one_snapshot_has_an_id_beyond_int64(clean, model, tmp_path):
    path, _ = hostile(clean, tmp_path, cell("ID", HUGE_ID))
    r = run("migrate", clean, path, "-o", tmp_path/"migration.csv", "--artifacts", model)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("199 customers in both snapshots: ") and "1 gone (only before), 1 new (only after)" in r.stdout


def test_score_into_a_folder_is_refused(clean, model, tmp_path):
    folder = tmp_path/"out"
    folder.mkdir()
    r = run("score", clean, "-o", folder, "--artifacts", model)
    assert_one_line(r, f"cannot write '{folder}': it is a folder")
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_score_below_a_file_is_refused(clean, model, tmp_path):
    a_file = tmp_path/"notes.txt"
    a_file.write_text("not a folder")
    r = run("score", clean, "-o", a_file/"scored.csv", "--artifacts", model)
    assert_one_line(r, f"'{a_file}' is a file, not a folder")
    assert a_file.read_text() == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
