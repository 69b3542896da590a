"""`custseg score --dask`: a folder of partitions scored by a local Dask cluster gives the in-memory answer; its errors are one line.

The console script starts its own cluster once (`--dask local`: the answer); the errors are checked in this process
(`run`) against a cluster started here and given by its address, as a user's scheduler would be: a worker process
reads the files, and its errors come back to the command. A model trained with a column map reads each partition in
the user's own layout with its map, as `custseg score` reads one file."""
import pytest
from conftest import QUICK, custseg, one_error_line, run


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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    "A running `LocalCluster` (`scale.local_cluster`, as `--dask local` makes, with one worker process), for `--dask ADDRESS`."
    from custseg_nb.scale import local_cluster
    with local_cluster(workers=1, scratch=tmp_path_factory.mktemp("dask-scratch")) as c: yield c


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    "A model trained with the shop's column map (`test_own_columns`), and a folder of two files in the shop's layout, comma- and semicolon-separated."
    import pandas as pd
    from custseg_nb.files import load_customers
    from test_own_columns import SHOP_MAP, shop_file
    tmp = tmp_path_factory.mktemp("shop")
    folder, sample = tmp/"shop", load_customers()
    folder.mkdir()
    half = len(sample)//2
    shop_file(folder/"shop-0.csv", sample.iloc[:half])
    pd.read_csv(shop_file(tmp/"commas.csv", sample.iloc[half:]), dtype=str, keep_default_na=False).to_csv(folder/"shop-1.csv", sep=";", index=False)
    (tmp/"shop.toml").write_text(SHOP_MAP)
    r = run("train", "--data", folder/"shop-0.csv", "--columns", tmp/"shop.toml", "--k", "4", "--out", tmp/"model", *QUICK)
    assert r.returncode == 0, r.stderr
    return tmp/"model", folder, sample


def test_score_with_dask_local_gives_the_in_memory_answer(model, partitions):
    import pandas as pd
    from custseg_nb.scoring import Segmenter
    out = model
    folder, whole = partitions
    r = custseg("score", folder/"day-*.csv", "--artifacts", out, "--dask", "local")  # a glob; output beside the folder
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr  # Dask's own logging stays quiet without --verbose
    assert r.stdout.startswith("scored 3,000 customers") and str(folder.with_name("customers_scored")) in r.stdout
    scored = folder.with_name("customers_scored")
    assert sorted(p.name for p in scored.iterdir()) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    expected = Segmenter.load(out).predict(whole)[["ID", "segment", "segment_name", "confidence", "runner_up", "outlier"]]
    pd.testing.assert_frame_equal(pd.read_parquet(scored), expected, check_exact=True)


def test_score_with_dask_errors_are_one_line_with_exit_2(model, partitions, cluster, tmp_path):
    import shutil
    import dask
    out = model
    folder, whole = partitions
    bad = tmp_path/"bad"
    shutil.copytree(folder, bad)
    lines = (bad/"day-1.csv").read_bytes().split(b"\r\n")
    cells = lines[8].split(b"\t")
    cells[4] = b"lots"  # Income of the file's 8th customer (line 9)
    lines[8] = b"\t".join(cells)
    (bad/"day-1.csv").write_bytes(b"\r\n".join(lines))
    r = run("score", bad, "-o", tmp_path/"scored", "--artifacts", out, "--dask", cluster.scheduler_address)  # a worker reads it
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"custseg: error: file 'day-1.csv': column 'Income' has text 'lots' in line 9 (ID {whole.ID[1000 + 7]}); expected a number"]
    assert not (tmp_path/"scored").exists()
    (tmp_path/"empty").mkdir()
    r = run("score", tmp_path/"empty", "--artifacts", out, "--dask", "local")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"custseg: error: no customer files (.csv, .tsv, .txt, .parquet, .pq) found in '{tmp_path/'empty'}'"]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # nothing listens there: give up after 2 s, not 30
        r = run("score", folder, "-o", tmp_path/"x", "--artifacts", out, "--dask", "tcp://127.0.0.1:9")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("custseg: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    r = run("score", folder, "--artifacts", tmp_path/"nothing", "--dask", "local")
    assert r.returncode == 2 and "run `custseg train` first" in r.stderr and "Traceback" not in r.stderr


def test_score_with_dask_reads_a_mapped_models_files_as_score_does_one_at_a_time(shop, cluster, tmp_path):
    import shutil
    import pandas as pd
    model, folder, sample = shop
    r = run("score", folder, "-o", tmp_path/"scored", "--artifacts", model, "--dask", cluster.scheduler_address)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    one_at_a_time = []
    for f in sorted(folder.iterdir()):
        r = run("score", f, "-o", tmp_path/f"{f.stem}.parquet", "--artifacts", model)
        assert r.returncode == 0, r.stderr
        one_at_a_time.append(pd.read_parquet(tmp_path/f"{f.stem}.parquet"))
    scored = pd.read_parquet(tmp_path/"scored")
    pd.testing.assert_frame_equal(scored, pd.concat(one_at_a_time, ignore_index=True), check_exact=True)
    assert scored.ID.tolist() == sample.ID.tolist()  # the shop's customer_id, in its order
    bad = tmp_path/"bad"
    shutil.copytree(folder, bad)
    pd.read_csv(bad/"shop-1.csv", sep=";", dtype=str).drop(columns="treats").to_csv(bad/"shop-1.csv", sep=";", index=False)
    r = run("score", bad, "-o", tmp_path/"x", "--artifacts", model, "--dask", cluster.scheduler_address)  # a worker reads it
    line = one_error_line(r)
    assert line.startswith("custseg: error: file 'shop-1.csv': ") and "names column 'treats', which the data does not have" in line, line
    assert not (tmp_path/"x").exists()
