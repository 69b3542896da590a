"""Faults around a model folder, for real: `custseg train` killed at any moment, customers too alike to segment, a file given as the folder."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import QUICK, free_port, listing, one_error_line, run

from custseg_nb.schema import SAMPLE_PATH
from custseg_nb.model import ARTIFACT_PATTERN, MANIFEST_FILE, TEMP_PATTERN, Manifest
from custseg_nb.scoring import Segmenter

# K given (no sweep) and the fewest resamples the settings allow: these tests kill and race the save, not the statistics,
# so a training takes about a second
TRAIN = ("train", "--k", "3", *QUICK)




def leftovers(folder:Path) -> list[str]:
    "Temporary files and artifact files the manifest does not name: what a save in progress (or killed) leaves."
    named = {e["file"] for e in json.loads((folder/MANIFEST_FILE).read_text())["artifacts"].values()}
    return sorted(p.name for p in folder.iterdir()
                  if TEMP_PATTERN.fullmatch(p.name) or (ARTIFACT_PATTERN.fullmatch(p.name) and p.name not in named))


def start_train(zygote, out:Path, seed:int, data:Path):
    "`custseg train` in a process of its own (a fork of the zygote, which imported the package once), for killing."
    return zygote.start(*TRAIN, "--data", data, "--seed", seed, "--out", out)


def watch_save(proc, out:Path, before:set[str], poll:float=0.002) -> tuple[float|None, float|None, float]:
    "Poll the folder while `proc` runs: seconds from start until the first new file appears and until the manifest changes, and the total."
    started, manifest = time.perf_counter(), (out/MANIFEST_FILE).read_bytes()
    first_file = switched = None
    while proc.poll() is None:
        now = time.perf_counter() - started
        if first_file is None and set(os.listdir(out)) - before: first_file = now
        if switched is None:
            try:
                if (out/MANIFEST_FILE).read_bytes() != manifest: switched = now
            except FileNotFoundError: pass
        time.sleep(poll)
    return first_file, switched, time.perf_counter() - started


def kill_after(proc, out:Path, delay:float=0.0, trigger:str="start") -> None:
    "SIGKILL `proc` `delay` seconds after it started, after the save wrote its first file, or after the manifest was switched."
    started, files, manifest = time.perf_counter(), set(os.listdir(out)), (out/MANIFEST_FILE).read_bytes()
    def triggered() -> bool:
        if trigger == "start": return True
        if trigger == "save": return bool(set(os.listdir(out)) - files)
        try: return (out/MANIFEST_FILE).read_bytes() != manifest
        except FileNotFoundError: return False
    while proc.poll() is None and not triggered(): time.sleep(0.001)
    started = started if trigger == "start" else time.perf_counter()
    while proc.poll() is None and time.perf_counter() - started < delay: time.sleep(0.001)
    if proc.poll() is None: proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_training_leaves_the_old_or_the_new_model(tmp_path, zygote):
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    data = write_customers(synth_customers(600, seed=3), tmp_path/"customers.csv")  # small: each training takes about a second
    out = tmp_path/"model"
    assert start_train(zygote, out, 1, data).wait() == 0
    before = set(os.listdir(out))
    proc = start_train(zygote, out, 2, data)
    save_start, switched, total = watch_save(proc, out, before)
    assert proc.returncode == 0 and save_start is not None and switched is not None
    print(f"\nfull training {total:.2f} s; save phase from {save_start:.2f} s, manifest switched at {switched:.2f} s")
    # kills spread evenly over the whole run, then kills timed from the save's first file and from the manifest's switch
    n_spread = 3
    plan = [("start", 0.2 + i*(total - 0.2)/(n_spread - 1)) for i in range(n_spread)]
    plan += [("save", delay) for delay in (0, 0.01, 0.1)]
    plan += [("switch", 0)]  # right after the manifest's rename, during the cleanup
    phases = {"before save": 0, "in save": 0, "after save": 0}
    for seed, (trigger, delay) in enumerate(plan, start=100):
        old_manifest = (out/MANIFEST_FILE).read_bytes()
        proc = start_train(zygote, out, seed, data)
        kill_after(proc, out, delay, trigger)
        new_manifest = (out/MANIFEST_FILE).read_bytes()
        manifest = Manifest.read(out)
        manifest.verify()
        seg = Segmenter.load(out)
        assert seg.k == 3
        assert new_manifest == old_manifest or manifest["seed"] == seed  # the old model, or the complete new one
        stale = leftovers(out)
        phase = "in save" if stale else ("after save" if new_manifest != old_manifest else "before save")
        phases[phase] += 1
        print(f"kill {delay:.4f} s after {trigger}: {phase}"
              f" ({'new' if new_manifest != old_manifest else 'old'} model, {len(stale)} leftover files)")
    print(f"{len(plan)} kills: {phases}")
    assert len(plan) >= 7 and phases["in save"] >= 1
    assert start_train(zygote, out, 7, data).wait() == 0
    manifest = Manifest.read(out)
    assert sorted(os.listdir(out)) == sorted([MANIFEST_FILE, *(e["file"] for e in manifest["artifacts"].values())])
    Segmenter.load(out)




def test_identical_customers_fail_in_one_line(model_copy, tmp_path):
    trained = model_copy
    from custseg_nb.files import load_customers, write_customers
    import pandas as pd
    same = pd.concat([load_customers().head(1)]*50, ignore_index=True).assign(ID=range(50))
    data = write_customers(same, tmp_path/"same.csv")
    before = listing(trained)
    for k in ((), ("--k", "3")):
        r = run("train", "--data", data, *k, "--out", trained)
        assert "only 1 distinct customer after cleaning: nothing to segment" in one_error_line(r)
        assert listing(trained) == before


def test_a_file_is_not_a_model_folder(tmp_path):
    data = tmp_path/"customers.csv"
    data.write_text("not a model\n")
    r = run("train", "--k", "3", "--out", data)
    assert "is a file, not a model folder" in one_error_line(r)
    r = run("score", SAMPLE_PATH, "-o", tmp_path/"scored.csv", "--artifacts", data)
    assert "is a file, not a model folder" in one_error_line(r)
    r = run("app", "--port", free_port(), "--artifacts", data)
    assert "is a file, not a model folder" in one_error_line(r)
    assert data.read_text() == "not a model\n"


def test_a_hostile_manifest_is_refused_in_one_line(model, tmp_path):
    trained = model
    import shutil
    folder = tmp_path/"hostile"
    shutil.copytree(trained, folder)
    data = json.loads((folder/MANIFEST_FILE).read_text())
    data["artifacts"]["model"]["file"] = "/dev/zero"
    (folder/MANIFEST_FILE).write_text(json.dumps(data))
    r = run("score", SAMPLE_PATH, "-o", tmp_path/"scored.csv", "--artifacts", folder)
    assert "names file '/dev/zero' for artifact 'model'" in one_error_line(r)


def test_two_trainings_into_one_folder_at_once(tmp_path, zygote):
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    data = write_customers(synth_customers(600, seed=3), tmp_path/"customers.csv")  # small: the race is between the saves
    out = tmp_path/"model"
    procs = [zygote.start(*TRAIN, "--data", data, "--seed", seed, "--out", out) for seed in (1, 2)]  # two processes, one folder
    assert [proc.wait() for proc in procs] == [0, 0]
    manifest = Manifest.read(out)
    manifest.verify()
    assert manifest["seed"] in (1, 2)
    assert sorted(os.listdir(out)) == sorted([MANIFEST_FILE, *(e["file"] for e in manifest["artifacts"].values())])


def test_scoring_never_unpickles_a_swapped_pickle(model, tmp_path):
    "A pickle that runs code when loaded, swapped in with a manifest edited to match it: `custseg score` never loads it."
    import hashlib, pickle, shutil
    from custseg_nb.model import artifact_file
    folder = tmp_path/"swapped"
    shutil.copytree(model, folder)
    marker = tmp_path/"pickle-ran"
    class Evil:
        def __reduce__(self): return (Path.touch, (marker,))
    payload = pickle.dumps(Evil())
    sha = hashlib.sha256(payload).hexdigest()
    data = json.loads((folder/MANIFEST_FILE).read_text())
    (folder/data["artifacts"]["model"]["file"]).unlink()
    data["artifacts"]["model"] = {"file": artifact_file("model", sha), "sha256": sha, "bytes": len(payload)}
    (folder/data["artifacts"]["model"]["file"]).write_bytes(payload)
    (folder/MANIFEST_FILE).write_text(json.dumps(data))
    r = run("score", SAMPLE_PATH, "-o", tmp_path/"scored.csv", "--artifacts", folder)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()  # the swapped pickle was never loaded
    assert (tmp_path/"scored.csv").read_text().count("\n") == 2241  # and every customer was scored
    pickle.loads(payload); assert marker.exists()  # (the payload does run when unpickled: the test can fail)
