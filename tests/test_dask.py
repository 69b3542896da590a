"""`custseg score --dask`: a folder of partitions scored by a local Dask cluster gives the in-memory answer; its errors are one line.

The console script starts its own cluster once (`--dask local`: the answer); the errors are checked in this process
(`run`) against a cluster started here and given by its address, as a user's scheduler would be: a worker process
reads the files, and its errors come back to the command. A model trained with a column map reads each partition in
the user's own layout with its map, as `custseg score` reads one file; `train_dask` with the map trains such a model
from a sample of them."""
import pytest
from conftest import custseg, one_error_line, run


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
    """A model trained on the shop's file with its map (`test_own_columns.train_shop`), and that file in two parts, comma- and
    semicolon-separated: (the model, the folder of parts, the shop's file, its map)."""
    import pandas as pd
    from test_own_columns import train_shop
    tmp = tmp_path_factory.mktemp("shop")
    model, data, cmap, _ = train_shop(tmp)
    folder, whole = tmp/"shop", pd.read_csv(data, dtype=str, keep_default_na=False)
    folder.mkdir()
    half = len(whole)//2
    whole.iloc[:half].to_csv(folder/"shop-0.csv", index=False)
    whole.iloc[half:].to_csv(folder/"shop-1.csv", sep=";", index=False)
    return model, folder, data, cmap


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
    model, folder, data, _ = shop
    r = run("score", folder, "-o", tmp_path/"scored", "--artifacts", model, "--dask", cluster.scheduler_address)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    one_at_a_time = []
    for f in sorted(folder.iterdir()):
        r = run("score", f, "-o", tmp_path/f"{f.stem}.parquet", "--artifacts", model)
        assert r.returncode == 0, r.stderr
        one_at_a_time.append(pd.read_parquet(tmp_path/f"{f.stem}.parquet"))
    scored = pd.read_parquet(tmp_path/"scored")
    pd.testing.assert_frame_equal(scored, pd.concat(one_at_a_time, ignore_index=True), check_exact=True)
    assert scored.ID.tolist() == pd.read_csv(data).customer_id.tolist()  # the shop's own IDs, in its order
    bad = tmp_path/"bad"
    shutil.copytree(folder, bad)
    pd.read_csv(bad/"shop-1.csv", sep=";", dtype=str).drop(columns="treats").to_csv(bad/"shop-1.csv", sep=";", index=False)
    r = run("score", bad, "-o", tmp_path/"x", "--artifacts", model, "--dask", cluster.scheduler_address)  # a worker reads it
    line = one_error_line(r)
    assert line.startswith("custseg: error: file 'shop-1.csv': ") and "names column 'treats', which the data does not have" in line, line
    assert not (tmp_path/"x").exists()


def test_train_dask_with_a_map_trains_a_model_of_the_map_that_score_dask_and_predict_agree_on(shop, tmp_path):
    """`train_dask(columns=MAP)` on the shop's parts (Dask's threaded scheduler) keeps the map, its words and features as
    `custseg train --columns` does; `score_dask` of the parts with it is `Segmenter.predict` of the whole file, row for row."""
    import json
    import shutil
    import pandas as pd
    from conftest import QUICK_SETTINGS
    from custseg_nb.scale import score_dask, train_dask
    from custseg_nb.schema import SchemaError
    from custseg_nb.scoring import SCORE_COLUMNS, Segmenter
    model, folder, data, cmap = shop
    m = train_dask(folder, tmp_path/"model", sample_rows=1_500, seed=5, columns=cmap, k=4, progress=False, **QUICK_SETTINGS)
    single = json.loads((model/"manifest.json").read_text())  # `custseg train --columns` on the whole file
    keys = ("columns", "words", "missing_roles", "features")
    assert ({k: m[k] for k in keys}, m["training_data"]["rows"]) == ({k: single[k] for k in keys}, 1_500)
    scored = score_dask(folder, tmp_path/"scored", artifacts=m.folder)
    expected = Segmenter.load(m.folder).predict(data)[list(SCORE_COLUMNS)]
    assert len(expected) == len(pd.read_csv(data)) == scored.rows
    pd.testing.assert_frame_equal(pd.read_parquet(scored.output), expected, check_exact=True)
    bad = tmp_path/"bad"
    shutil.copytree(folder, bad)
    pd.read_csv(bad/"shop-1.csv", sep=";", dtype=str).drop(columns="treats").to_csv(bad/"shop-1.csv", sep=";", index=False)
    with pytest.raises(SchemaError) as e:
        train_dask(bad, tmp_path/"x", columns=cmap, k=4, progress=False, **QUICK_SETTINGS)
    assert str(e.value).split("; its columns are")[0] == (
        f"file 'shop-1.csv': column map '{cmap}' names column 'treats', which the data does not have"), str(e.value)
    assert len(str(e.value).splitlines()) == 1 and not (tmp_path/"x").exists()
