"""`custseg targets` decides whom to contact: profit arithmetic, the default selection, out-of-fold probabilities, bad amounts."""
import re

import numpy as np
import pandas as pd
import pytest
from conftest import one_error_line, run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    "The sample without its answers (the model's training customers among them), one changed customer, and one new customer."
    from custseg_nb.files import load_customers, write_customers
    from custseg_nb.synth import synth_customers
    folder = tmp_path_factory.mktemp("targets")
    sample = load_customers().drop(columns="Response")
    changed = sample.copy()
    changed["Recency"] = changed.Recency + 1  # every row changed: no customer is the one the model learned from
    return {"sample": write_customers(sample, folder/"sample.csv"), "changed": write_customers(changed, folder/"changed.csv"),
            "one": write_customers(synth_customers(1, seed=5).drop(columns="Response"), folder/"one.csv"), "frame": sample}


def summary_numbers(stdout, label):
    "(contacts, expected responders, low, high, profit) of one comparison line."
    m = re.search(rf"^  {re.escape(label)}[^:]*: ([\d,]+) contacts?, ([\d.,]+) responders \(95% interval ([\d.,]+)–([\d.,]+)\)"
                  rf"(?:, cost [\d,]+, revenue [\d,]+ \([^)]*\), profit (-?[\d,]+))?", stdout, re.M)
    assert m, stdout
    num = lambda g: None if g is None else float(g.replace(",", ""))
    return int(m[1].replace(",", "")), num(m[2]), num(m[3]), num(m[4]), num(m[5])


def test_default_selection_is_positive_expected_profit(model, files, tmp_path):
    r = run("targets", files["sample"], "-o", tmp_path/"t.csv", "--artifacts", model, "--cost", "3", "--revenue", "11")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path/"t.csv")
    assert t.expected_profit.to_numpy() == pytest.approx(t.response_probability.to_numpy()*11 - 3)  # p × revenue − cost
    assert t.cumulative_profit.to_numpy() == pytest.approx(np.cumsum(t.expected_profit.to_numpy()))
    everyone = run("targets", files["sample"], "-o", tmp_path/"all.csv", "--artifacts", model, "--cost", "3", "--revenue", "11", "--all")
    full = pd.read_csv(tmp_path/"all.csv")
    assert len(full) == len(files["frame"]) and t.ID.tolist() == full.ID[full.response_probability > 3/11].tolist()
    n, e, lo, hi, profit = summary_numbers(r.stdout, "the model's selection")
    assert n == len(t) and e == pytest.approx(t.response_probability.sum(), abs=0.05) and lo <= e <= hi <= n
    assert profit == pytest.approx(t.expected_profit.sum(), abs=0.5)
    assert summary_numbers(r.stdout, "everyone")[0] == len(full) and "selected: customers whose expected profit is positive" in r.stdout
    assert summary_numbers(everyone.stdout, "the model's selection")[0] == len(full)


def test_top_budget_and_the_one_customer_interval(model, files, tmp_path):
    r = run("targets", files["sample"], "-o", tmp_path/"b.csv", "--artifacts", model, "--budget", "100", "--cost", "3", "--revenue", "11")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/"b.csv")) == 33  # 100 // 3
    r = run("targets", files["one"], "-o", tmp_path/"one.csv", "--artifacts", model, "--all")
    assert r.returncode == 0, r.stderr
    assert "(95% interval 0–1) of 1 contacted" in r.stdout  # 0 or 1 responder: nothing in between


def test_out_of_fold_probabilities_for_unchanged_training_customers_only(model, files, tmp_path):
    from custseg_nb.model import Manifest
    oof = Manifest.read(model).load("oof")
    run("targets", files["sample"], "-o", tmp_path/"same.csv", "--artifacts", model, "--all")
    same = pd.read_csv(tmp_path/"same.csv").set_index("ID")
    learned = same.loc[oof.ID]
    assert (learned.probability_source == "out-of-fold").all() and (same.drop(oof.ID).probability_source == "model").all()
    assert learned.response_probability.to_numpy() == pytest.approx(oof.response_probability.to_numpy(), abs=1e-12)
    r = run("targets", files["changed"], "-o", tmp_path/"changed.csv", "--artifacts", model, "--all")
    changed = pd.read_csv(tmp_path/"changed.csv")
    assert set(changed.probability_source) == {"model"} and "every probability is the model's" in r.stdout


def test_without_money_it_counts_responders_and_says_what_money_needs(model_copy, files, tmp_path):
    import json
    path = model_copy/"manifest.json"
    manifest = json.loads(path.read_text())
    manifest["economics"].update(cost_per_contact=None, revenue_per_response=None, source="none")
    path.write_text(json.dumps(manifest))
    frame = files["frame"].drop(columns=["Z_CostContact", "Z_Revenue"])
    from custseg_nb.files import write_customers
    r = run("targets", write_customers(frame, tmp_path/"plain.csv"), "-o", tmp_path/"p.csv", "--artifacts", model_copy)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/"p.csv")) == len(frame) and "money figures need --cost and --revenue" in r.stdout
    assert "profit" not in r.stdout.split("compared:")[1]


@pytest.mark.parametrize("args, says", [
    (["--revenue", "-3"], "the revenue per response (--revenue) must be a positive amount, got '-3'"),
    (["--revenue", "0"], "must be a positive amount, got '0'"),
    (["--cost", "-1"], "the cost per contact (--cost) must be a non-negative amount, got '-1'"),
    (["--cost", "abc"], "the cost per contact (--cost) must be a number, got 'abc'"),
    (["--budget", "2"], "a budget of 2.00 pays for no contact at 3.00 each"),
    (["--budget", "lots"], "the budget (--budget) must be a number, got 'lots'"),
])
def test_bad_amounts_are_one_line(model, files, tmp_path, args, says):
    r = run("targets", files["sample"], "-o", tmp_path/"x.csv", "--artifacts", model, *args)
    assert says in one_error_line(r)
    assert list(tmp_path.iterdir()) == []


def test_costs_varying_by_customer_ask_for_cost(model, files, tmp_path):
    from custseg_nb.files import write_customers
    frame = files["frame"].assign(Z_CostContact=np.arange(len(files["frame"])) % 3 + 1)
    path = write_customers(frame, tmp_path/"varying.csv")
    r = run("targets", path, "-o", tmp_path/"x.csv", "--artifacts", model)
    assert "column 'Z_CostContact' varies by customer (3 different values): give one amount with `custseg targets --cost AMOUNT`" in one_error_line(r)
    assert run("targets", path, "-o", tmp_path/"x.csv", "--artifacts", model, "--cost", "2").returncode == 0
