"""Bring your own data (issue 22): `custseg map` proposes a column map for a file with its own names, and `custseg customers`
turns order lines into one row per customer with its column map beside it; end to end through `cli.main`."""
import pandas as pd
import pytest
from conftest import one_error_line, run

from custseg_nb.columns import apply_map, parse_map, read_map, read_orders_map
from custseg_nb.files import load_customers
from custseg_nb.orders import synth_orders, write_orders
from custseg_nb.validation import validate_customers

HAND = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER,6,12/3/2010 9:00,1.85,17850.0,United Kingdom
C536367,85123A,WHITE HEART,-2,12/4/2010 10:00,2.55,17850.0,United Kingdom
536368,22960,JAM SET,3,12/5/2010 11:00,4.25,13047.0,France
536368,22960,JAM SET,3,12/5/2010 11:00,4.25,13047.0,France
536369,POST,POSTAGE,1,12/6/2010 12:00,0,13047.0,Germany
536370,22961,JAM JAR,10,12/7/2010 13:00,0.85,,United Kingdom
C536371,22633,HAND WARMER,-1,12/8/2010 14:00,1.85,12346.0,United Kingdom
536372,22100,BOX,2,12/9/2010 15:30,1.00,13047.0,Germany
"""  # the hand-computed case of nbs/03b_orders.ipynb


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    "The embedded sample with its own names: a CRM export of a Kaggle-format file (semicolons, ISO dates)."
    sample = load_customers()
    names = {"ID": "customer_id", "Year_Birth": "yob", "Income": "annual_income", "Dt_Customer": "signup_date", "Recency": "days_since_last",
             "MntWines": "wine_spend", "MntMeatProducts": "spend_meat", "NumWebPurchases": "online_orders", "Complain": "complained"}
    path = tmp_path_factory.mktemp("renamed")/"crm.csv"
    sample.rename(columns=names).to_csv(path, sep=";", index=False)
    return sample, path


def test_map_proposes_a_map_that_lays_a_renamed_file_out_as_the_sample(renamed, tmp_path):
    sample, path = renamed
    r = run("map", path, "-o", tmp_path/"crm.toml")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout == f"wrote {tmp_path/'crm.toml'}: 14 roles, 6 spending and 3 channel columns; check it and edit it\n"
    m = read_map(tmp_path/"crm.toml")
    assert (m.columns["id"], m.columns["income"], m.date_format) == ("customer_id", "annual_income", "%Y-%m-%d")
    assert m.spending["wine_spend"] == "wine" and m.channels["online_orders"] == "online"
    loaded = load_customers(path, columns=tmp_path/"crm.toml")  # the `columns=` hook of load_customers
    assert [c for c in sample.columns if not loaded[c].equals(sample[c])] == []


def test_load_customers_with_a_map_names_the_users_column_and_line(renamed, tmp_path):
    sample, _ = renamed
    bad = sample.rename(columns={"ID": "customer_id", "Income": "annual_income", "Dt_Customer": "signup_date"})
    bad["annual_income"] = bad.annual_income.astype(object)
    bad.loc[16, "annual_income"] = "abc"
    bad.to_csv(tmp_path/"bad.csv", index=False)
    assert run("map", tmp_path/"bad.csv").returncode == 0
    with pytest.raises(Exception) as e: load_customers(tmp_path/"bad.csv", columns=tmp_path/"bad.columns.toml")
    assert str(e.value) == f"file 'bad.csv': column 'annual_income' has text 'abc' in line 18 (ID {sample.ID[16]}); expected a number"


def test_map_never_replaces_an_edited_map_unless_forced(renamed, tmp_path):
    _, path = renamed
    (tmp_path/"crm.toml").write_text("# my edits\n")
    r = run("map", path, "-o", tmp_path/"crm.toml")
    assert (r.returncode, one_error_line(r)) == (2, f"custseg: error: '{tmp_path/'crm.toml'}' exists: it may hold your edits; edit it, "
                                                   "choose another -o MAP, or add --force to replace it")
    assert (tmp_path/"crm.toml").read_text() == "# my edits\n"
    assert run("map", path, "-o", tmp_path/"crm.toml", "--force").returncode == 0
    assert parse_map((tmp_path/"crm.toml").read_text()).columns["id"] == "customer_id"
    printed = run("map", path, "-o", "-")
    assert printed.stdout == (tmp_path/"crm.toml").read_text().replace(str(path.name), path.name)


def test_map_of_a_file_without_an_id_says_what_to_fill_in(tmp_path):
    pd.DataFrame({"name": ["a"], "wine_spend": [3]}).to_csv(tmp_path/"x.csv", index=False)
    r = run("map", tmp_path/"x.csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"wrote {tmp_path/'x.columns.toml'}; before using it: [columns] id = \"\"; expected a column name in quotes, like \"customer_id\"\n"


def test_map_of_order_lines_proposes_an_orders_map_that_customers_uses(tmp_path):
    (tmp_path/"orders.csv").write_text(HAND.replace("CustomerID", "client_id").replace("InvoiceNo", "order_id"))
    r = run("map", tmp_path/"orders.csv")
    assert r.stdout == (f"wrote {tmp_path/'orders.columns.toml'}: an orders map (customer, date, quantity, price, invoice, categorical); check it, "
                        f"then: custseg customers {tmp_path/'orders.csv'} --orders {tmp_path/'orders.columns.toml'} -o CUSTOMERS\n"), r.stderr
    assert read_orders_map(tmp_path/"orders.columns.toml").orders == {"customer": "client_id", "date": "InvoiceDate", "quantity": "Quantity",
                                                                      "price": "UnitPrice", "invoice": "order_id", "categorical": ["Country"]}
    r = run("customers", tmp_path/"orders.csv", "--orders", tmp_path/"orders.columns.toml", "-o", tmp_path/"c.csv")
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path/"c.csv")[["client_id", "Monetary"]].values.tolist() == [[12346, 0.0], [13047, 14.75], [17850, 41.64]]


def test_customers_aggregates_the_hand_computed_case(tmp_path):
    (tmp_path/"orders.csv").write_text(HAND)
    r = run("customers", tmp_path/"orders.csv", "-o", tmp_path/"customers.parquet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("3 customers from 10 order lines (recency to 2010-12-10); 2 cancellation lines count as returns; "
                        "1 customer returned more than bought here (earlier purchases): spending counted as 0; "
                        "left out: 1 without a customer, 1 exact duplicates\n")
    got = pd.read_parquet(tmp_path/"customers.parquet")
    assert got[["CustomerID", "Recency", "Frequency", "Monetary", "Tenure", "Returns", "Country"]].values.tolist() == [
        [12346, 2, 0, 0.0, 2, 1, "United Kingdom"], [13047, 1, 3, 14.75, 5, 0, "Germany"], [17850, 7, 2, 41.64, 9, 1, "United Kingdom"]]
    m = read_map(tmp_path/"customers.columns.toml")
    assert (m.columns["id"], m.columns["recency"], m.spending, m.channels) == ("CustomerID", "Recency", {"Monetary": "all products"},
                                                                              {"Frequency": "all channels"})
    r = run("customers", tmp_path/"orders.csv", "--as-of", "2010-12-08", "-o", tmp_path/"early.csv")
    early = pd.read_csv(tmp_path/"early.csv").set_index("CustomerID")
    assert (r.returncode, early.loc[13047, ["Recency", "Frequency", "Monetary"]].tolist()) == (0, [2, 2, 12.75])


def test_customers_keeps_an_edited_column_map_unless_forced(tmp_path):
    "Run again on the same orders, `custseg customers` rewrites the same table and map; a map the user edited is not lost."
    (tmp_path/"orders.csv").write_text(HAND)
    out, cmap = tmp_path/"c.csv", tmp_path/"c.columns.toml"
    assert run("customers", tmp_path/"orders.csv", "-o", out).returncode == 0
    first = (out.read_bytes(), cmap.read_bytes())
    assert run("customers", tmp_path/"orders.csv", "-o", out).returncode == 0  # the same map: nothing lost, nothing asked
    assert (out.read_bytes(), cmap.read_bytes()) == first
    edited = cmap.read_text().replace('Monetary = "all products"', 'Monetary = "gifts"')
    cmap.write_text(edited)
    out.write_text("an older table\n")
    r = run("customers", tmp_path/"orders.csv", "-o", out)
    assert one_error_line(r) == (f"custseg: error: '{cmap}' exists and is not the map this table gets (it may hold your edits): add --force to "
                                 f"replace it, or write the customers under another name with -o; nothing was written")
    assert (out.read_text(), cmap.read_text()) == ("an older table\n", edited)
    assert run("customers", tmp_path/"orders.csv", "-o", out, "--force").returncode == 0
    assert (out.read_bytes(), cmap.read_bytes()) == first


def test_customers_of_another_layout_with_an_orders_map(tmp_path):
    pd.DataFrame({"order": ["A1", "A1", "A2", "A3", "R1"], "client": ["x", "x", "x", "y", "y"],
                  "day": ["05.01.2024", "05.01.2024", "01.02.2024", "20.01.2024", "25.01.2024"], "total": [30, 10, 20, 50, -10],
                  "cat": ["wine", "cheese", "wine", "cheese", "cheese"], "via": ["online", "online", "shop", "shop", "shop"]}
                 ).to_csv(tmp_path/"shop.tsv", sep="\t", index=False)
    (tmp_path/"shop.toml").write_text('[orders]\ncustomer = "client"\ndate = "day"\ndate_format = "%d.%m.%Y"\namount = "total"\n'
                                      'invoice = "order"\ncategory = "cat"\nchannel = "via"\n')
    assert read_orders_map(tmp_path/"shop.toml").orders["amount"] == "total"
    r = run("customers", tmp_path/"shop.tsv", "--orders", tmp_path/"shop.toml", "--as-of", "2024-03-01", "-o", tmp_path/"c.csv")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(tmp_path/"c.csv")
    assert got.drop(columns=["FirstPurchase", "LastPurchase"]).to_dict("records") == [
        {"client": "x", "Recency": 29, "Frequency": 2, "Monetary": 60.0, "Tenure": 56, "AvgBasket": 30.0, "Lines": 3, "Returns": 0,
         "ReturnShare": 0.0, "Spend_wine": 50.0, "Spend_cheese": 10.0, "Purchases_online": 1, "Purchases_shop": 1},
        {"client": "y", "Recency": 41, "Frequency": 1, "Monetary": 40.0, "Tenure": 41, "AvgBasket": 40.0, "Lines": 2, "Returns": 1,
         "ReturnShare": 0.5, "Spend_wine": 0.0, "Spend_cheese": 40.0, "Purchases_online": 0, "Purchases_shop": 1}]
    m = read_map(tmp_path/"c.columns.toml")
    assert (m.spending, m.channels) == ({"Spend_wine": "wine", "Spend_cheese": "cheese"}, {"Purchases_online": "online", "Purchases_shop": "shop"})
    laid, words = apply_map(got, m)  # two categories and two channels fill Kaggle slots in the shop's words, the rest is zeros
    assert words == {"spending": {"MntWines": "wine", "MntFruits": "cheese"}, "channels": {"NumWebPurchases": "online", "NumStorePurchases": "shop"}}
    assert (laid.MntFruits.tolist(), laid.MntMeatProducts.tolist(), laid.NumStorePurchases.tolist()) == ([10.0, 40.0], [0, 0], [1, 1])


def test_customers_of_synthetic_uci_lines_with_iso_dates(tmp_path):
    lines = synth_orders(2_000, seed=5)
    write_orders(lines, tmp_path/"o.csv", dates="iso")
    r = run("customers", tmp_path/"o.csv", "-o", tmp_path/"c.tsv")
    got = pd.read_csv(tmp_path/"c.tsv", sep="\t")
    assert (r.returncode, len(got), got.CustomerID.is_unique) == (0, lines.CustomerID.nunique(), True)
    kept = lines[lines.CustomerID.notna() & ~lines.duplicated()]  # exact duplicates are left out
    net = (kept.Quantity * kept.UnitPrice).groupby(kept.CustomerID).sum()
    assert (net < 0).sum() > 0  # returns of earlier purchases, as in UCI's file: counted as no spending
    assert abs(got.Monetary.sum() - net.clip(lower=0).sum()) < 0.5 and got.Monetary.min() == 0


@pytest.mark.parametrize("case, args, says", [
    ("missing orders", ["customers", "{tmp}/none.csv", "-o", "{tmp}/c.csv"], "custseg: error: file '{tmp}/none.csv' does not exist"),
    ("no customer column", ["customers", "{tmp}/nocust.csv", "-o", "{tmp}/c.csv"],
     "custseg: error: file 'nocust.csv': the orders have no column 'CustomerID' (the built-in UCI Online Retail map: customer); "
     "their columns are InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, Client, Country"),
    ("bad date", ["customers", "{tmp}/baddate.csv", "-o", "{tmp}/c.csv"],
     "custseg: error: file 'baddate.csv': column 'InvoiceDate' has '5 Dec 2010' in line 6; expected a date like 12/01/2010 08:26"),
    ("text quantity", ["customers", "{tmp}/badqty.csv", "-o", "{tmp}/c.csv"],
     "custseg: error: file 'badqty.csv': column 'Quantity' has 'six' in line 4; expected a number"),
    ("bad orders map", ["customers", "{tmp}/orders.csv", "--orders", "{tmp}/bad.toml", "-o", "{tmp}/c.csv"],
     "custseg: error: column map '{tmp}/bad.toml': unknown orders role 'cutsomer'; did you mean 'customer'? expected one of customer, date, "
     "amount, quantity, price, invoice, category, channel, promotion, categorical, date_format"),
    ("customer map as orders map", ["customers", "{tmp}/orders.csv", "--orders", "{tmp}/cust.toml", "-o", "{tmp}/c.csv"],
     "custseg: error: column map '{tmp}/cust.toml' has no [orders] table; an orders map says e.g. [orders] customer = \"CustomerID\", date = \"InvoiceDate\""),
    ("unknown output suffix", ["customers", "{tmp}/orders.csv", "-o", "{tmp}/c.xlsx"],
     "custseg: error: cannot write '{tmp}/c.xlsx': .xlsx is not a table format this writes; name it .csv, .tsv, .txt (tab-separated) or .parquet"),
    ("output over input", ["customers", "{tmp}/orders.csv", "-o", "{tmp}/orders.csv"],
     "custseg: error: the output '{tmp}/orders.csv' would overwrite the input: choose another output path"),
    ("missing file to map", ["map", "{tmp}/none.csv"], "custseg: error: file '{tmp}/none.csv' does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, args, says):
    (tmp_path/"orders.csv").write_text(HAND)
    (tmp_path/"nocust.csv").write_text(HAND.replace("CustomerID", "Client"))
    (tmp_path/"baddate.csv").write_text(HAND.replace("12/5/2010 11:00", "5 Dec 2010", 1))
    (tmp_path/"badqty.csv").write_text(HAND.replace(",6,12/3/2010", ",six,12/3/2010"))
    (tmp_path/"bad.toml").write_text('[orders]\ncutsomer = "CustomerID"\n')
    (tmp_path/"cust.toml").write_text('[columns]\nid = "CustomerID"\n[spending]\nMonetary = "all"\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run(*[a.format(tmp=tmp_path) for a in args])
    assert (r.returncode, one_error_line(r)) == (2, says.format(tmp=tmp_path)), case
    assert sorted(p.name for p in tmp_path.iterdir()) == before, case  # nothing written
