"""Benchmark custseg_nb where users wait: each ratio's two sides are measured in the same run; prints one markdown table.

Run alone (check `uptime` first):  python bench/run.py               (about 5 minutes on 2 cores)
                                   python bench/run.py --quick       (skips the million-customer rows; about 1.5 minutes)
                                   python bench/run.py --only drift  (some rows only: train, latency, startup, drift, report, orders, big)
The table of a whole run is also written to bench/results.md. Not part of the test suite: nothing here asserts a time.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIG = 1_000_000  # customers in the large file
SMALL = 40  # customers in the small file
DRIFT_BATCH = 12  # customers in the drift check's file: too few to judge, so it times what every check pays
ROWS = ("train", "latency", "startup", "drift", "report", "orders", "big")  # the groups of rows, for --only
STARTS = 7  # fresh processes per start-up measurement (median reported)
BIG_RUNS = 3  # fresh processes per million-customer scoring measurement
TRAIN_RUNS = 3  # trainings of the sample, quiet and beside a busy process each
REPORT_RUNS = 2  # reports and trainings of the sample file, alternating
ORDER_LINES = 1_000_000  # order lines aggregated by `custseg customers`
ORDER_RUNS = 3  # aggregations and bare reads, alternating (in one process, and in fresh processes)
LATENCY_CALLS = 5_000  # single-customer calls timed after a warm-up
BASELINE = "import pandas, pyarrow.csv"  # what any pandas + pyarrow tool pays to start
FLOOR = ("import sys, pyarrow.csv as c\n"  # the I/O floor: read the customer file, write a 6-column CSV (as scoring does), nothing else
         "t = c.read_csv(sys.argv[1], parse_options=c.ParseOptions(delimiter='\\t'))\n"
         "c.write_csv(t.select(t.column_names[:6]), sys.argv[2])")
PYCARET = {"import pycaret.clustering": "1.27 s", "predict_model, one row": "19 ms", "predict_model, 100,000 rows in memory": "395 ms",
           "peak RSS": "492 MB"}  # PyCaret 3.3.2, measured outside the project (issue 13); not installed here


def peak_rss_mb() -> float:
    "This process's peak resident set size in MB (Linux reports kilobytes)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024


# ---------------------------------------------------------------- children: one measurement per fresh process
def child_write(work:str, big:str) -> dict:
    "The input files (not timed): DRIFT_BATCH, SMALL and, unless --quick, BIG synthetic customers in the Kaggle format."
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    sizes = [DRIFT_BATCH, SMALL] + ([BIG] if big == "1" else [])
    return {n: str(write_customers(synth_customers(n, seed=1), Path(work)/f"customers_{n}.csv")) for n in sizes}


def child_orders(work:str) -> dict:
    "A million synthetic order lines (UCI Online Retail layout), and those lines three times over, each copy's stock codes marked (-1, -2) (not timed)."
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pacsv
    from custseg_nb.orders import synth_orders, write_orders
    path, triple = Path(work)/"orders_1m.csv", Path(work)/"orders_3x.csv"
    write_orders(synth_orders(ORDER_LINES, seed=0), path)
    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in ("InvoiceNo", "StockCode", "CustomerID", "InvoiceDate")}))
    copies = [t] + [t.set_column(1, "StockCode", pc.binary_join_element_wise(t["StockCode"], f"-{k}", "")) for k in (1, 2)]
    pacsv.write_csv(pa.concat_tables(copies), triple)  # the same customers and invoices, three times the lines (none repeats another)
    return {"path": str(path), "bytes": path.stat().st_size, "triple": str(triple), "triple_bytes": triple.stat().st_size}


def child_aggregate(path:str) -> dict:
    "In one process, after one warm-up of each: `customers_from_orders(path)` and a bare `pyarrow.csv.read_csv(path)`, alternating; medians."
    import pyarrow.csv as pacsv
    from custseg_nb.orders import customers_from_orders
    read, agg = (lambda: pacsv.read_csv(path)), (lambda: customers_from_orders(path))
    read(); customers = agg()
    times = {"read": [], "aggregate": []}
    for _ in range(ORDER_RUNS):
        for k, f in (("read", read), ("aggregate", agg)):
            t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()} | {"customers": len(customers), "lines": customers.attrs["orders"]["lines"]}


def child_memory(path:str, what:str) -> dict:
    "Peak RSS (MB) of this fresh process doing one thing to `path`: aggregating it, or a bare pyarrow read; and after its imports alone."
    import pyarrow.csv as pacsv
    from custseg_nb.orders import customers_from_orders
    base = peak_rss_mb()
    n = len(customers_from_orders(path)) if what == "aggregate" else pacsv.read_csv(path).num_rows
    return {"peak": peak_rss_mb(), "imports": base, "rows": n}


def child_latency(model:str) -> dict:
    "p50/p99 of one customer typed as text: ours (`score_customer`, `predict(dict)`) and a one-row scikit-learn Pipeline.predict."
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from custseg_nb.schema import DATE_FORMAT
    from custseg_nb.files import load_customers
    from custseg_nb.features import CLUSTER_FEATURES
    from custseg_nb.scoring import Segmenter
    seg = Segmenter.load(model)
    customers = load_customers()
    as_text = lambda row: {c: (v.strftime(DATE_FORMAT) if isinstance(v, pd.Timestamp) else "" if pd.isna(v) else str(v)) for c, v in row.items()}
    records = [as_text(customers.iloc[i]) for i in range(100)]
    # scikit-learn's way on the same clustering matrix: StandardScaler + KMeans, one predict call on a one-row DataFrame
    matrix = pd.DataFrame(seg.engineered(seg.columns(customers)))[list(CLUSTER_FEATURES)]
    pipe = make_pipeline(StandardScaler(), KMeans(seg.k, n_init=1, random_state=0)).fit(matrix)
    rows = [matrix.iloc[[i]] for i in range(100)]
    def p(f, xs, n) -> tuple[float, float]:
        for x in xs: f(x)  # warm-up
        times = []
        for i in range(n):
            t = time.perf_counter(); f(xs[i % len(xs)]); times.append(time.perf_counter() - t)
        return float(np.percentile(times, 50))*1000, float(np.percentile(times, 99))*1000
    ours, frame, sk = p(seg.score_customer, records, LATENCY_CALLS), p(seg.predict, records, LATENCY_CALLS//5), p(pipe.predict, rows, 1_000)
    return {"ours_p50": ours[0], "ours_p99": ours[1], "frame_p50": frame[0], "sklearn_p50": sk[0], "sklearn_p99": sk[1]}


def child_kmeans(path:str) -> dict:
    "One bare KMeans(4, n_init=1) fit on the scaled million × 9 clustering matrix; only the fit is timed."
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    from custseg_nb.files import load_customers
    from custseg_nb.features import CLUSTER_FEATURES
    from custseg_nb.pipeline import build_pipeline
    X = np.ascontiguousarray(StandardScaler().fit_transform(build_pipeline()[:-1].fit_transform(load_customers(path))[list(CLUSTER_FEATURES)]))
    t = time.perf_counter()
    KMeans(4, n_init=1, random_state=0).fit(X)
    return {"seconds": time.perf_counter() - t, "shape": list(X.shape)}


CHILDREN = {"write": child_write, "orders": child_orders, "aggregate": child_aggregate, "memory": child_memory, "latency": child_latency,
            "kmeans": child_kmeans}


def in_fresh_process(kind:str, *args) -> dict:
    "Run one measurement in a fresh Python process; returns its JSON result."
    r = subprocess.run([sys.executable, __file__, "--child", kind, *map(str, args)], capture_output=True, text=True)
    if r.returncode: sys.exit(f"bench: the {kind} measurement failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def timed(*args) -> float:
    "Wall seconds of a command run as a fresh process (its start-up and imports included)."
    t = time.perf_counter()
    r = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    if r.returncode: sys.exit(f"bench: {' '.join(map(str, args))} failed:\n{r.stderr}")
    return time.perf_counter() - t


def paired(n:int, a:list, b:list) -> tuple[float, float]:
    "Medians of `n` alternating runs of commands `a` and `b` (alternating, so both sides see the same machine)."
    ta, tb = [], []
    for _ in range(n): ta.append(timed(*a)); tb.append(timed(*b))
    return statistics.median(ta), statistics.median(tb)


# ---------------------------------------------------------------- formatting
def secs(s:float) -> str:
    "Seconds as a person reads them."
    if s >= 120: return f"{s/60:,.1f} min"
    if s >= 10: return f"{s:,.0f} s"
    return f"{s*1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    r = subprocess.run([sys.executable, "-c", "import numpy, pandas, pyarrow, sklearn; print(numpy.__version__, pandas.__version__, pyarrow.__version__, sklearn.__version__)"],
                       capture_output=True, text=True)
    np_v, pd_v, pa_v, sk_v = r.stdout.split()
    return (f"{os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30:.0f} GB RAM; Python "
            f"{platform.python_version()}, numpy {np_v}, pandas {pd_v}, pyarrow {pa_v}, scikit-learn {sk_v}")


# ---------------------------------------------------------------- the run
def main(quick:bool, only:tuple=ROWS):
    # This process stays small (the standard library only): files are written and in-process measurements made in fresh children.
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="custseg_bench_"))
    exe = shutil.which("custseg", path=str(Path(sys.executable).parent)) or "custseg"
    py = sys.executable
    rows = []  # (measure, ours, theirs, ratio, aim)
    def row(measure, ours, theirs, ratio, aim, met=None):
        rows.append((measure, ours, theirs, f"{ratio:.1f}×", aim if met is None else f"{aim}: {'met' if met else '**missed**'}"))
    try:
        print(f"bench: writing synthetic customers to {work} (not timed) …", file=sys.stderr)
        files = {int(n): Path(f) for n, f in in_fresh_process("write", work, "0" if quick or "big" not in only else "1").items()}

        model = work/"model"
        if "train" in only:
            print("bench: custseg train on the embedded sample, quiet and beside a busy process …", file=sys.stderr)
            quiet, busy = [], []
            for i in range(TRAIN_RUNS):
                quiet.append(timed(exe, "train", "--out", model))
                spinner = subprocess.Popen([py, "-c", "while True: pass"])
                try: busy.append(timed(exe, "train", "--out", work/"model_busy"))
                finally: spinner.terminate(); spinner.wait()
            q, b = statistics.median(quiet), statistics.median(busy)
            row("`custseg train`, embedded sample (2,240), beside one spinning process vs quiet", secs(b), secs(q), b/q, "≤ 1.5×", b/q <= 1.5)
        else:
            print("bench: custseg train on the embedded sample (not timed) …", file=sys.stderr)
            timed(exe, "train", "--out", model)

        lat = None
        if "latency" in only:
            print("bench: one customer …", file=sys.stderr)
            lat = in_fresh_process("latency", model)
            r = lat["sklearn_p50"]/lat["ours_p50"]
            row("one customer typed as text: `Segmenter.score_customer(dict)` p50 (p99) vs one-row scikit-learn "
                "`Pipeline(StandardScaler, KMeans).predict` p50 (p99)", f"{lat['ours_p50']:.3f} ms ({lat['ours_p99']:.3f})",
                f"{lat['sklearn_p50']:.2f} ms ({lat['sklearn_p99']:.2f})", r, "≥ 20× faster", r >= 20)

        if "startup" in only:
            print("bench: start-up …", file=sys.stderr)
            base, score40 = paired(STARTS, [py, "-c", BASELINE], [exe, "score", files[SMALL], "-o", work/"scored_40.csv", "--artifacts", model])
            row(f"`custseg score` of {SMALL} customers (fresh process) vs `python -c \"{BASELINE}\"`", secs(score40), secs(base), score40/base, "≤ 2×", score40/base <= 2)
            base2, helped = paired(STARTS, [py, "-c", BASELINE], [exe, "--help"])
            row(f"`custseg --help` (fresh process) vs `python -c \"{BASELINE}\"`", secs(helped), secs(base2), helped/base2, "≤ 1×", helped/base2 <= 1)

        if "drift" in only:
            print(f"bench: drift check of {DRIFT_BATCH} customers …", file=sys.stderr)
            scored, drifted = paired(STARTS, [exe, "score", files[DRIFT_BATCH], "-o", work/"scored_drift.csv", "--artifacts", model],
                                     [exe, "drift", files[DRIFT_BATCH], "--artifacts", model])
            row(f"`custseg drift` of {DRIFT_BATCH} customers (fresh process; noise limits read from the model, none simulated) "
                f"vs `custseg score` of the same file (fresh process)", secs(drifted), secs(scored), drifted/scored, "≤ 1.5×", drifted/scored <= 1.5)

        if "report" in only:
            from_file = work/"sample.csv"  # the embedded sample as a user would give it: a file of their own
            shutil.copyfile(subprocess.run([py, "-c", "from custseg_nb.schema import SAMPLE_PATH; print(SAMPLE_PATH)"], capture_output=True,
                                           text=True, check=True).stdout.strip(), from_file)
            print("bench: custseg report --data vs custseg train --data on the same file …", file=sys.stderr)
            trained, reported = paired(REPORT_RUNS, [exe, "train", "--data", from_file, "--out", work/"model_report"],
                                       [exe, "report", "--data", from_file, "--out", work/"report.html"])
            row("`custseg report --data` of the embedded sample's file (2,240 customers; trains once, then renders) vs `custseg train "
                "--data` of the same file (fresh processes)", secs(reported), secs(trained), reported/trained, "≤ 3×", reported/trained <= 3)

        if "orders" in only:
            print(f"bench: writing {ORDER_LINES:,} order lines and three times as many (not timed), then aggregating vs reading …", file=sys.stderr)
            orders = in_fresh_process("orders", work)
            agg = in_fresh_process("aggregate", orders["path"])
            row(f"`customers_from_orders` of {ORDER_LINES:,} order lines ({orders['bytes']/1e6:.0f} MB CSV, UCI layout; read a block at a time, "
                f"{agg['customers']:,} customers) vs a bare `pyarrow.csv.read_csv` of the same file, in one process (warm, alternating, median of {ORDER_RUNS})",
                secs(agg["aggregate"]), secs(agg["read"]), agg["aggregate"]/agg["read"], "≤ 3×", agg["aggregate"]/agg["read"] <= 3)
            floor, aggregated = paired(ORDER_RUNS, [py, "-c", "import sys, pyarrow.csv as c; c.read_csv(sys.argv[1])", orders["path"]],
                                       [exe, "customers", orders["path"], "-o", work/"customers_from_orders.parquet"])
            row(f"`custseg customers` of the same {ORDER_LINES:,} lines (fresh process: start-up and imports, read, aggregate, write one row per "
                f"customer) vs a bare pyarrow read of the file (fresh process)", secs(aggregated), secs(floor), aggregated/floor, "context")
            one, three = in_fresh_process("memory", orders["path"], "aggregate"), in_fresh_process("memory", orders["triple"], "aggregate")
            read1, read3 = in_fresh_process("memory", orders["path"], "read"), in_fresh_process("memory", orders["triple"], "read")
            row(f"peak memory of `customers_from_orders` (fresh process, {one['imports']:.0f} MB after imports): the same {agg['customers']:,} customers "
                f"and invoices with three times the lines ({3*agg['lines']:,} lines, {orders['triple_bytes']/1e6:.0f} MB) vs the file ({agg['lines']:,} lines); "
                f"a bare pyarrow read of the same two files: {read3['peak']:,.0f} MB vs {read1['peak']:,.0f} MB ({read3['peak']/read1['peak']:.1f}×)",
                f"{three['peak']:,.0f} MB", f"{one['peak']:,.0f} MB", three["peak"]/one["peak"], "≤ 1.5× (bounded: 3× the lines)",
                three["peak"]/one["peak"] <= 1.5)

        if not quick and "big" in only:
            print(f"bench: scoring {BIG:,} customers …", file=sys.stderr)
            floor, big = paired(BIG_RUNS, [py, "-c", FLOOR, files[BIG], work/"floor.csv"],
                                [exe, "score", files[BIG], "-o", work/"scored_big.csv", "--artifacts", model])
            row(f"`custseg score` of {BIG:,} customers (fresh process) vs pyarrow read + 6-column CSV write of the same file (fresh process)",
                secs(big), secs(floor), big/floor, "≤ 1.5×", big/floor <= 1.5)
            print(f"bench: targets of {BIG:,} customers …", file=sys.stderr)
            scored, targeted = paired(BIG_RUNS, [exe, "score", files[BIG], "-o", work/"scored_big.csv", "--artifacts", model],
                                      [exe, "targets", files[BIG], "-o", work/"targets_big.csv", "--artifacts", model])
            row(f"`custseg targets` of {BIG:,} customers (segments, response probabilities, a sort of all of them; fresh process) "
                f"vs `custseg score` of the same file (fresh process)", secs(targeted), secs(scored), targeted/scored, "≤ 3×", targeted/scored <= 3)
            print(f"bench: training on {BIG:,} customers …", file=sys.stderr)
            train_big = timed(exe, "train", "--data", files[BIG], "--out", work/"model_big")
            km = in_fresh_process("kmeans", files[BIG])
            row(f"`custseg train` of {BIG:,} customers (fresh process) vs one bare `KMeans(4, n_init=1)` fit on the {km['shape'][0]:,}×{km['shape'][1]} matrix",
                secs(train_big), secs(km["seconds"]), train_big/km["seconds"], "≤ 12×", train_big/km["seconds"] <= 12)

        header = ("measure", "custseg_nb", "the other side", "ratio (ours ÷ other, or other ÷ ours for one customer)", "aim")
        table = [f"| {' | '.join(header)} |", f"|{'|'.join(['---'] * len(header))}|"] + [f"| {' | '.join(r)} |" for r in rows]
        pycaret = "; ".join(f"{k} {v}" for k, v in PYCARET.items())
        notes = [
            f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `python bench/run.py{' --quick' if quick else ''}{'' if tuple(only) == ROWS else ' --only ' + ' '.join(only)}` in one run on {machine()}; "
            f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
            f"Both sides of each ratio are measured in this run: fresh processes alternate between the two commands, and the "
            f"median is reported ({STARTS} each for start-up and the drift check, {BIG_RUNS} for the million-customer file, {TRAIN_RUNS} trainings each quiet and busy); "
            f"one customer is the p50 of {LATENCY_CALLS:,} calls after a warm-up, the scikit-learn side of 1,000 calls, in one process"
            + (f". `Segmenter.predict(dict)`, which adds the one-row DataFrame, has p50 {lat['frame_p50']:.3f} ms." if lat else "."),
            "Synthetic customers (`synth_customers(n, seed=1)`) in the Kaggle format (tab, CRLF, dd-mm-yyyy); writing them is not timed. "
            "The model scored with is the one trained on the embedded sample.",
            f"Context, not measured here: PyCaret 3.3.2 (measured outside the project, issue 13): {pycaret}.",
        ]
        text = "\n".join(table + [""] + notes) + "\n"
        print(text)
        if tuple(only) == ROWS: (HERE/"results.md").write_text("# Benchmark: where users wait\n\n" + text)
        else: print(f"bench: only {', '.join(only)}: bench/results.md left as it was", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the million-customer measurements")
    parser.add_argument("--only", nargs="+", choices=ROWS, metavar="ROWS", help=f"measure only these rows: {', '.join(ROWS)}")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(CHILDREN[kind](*rest)))
    else:
        main(args.quick, tuple(r for r in ROWS if r in (args.only or ROWS)))
