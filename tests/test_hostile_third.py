"""Hostile input, third pass (issue 23): one test per class of failure, each through the command line (`cli.main`).

Degenerate training files, long lines, Parquet column types, IDs kept exactly, re-signed model folders with bad
numbers, huge numbers in messages, and duplicate customers (issue 20 item 6). Files are small (300 customers) and
made in `tmp_path`, so the whole module runs in seconds."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from conftest import one_error_line, run
from custseg_nb.model import MANIFEST_FILE, artifact_file
from custseg_nb.schema import SAMPLE_PATH

FEW = 300  # customers in the files made here: enough for every command, few enough to be quick


@pytest.fixture(scope="module")
def text_sample():
    "The embedded sample's first customers with every cell as the text the file holds."
    return pd.read_csv(SAMPLE_PATH, sep="\t", dtype=str, keep_default_na=False).head(FEW)


def write(df, path):
    "Write a table as the sample's tab-separated text (or Parquet by suffix); its path."
    if path.suffix == ".parquet": df.to_parquet(path)
    else: df.to_csv(path, sep="\t", index=False)
    return path


def every_command(path, model, tmp_path):
    "`custseg score/targets/drift/train` on one file: command → the run."
    return {"score": run("score", path, "-o", tmp_path/"scored.csv", "--artifacts", model),
            "targets": run("targets", path, "-o", tmp_path/"targets.csv", "--artifacts", model),
            "drift": run("drift", path, "--artifacts", model),
            "train": run("train", "--data", path, "--out", tmp_path/"trained")}


def test_degenerate_training_files_say_what_training_needs(text_sample, tmp_path):
    "Blank or implausible columns, too few customers, too few distinct ones: one line, exit 2, what training needs."
    identical = pd.concat([text_sample.head(1)]*200, ignore_index=True).assign(ID=[str(i) for i in range(200)])
    cases = {"income_blank": (text_sample.assign(Income=""), "column 'Income' is blank for all"),
             "births_implausible": (text_sample.assign(Year_Birth="1900"), "column 'Year_Birth' is before 1920 for all"),
             "one_row": (text_sample.head(1), "to train on after holding out 20%; training needs at least 20"),
             "three_rows": (text_sample.head(3), "to train on after holding out 20%; training needs at least 20"),
             "twenty_rows": (text_sample.head(20), "to train on after holding out 20%; training needs at least 20"),
             "identical": (identical, "only 1 distinct customer after cleaning: nothing to segment")}
    seen = {name: one_error_line(run("train", "--data", write(df, tmp_path/f"{name}.tsv"), "--out", tmp_path/name))
            for name, (df, _) in cases.items()}
    assert {n: line for n, line in seen.items() if cases[n][1] not in line} == {}
    assert "training needs some known incomes" in seen["income_blank"]


def test_long_lines_get_one_answer_in_every_command(text_sample, model, tmp_path):
    "A cell longer than pyarrow's 1 MB block and a 200 KB column name are read by every command; a first line over 1 MB is refused by all alike."
    long = text_sample.assign(Income="", Notes="")  # Income blank: train reads the whole file, then stops at once with its own message
    long.loc[250, "Notes"] = "x"*3_000_000  # the 10 MB cell, smaller: any line beyond a block failed (02_files reads 10 MB)
    long.insert(5, "y"*200_000, "1")
    runs = every_command(write(long, tmp_path/"long.tsv"), model, tmp_path)
    assert {c: r.returncode for c, r in runs.items()} == {"score": 0, "targets": 0, "drift": runs["drift"].returncode, "train": 2}
    assert runs["drift"].returncode in (0, 3) and "Traceback" not in runs["drift"].stderr
    assert "column 'Income' is blank for all" in one_error_line(runs["train"])  # read whole, no "straddling object"
    assert (tmp_path/"scored.csv").read_text().count("\n") == FEW + 1
    (tmp_path/"one_line.tsv").write_bytes(b"a\t"*600_000)  # 1.2 MB, no newline
    lines = {c: one_error_line(r) for c, r in every_command(tmp_path/"one_line.tsv", model, tmp_path).items()}
    assert set(lines.values()) == {f"custseg: error: file '{tmp_path/'one_line.tsv'}' starts with a line longer than 1 MB: "
                                   f"expected a header line of column names, then one line per customer"}, lines


def test_parquet_types_are_checked_like_text(text_sample, model, tmp_path):
    "True/false or a timestamp in a number column of a Parquet file: refused naming the column, as the same values in a TSV."
    typed = pd.read_csv(SAMPLE_PATH, sep="\t").head(FEW)
    for column, values in {"MntWines": typed.MntWines > 100}.items():  # timestamps: in 02_files
        changed = typed.assign(**{column: values})
        pq_lines = {c: one_error_line(r) for c, r in every_command(write(changed, tmp_path/"t.parquet"), model, tmp_path).items()}
        tsv_lines = {c: one_error_line(r) for c, r in every_command(write(changed, tmp_path/"t.tsv"), model, tmp_path).items()}
        what = lambda line: line.split(" in ")[0] + " …" + line.split(";")[-1]  # the file and the error, not the position
        shown = str(changed[column][0])
        assert {what(l) for l in pq_lines.values()} == {f"custseg: error: file 't.parquet': column '{column}' has text '{shown}' … expected a number"}
        assert {what(l) for l in tsv_lines.values()} == {f"custseg: error: file 't.tsv': column '{column}' has text '{shown}' … expected a number"}


def test_ids_are_kept_exactly_in_every_output(text_sample, model, tmp_path):
    "Zero-padded IDs keep their zeros in score, targets and migrate; integer Parquet IDs stay as written."
    padded = text_sample.copy()
    padded["ID"] = ["000" + i for i in padded.ID]
    before = write(padded, tmp_path/"before.tsv")
    after = write(padded.assign(Recency="99"), tmp_path/"after.tsv")
    assert run("score", before, "-o", tmp_path/"s.csv", "--artifacts", model).returncode == 0
    assert run("targets", before, "-o", tmp_path/"t.csv", "--artifacts", model).returncode == 0
    assert run("migrate", before, after, "-o", tmp_path/"m.csv", "--artifacts", model).returncode == 0
    read = lambda name: pd.read_csv(tmp_path/name, dtype=str).ID.tolist()
    assert read("s.csv") == padded.ID.tolist()
    assert sorted(read("m.csv")) == sorted(padded.ID)  # both snapshots matched by the exact text
    targets = read("t.csv")
    assert targets and set(targets) - set(padded.ID) == set()  # the listed customers (a default list may be shorter), zeros kept
    write(pd.read_csv(SAMPLE_PATH, sep="\t").head(FEW), tmp_path/"ints.parquet")
    assert run("score", tmp_path/"ints.parquet", "-o", tmp_path/"p.csv", "--artifacts", model).returncode == 0
    assert read("p.csv") == text_sample.ID.tolist()  # 5524 stays 5524


def resign(folder, name, edit):
    "Change artifact `name` (JSON) of a model folder by `edit` and record its new sha256 in the manifest, as an attacker would."
    manifest = json.loads((folder/MANIFEST_FILE).read_text())
    entry = manifest["artifacts"][name]
    data = json.loads((folder/entry["file"]).read_text())
    edit(data)
    payload = json.dumps(data).encode()
    sha = hashlib.sha256(payload).hexdigest()
    (folder/entry["file"]).unlink()
    manifest["artifacts"][name] = {"file": artifact_file(name, sha), "sha256": sha, "bytes": len(payload)}
    (folder/manifest["artifacts"][name]["file"]).write_bytes(payload)
    (folder/MANIFEST_FILE).write_text(json.dumps(manifest))


@pytest.mark.parametrize("what, edit, words", [
    ("a centroid column missing", lambda s: [c.pop() for c in s["centroids"]], "has centroids of shape"),
    ("a NaN in a centroid", lambda s: s["centroids"][0].__setitem__(0, float("nan")), "has a number in centroids that is not finite")])
def test_resigned_model_with_bad_numbers_is_refused(model_copy, tmp_path, what, edit, words):
    "Re-signed scoring numbers (hash recomputed, so the check passes): one line, exit 2, 'retrain', before any customer is scored."
    resign(model_copy, "scoring", edit)
    line = one_error_line(run("score", SAMPLE_PATH, "-o", tmp_path/"s.csv", "--artifacts", model_copy))
    assert words in line and "retrain with `custseg train`" in line, line
    assert not (tmp_path/"s.csv").exists()


def test_huge_numbers_are_quoted_compactly(text_sample, model, tmp_path):
    "Income 1e300 (written out in full, 301 digits): the message quotes 1e+300 and stays short, in every command."
    huge = text_sample.copy()
    huge.loc[7, "Income"] = "1" + "0"*300
    lines = {c: one_error_line(r) for c, r in every_command(write(huge, tmp_path/"huge.tsv"), model, tmp_path).items()}
    assert {c: l for c, l in lines.items() if "column 'Income' has 1e+300 in line 9" not in l or len(l) > 200} == {}


def test_duplicates_are_counted_and_dropped_on_request(text_sample, tmp_path):
    "Customers identical but for their ID: `--drop-duplicates` drops them before training (here leaving one customer), and says so."
    identical = write(pd.concat([text_sample.head(1)]*200, ignore_index=True).assign(ID=[str(i) for i in range(200)]), tmp_path/"same.tsv")
    kept, dropped = (run("train", "--data", identical, "--out", tmp_path/"m", *flag) for flag in ((), ("--drop-duplicates",)))
    assert "only 1 distinct customer after cleaning" in one_error_line(kept)
    assert "199 customers are identical to another in every column but ID: kept" in kept.stderr
    assert "199 customers are identical to another in every column but ID: dropped" in dropped.stderr
    assert "to train on after holding out 20%; training needs at least 20" in one_error_line(dropped)
