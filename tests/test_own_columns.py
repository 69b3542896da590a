"""A file with its own columns, categories and channels, and a table made from order lines, through every command (issue 22):
`custseg train --columns MAP` keeps the map in the model; score, targets, migrate, drift and the report then read the
user's files and speak the user's words. End to end through `cli.main`."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import QUICK, one_error_line, run

from custseg_nb.files import load_customers
from custseg_nb.orders import synth_orders, write_orders

KAGGLE_WORDS = r"(?<![\w-])(meat|fish|sweets|fruit|gold products|gold|catalog|store|web)(?![\w-])"  # what this shop calls otherwise
SHOP_MAP = """[columns]
id = "customer_id"
birth_year = "yob"
income = "annual_income"
kids = ["kids"]
enrolled = "signup"
date_format = "%Y-%m-%d"
recency = "days_since_last"
deals = "promo_orders"
web_visits = "visits"
complain = "complained"
response = "answered_last"
categorical = ["edu", "marital"]
[spending]
wine_spend = "wine"
treats = "treats"
butchery = "butchery"
jewellery = "jewellery"
[channels]
online_orders = "online"
shop_orders = "in-store"
"""


def shop_file(path, customers=None):
    "The embedded sample as a shop exports it: its own names, four spending categories, two channels, one children column."
    s = load_customers() if customers is None else customers
    pd.DataFrame({"customer_id": s.ID, "yob": s.Year_Birth, "annual_income": s.Income, "kids": s.Kidhome + s.Teenhome,
                  "signup": s.Dt_Customer.dt.strftime("%Y-%m-%d"), "days_since_last": s.Recency, "promo_orders": s.NumDealsPurchases,
                  "visits": s.NumWebVisitsMonth, "complained": s.Complain, "answered_last": s.Response, "edu": s.Education,
                  "marital": s.Marital_Status, "wine_spend": s.MntWines, "treats": s.MntSweetProducts + s.MntFruits,
                  "butchery": s.MntMeatProducts + s.MntFishProducts, "jewellery": s.MntGoldProds,
                  "online_orders": s.NumWebPurchases + s.NumCatalogPurchases, "shop_orders": s.NumStorePurchases}).to_csv(path, index=False)
    return path


def train_shop(tmp:Path) -> tuple:
    "A model trained with the cheapest settings on the shop's file with its map, in `tmp`: (folder, the file, the map, what train printed)."
    data, cmap = shop_file(tmp/"shop.csv"), tmp/"shop.toml"
    cmap.write_text(SHOP_MAP)
    r = run("train", "--data", data, "--columns", cmap, "--k", "4", "--out", tmp/"model", *QUICK)
    assert r.returncode == 0, r.stderr
    return tmp/"model", data, cmap, r.stdout


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    "A model trained on the shop's file with its map: (folder, the file, the map, what train printed)."
    return train_shop(tmp_path_factory.mktemp("shop"))


def test_train_keeps_the_map_and_speaks_the_shops_words(shop):
    model, data, cmap, summary = shop
    manifest = json.loads((model/"manifest.json").read_text())
    assert manifest["columns"]["columns"]["id"] == "customer_id" and manifest["columns"]["spending"]["treats"] == "treats"
    assert manifest["words"]["channels"] == {"NumWebPurchases": "online", "NumStorePurchases": "in-store"}
    said = " ".join(s["name"] + " " + s["recommendation"] + " " + s["evidence"] for s in manifest["segments"])
    assert re.findall(KAGGLE_WORDS, said) == [] and re.findall(KAGGLE_WORDS, summary) == []
    assert len(set(re.findall(r"\b(wine|treats|butchery|jewellery|online|in-store)\b", said))) >= 3


def test_score_targets_migrate_and_drift_read_the_shops_file_with_the_stored_map(shop, tmp_path):
    model, data, cmap, _ = shop
    r = run("score", data, "-o", tmp_path/"scored.csv", "--artifacts", model)
    assert r.returncode == 0, r.stderr
    scored = pd.read_csv(tmp_path/"scored.csv")
    assert list(scored.columns) == ["ID", "segment", "segment_name", "confidence", "runner_up", "outlier"]
    assert scored.ID.tolist() == pd.read_csv(data).customer_id.tolist()  # the shop's IDs, in its order
    r = run("targets", data, "--top", "5", "-o", tmp_path/"targets.csv", "--artifacts", model)
    assert r.returncode == 0, r.stderr
    targets = pd.read_csv(tmp_path/"targets.csv")
    assert len(targets) == 5 and targets.response_probability.is_monotonic_decreasing
    assert set(targets.segment_name) <= set(scored.segment_name)
    r = run("migrate", data, data, "-o", tmp_path/"moves.csv", "--artifacts", model)
    assert r.returncode == 0 and pd.read_csv(tmp_path/"moves.csv").moved.sum() == 0, r.stderr
    r = run("drift", data, "--artifacts", model)
    assert r.returncode == 0 and "stable" in r.stdout, r.stdout + r.stderr  # the training file itself has not moved


def test_a_file_without_the_maps_columns_names_them_in_one_line(shop, tmp_path):
    model, data, cmap, _ = shop
    pd.read_csv(data).drop(columns="treats").to_csv(tmp_path/"short.csv", index=False)
    r = run("score", tmp_path/"short.csv", "--artifacts", model)
    assert "names column 'treats', which the data does not have" in one_error_line(r)


def test_report_of_the_shop_model_speaks_its_words(shop, tmp_path):
    model, data, cmap, _ = shop
    r = run("report", "--data", data, "--artifacts", model, "--out", tmp_path/"report.html")  # the model of this file: reused, map and all
    assert r.returncode == 0 and "training a model" not in r.stderr, r.stderr
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", (tmp_path/"report.html").read_text()))
    assert [text[max(0, m.start() - 60):m.end() + 20] for m in re.finditer(KAGGLE_WORDS, text)] == []
    assert "butchery" in text and "in-store" in text


@pytest.mark.parametrize("change, expected", [
    (lambda m: m.replace('"annual_income"', '"salary"'), "names column 'salary', which the data does not have"),
    (lambda m: m.replace('web_visits = "visits"', 'web_visits = "annual_income"'), "'annual_income' is named twice"),
    (lambda m: m.replace('deals = "promo_orders"', 'deals = "promo_orders"\nloyalty = "visits"'), "unknown role 'loyalty'"),
    (lambda m: m.replace('"%Y-%m-%d"', '"%d/%m/%Y"'), "column 'signup' has"),
])
def test_bad_maps_are_one_line_naming_the_column_or_role(shop, tmp_path, change, expected):
    model, data, cmap, _ = shop
    (tmp_path/"bad.toml").write_text(change(SHOP_MAP))
    r = run("train", "--data", data, "--columns", tmp_path/"bad.toml", "--out", tmp_path/"m", *QUICK)
    assert expected in one_error_line(r)
    assert not (tmp_path/"m").exists()


def test_a_spending_column_with_text_names_the_users_column_and_line(tmp_path):
    data = shop_file(tmp_path/"shop.csv")
    frame = pd.read_csv(data)
    frame["treats"] = frame.treats.astype(object)
    frame.loc[6, "treats"] = "lots"
    frame.to_csv(data, index=False)
    (tmp_path/"shop.toml").write_text(SHOP_MAP)
    r = run("train", "--data", data, "--columns", tmp_path/"shop.toml", "--out", tmp_path/"m", *QUICK)
    line = one_error_line(r)
    assert "column 'treats'" in line and "'lots'" in line and "line 8" in line, line


def test_orders_to_customers_to_a_model_with_rfm_names(tmp_path):
    write_orders(synth_orders(20_000, seed=3), tmp_path/"orders.csv")
    r = run("customers", tmp_path/"orders.csv", "-o", tmp_path/"customers.csv")
    assert r.returncode == 0, r.stderr
    assert "customers returned more than bought here (earlier purchases): spending counted as 0" in r.stderr  # as in UCI's file: still trains
    r = run("train", "--data", tmp_path/"customers.csv", "--columns", tmp_path/"customers.columns.toml", "--out", tmp_path/"model", *QUICK)
    assert r.returncode == 0, r.stderr
    assert "no response model: the column map has no response role" in r.stdout
    assert "roles the column map leaves out (their features and phrases dropped): birth_year, income, kids" in r.stdout
    manifest = json.loads((tmp_path/"model"/"manifest.json").read_text())
    assert manifest["features"] == ["Log_Total_Spending", "Recency", "Log_Total_Purchases", "Customer_For_Days"]
    names = [s["name"] for s in manifest["segments"]]
    assert any(re.search(r"High value|Low value|frequent|lapsed", n) for n in names), names
    assert [c for s in manifest["segments"] for c in s["name_claims"] if c["phrase"] != "the whole name" and c["members"] < 0.6] == []
    r = run("score", tmp_path/"customers.csv", "-o", tmp_path/"scored.csv", "--artifacts", tmp_path/"model")
    assert r.returncode == 0 and len(pd.read_csv(tmp_path/"scored.csv")) == len(pd.read_csv(tmp_path/"customers.csv")), r.stderr
    line = one_error_line(run("targets", tmp_path/"customers.csv", "--artifacts", tmp_path/"model"))
    assert "has no response model (the column map has no response role" in line and line.endswith(  # what to do: map the answers
        "add the last campaign's answers to the column map (response = \"COLUMN\") and retrain with `custseg train --columns`"), line
