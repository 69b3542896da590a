"""End to end: the names and actions a trained model saves are true of their members and of their own evidence (issue 20, 3-5).

`08_segments` checks the rules function by function; here `train` makes the manifest the CLI, the page and the report
read, on the sample model and on two small synthetic draws, and every segment's card is checked against numbers
recomputed from the customers the segments were fitted on."""
import re

import numpy as np
import pandas as pd
import pytest

from custseg_nb.cleaning import split_customers
from custseg_nb.files import load_customers
from custseg_nb.model import Manifest
from custseg_nb.render import profile_table, trained_on
from custseg_nb.segments import MIN_JOINT, claim_rules, contradictions, name_phrases, rule_holds
from custseg_nb.synth import synth_customers
from custseg_nb.training import train

FAST = dict(n_boot=2, null_draws=1, calibration_draws=5, response_folds=2, progress=False)  # the names, not K, are on trial


def segmented(manifest:Manifest, data) -> tuple[pd.DataFrame, np.ndarray]:
    "The customers the saved segments were fitted on (engineered) and their segments, recomputed from the saved model."
    raw = load_customers(data)
    customers = pd.concat(split_customers(raw, manifest["train_config"]["test_size"], manifest["seed"]), ignore_index=True)
    pipe = manifest.load("preprocessor")
    engineered = pipe[:-1].transform(customers)
    return engineered, manifest.load("model").predict(pipe[-1].transform(engineered))


def offenders(manifest:Manifest, data) -> list:
    "Every segment's name phrase, whole name, tier word and action that breaks a rule, with the measured number."
    engineered, labels = segmented(manifest, data)
    rules = {r["phrase"]: r for r in claim_rules(engineered)}
    thirds = np.quantile(engineered.Total_Spending, [1/3, 2/3])
    tier_of = lambda x: "Budget" if x < thirds[0] else "Affluent" if x >= thirds[1] else "Mainstream"
    bar = manifest["train_config"]["phrase_members"]  # the model's own bar (the names' and the offers')
    bad = []
    for s in manifest["segments"]:
        members = engineered[labels == s["id"]]
        holds = {p: rule_holds(rules[p], members[rules[p]["feature"]]) for p in name_phrases(s["name"])}
        bad += [(s["name"], p, round(h.mean(), 3)) for p, h in holds.items() if h.mean() < bar]
        joint = np.logical_and.reduce(list(holds.values())).mean() if holds else 1.0
        if joint < MIN_JOINT: bad.append((s["name"], "whole name", round(joint, 3)))
        if len(holds) > 1 and not (s["name_claims"] and s["name_claims"][-1]["phrase"] == "the whole name"
                                   and abs(s["name_claims"][-1]["members"] - joint) < 1e-4):
            bad.append((s["name"], "claims table's joint share", s["name_claims"][-1:], round(joint, 4)))
        median = members.Total_Spending.median()
        bad += [(s["name"], t, "median in", tier_of(median)) for t in ("Affluent", "Mainstream", "Budget") if t in holds and tier_of(median) != t]
        bad += [(s["name"], s["recommendation"], c) for c in contradictions(s["recommendation"], s["evidence"], min_members=bar)]
        card = profile_table(s, manifest["base_profile"])
        web = re.search(rf"{s['channel']}: (\d+)% of their purchases", s["evidence"])
        if not web or f"<td>{s['channel']} share of purchases</td><td>{web[1]}%</td>" not in card:
            bad.append((s["name"], "channel share: evidence vs profile table", s["evidence"]))
        if " a year per customer" in s["evidence"] or "over two years" not in s["evidence"]:
            bad.append((s["name"], "amount without its two-year unit", s["evidence"]))
    return bad


def test_sample_model_names_and_actions(model):
    "The shared sample model: every name true of its members, every action backed by its evidence."
    model = Manifest.read(model)
    assert offenders(model, None) == []
    d = model["training_data"]
    assert trained_on(model).startswith(f"segments fitted on all {d['rows']:,} customers; response model on the ")


def test_synthetic_draw(tmp_path, seed=5):
    "A model trained on a small synthetic draw unlike the sample: the same rules hold on its manifest."
    data = synth_customers(700, seed=seed)
    manifest = train(data, k=4, seed=seed, out=tmp_path/"model", **FAST)
    assert offenders(manifest, data) == []
    assert np.isfinite(manifest["base_profile"]["Age_year"])
    assert f"average age in {manifest['base_profile']['Age_year']:.0f}" in profile_table(manifest["segments"][0], manifest["base_profile"])
