"""`custseg report` end to end: a client report built from one trained model and the file it describes.

One draw unlike the embedded sample (another seed, incomes doubled, planted duplicates, markup in its name and labels)
is reported on once (`odd_report`: one training); a customer table made from order lines, whose map leaves most optional
roles out, once more (`orders_report`: one quick training); the other tests reuse the session's sample model or fail
before training."""
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from conftest import QUICK, QUICK_SETTINGS, one_error_line, run

DUPLICATES, ANSWER_ONLY = 15, 4  # planted: customers identical to another but for ID; and those differing only in Response
HOSTILE_NAME = "<img src=x onerror=alert(1)>.csv"


class Live(HTMLParser):
    "Elements with an event-handler attribute, and scripts: markup a browser would run."
    def __init__(self, page):
        super().__init__(); self.found = []
        self.feed(page)
    def handle_starttag(self, tag, attrs):
        self.found += [f"<{tag} {k}=…>" for k, _ in attrs if k.lower().startswith("on")] + (["<script>"] if tag == "script" else [])


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    "A file unlike the sample: seed 7, 600 customers, incomes doubled, duplicates planted, markup as name and labels; and its report."
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    folder = tmp_path_factory.mktemp("odd")
    df = synth_customers(600, seed=7)
    df["Income"] = df["Income"]*2
    df.loc[df.index[:40], "Education"] = "<script>alert(1)</script>"
    df.loc[df.index[40:60], "Marital_Status"] = '"><b onmouseover=alert(1)>'
    copies = df.iloc[100:100 + DUPLICATES].assign(ID=np.arange(DUPLICATES) + 900_000)
    flipped = df.iloc[200:200 + ANSWER_ONLY].assign(ID=np.arange(ANSWER_ONLY) + 910_000)
    flipped["Response"] = 1 - flipped["Response"]
    df = pd.concat([df, copies, flipped], ignore_index=True)
    data = write_customers(df, folder/HOSTILE_NAME)
    import custseg_nb.training
    train = custseg_nb.training.train
    with pytest.MonkeyPatch.context() as mp:  # the report's own training with the fewest resamples: the file's figures are on trial here
        mp.setattr(custseg_nb.training, "train", lambda *args, **kwargs: train(*args, **{**QUICK_SETTINGS, **kwargs}))
        r = run("report", "--data", data, "--out", folder/"report.html", "--artifacts", folder/"no-model-here")
    assert r.returncode == 0, r.stderr
    return df, (folder/"report.html").read_text(encoding="utf-8"), folder, r


def test_training_for_a_report_logs_to_stderr_only(odd):
    "Training's progress lines go to standard error; standard output is the one 'wrote …' line."
    *_, folder, r = odd
    assert r.stdout.splitlines() == [f"wrote {folder/'report.html'} ({(folder/'report.html').stat().st_size/1e6:.1f} MB)"]
    assert [t for t in ("training a model on", "ingested ", "K=") if t not in r.stderr] == [], r.stderr


def test_report_on_another_file_quotes_its_numbers(odd):
    "Figures the report quotes match a recomputation from the file; none of the sample's figures appear."
    from custseg_nb.report import money
    from custseg_nb.training import sample_model
    df, html, *_ = odd
    dates = pd.to_datetime(df.Dt_Customer, format="%d-%m-%Y")
    spend = df[[c for c in df.columns if c.startswith("Mnt")]].sum(axis=1)
    expected = [f"{len(df):,} customers who enrolled between {dates.min():%d %b %Y} and {dates.max():%d %b %Y}",
                f"over two years (all: {money(spend.median())})",  # the file's median two-year spending
                f"{DUPLICATES} are identical to another customer in every column but ID, and {ANSWER_ONLY} more differ",
                f"Income: {int(df.Income.isna().sum())} blank; largest {money(df.Income.max())} as read",
                f"contacted {len(df):,} customers at $3 each and {int(df.Response.sum()):,} responded ({df.Response.mean():.1%})"]
    assert [t for t in expected if t not in html] == []
    sample = sample_model()
    rules = sample.load("preprocessor")[0].rules_
    sample_only = [money(rules.max_income), f"{sample['metrics']['silhouette']:.3f} against",
                   *[f"{s['size']:,} customers ({s['share']:.0%})" for s in sample["segments"]], "2,240 customers", "embedded sample"]
    assert [t for t in sample_only if t in html] == []
    assert [t for t in ("log_hist", "x (units)", "def ", "#|", "★") if t in html] == []  # no developer content


def test_report_is_self_contained_and_escaped(odd):
    "Images embedded, nothing fetched; the file's name and labels that are markup appear only as escaped text."
    _, html, *_ = odd
    assert html.count("data:image/png;base64,") >= 10
    assert re.findall(r'(?:src|href)=["\']?(?:https?:)?//', html) == [] and re.findall(r"<script|<link|@import", html) == []
    assert Live(html).found == []
    assert [t for t in ["&lt;img src=x onerror=alert(1)&gt;.csv", "&lt;script&gt;alert(1)&lt;/script&gt;",
                        "&quot;&gt;&lt;b onmouseover=alert(1)&gt;"] if t not in html] == []


@pytest.fixture(scope="module")
def sample_report(model, tmp_path_factory):
    "`custseg report --data SAMPLE --artifacts MODEL`: the run's standard error and the report's path."
    from custseg_nb.schema import SAMPLE_PATH
    out = tmp_path_factory.mktemp("sample-report")/"report.html"
    r = run("report", "--data", SAMPLE_PATH, "--artifacts", model, "--out", out)
    assert r.returncode == 0, r.stderr
    return r.stderr, out


def test_report_reuses_a_model_trained_on_the_file(sample_report):
    "--artifacts holding a model trained on these very bytes: no training, the report describes that model."
    stderr, out = sample_report
    assert "training a model" not in stderr
    html = out.read_text(encoding="utf-8")
    assert "Customer segments: marketing_campaign_sample.csv" in html and html.count('<div class="card">') >= 3


def test_campaigns_section_is_honest_and_priced(model, sample_report):
    "Profit curve with its band, break-even, segment × decile, the last campaign per segment, quality with intervals, out-of-fold ranking."
    from custseg_nb.model import Manifest
    from custseg_nb.report import money
    man = Manifest.read(model)
    rm, html = man["response_model"], sample_report[1].read_text(encoding="utf-8")
    campaigns = html[html.index('<section id="campaigns">'):html.index("</section>")]
    raw, oof = man.load("raw"), man.load("oof")
    lo, hi = rm["auc_test_interval"]
    expected = [f"the {len(oof):,} the response model learned from with their out-of-fold probability",
                f"<td class=n>{rm['cv_auc_mean']:.3f}</td><td>± {rm['cv_auc_sd']:.3f} (sd over {rm['cv_folds']} folds)",
                f"<td class=n>{rm['auc_test']:.3f}</td><td>{lo:.3f}–{hi:.3f}</td>",
                f"<td class=n>{rm['lift_top_decile_test']:.1f}×</td>",
                f"<td class=n>{money(raw.Response.sum()*11 - len(raw)*3)}</td></tr></table>",  # the last campaign, all customers
                'alt="profit curve"', "<h3>Segment × decile</h3>", "<td>all segments</td><td>response</td>"]
    assert [t for t in expected if t not in campaigns] == []
    claims = html[html.index('<div class="card">'):]
    assert [t for t in ("the whole name (every phrase at once)", "spending over two years ≥ $") if t not in claims] == []


MISSING_ROLE_FACTS = re.compile(r"(?i)income|\$0 \(all: \$0\)|children|\bages?\b|made with a discount|accepted the last campaign|"
                                r"last campaign response|\bresponded\b|last month|a month")  # facts on roles order lines lack, periods they do not state


def _words(html: str) -> str:
    "The report's text: images and tags removed."
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html))


@pytest.fixture(scope="module")
def orders_report(tmp_path_factory):
    "`custseg customers` on synthetic order lines, `custseg train --columns` with the map it writes, then `custseg report`: the page's text."
    from custseg_nb.orders import synth_orders, write_orders
    tmp = tmp_path_factory.mktemp("orders-report")
    write_orders(synth_orders(6_000, seed=1), tmp/"orders.csv")
    r = run("customers", tmp/"orders.csv", "-o", tmp/"customers.csv")
    assert r.returncode == 0, r.stderr
    r = run("train", "--data", tmp/"customers.csv", "--columns", tmp/"customers.columns.toml", "--k", "3", "--out", tmp/"model", *QUICK)
    assert r.returncode == 0, r.stderr
    r = run("report", "--data", tmp/"customers.csv", "--artifacts", tmp/"model", "--out", tmp/"report.html")
    assert r.returncode == 0 and "training a model" not in r.stderr, r.stderr  # the model of this file, read with its map
    return _words((tmp/"report.html").read_text(encoding="utf-8"))


def test_report_of_order_lines_states_nothing_about_roles_they_lack(orders_report, sample_report):
    "No income, children, age, discount share, response rate or channel for a table made from order lines; the sample's report has them all."
    found = lambda text: sorted({m[0].lower() for m in MISSING_ROLE_FACTS.finditer(text)})
    assert [orders_report[max(0, m.start() - 60):m.end() + 20] for m in MISSING_ROLE_FACTS.finditer(orders_report)] == []
    assert found(_words(sample_report[1].read_text(encoding="utf-8"))) == [
        "accepted the last campaign", "age", "ages", "children", "income", "last campaign response", "last month",
        "made with a discount", "responded"]
    assert [t for t in ("No response model and no response rates", "median spending $", "days since the last purchase")
            if t not in orders_report] == []
    assert re.findall(r"channel: [^;)]*", orders_report) == []  # one channel slot ("all channels"): no channel to name


def test_report_without_a_model_says_how_to_get_one(tmp_path):
    assert "no trained model in" in one_error_line(run("report", "--artifacts", tmp_path/"nothing", "--out", tmp_path/"r.html"))
    assert not (tmp_path/"r.html").exists()


@pytest.mark.parametrize("case", ["1 row", "3 rows", "20 rows", "200 identical rows", "all-blank Income"])
def test_tiny_and_degenerate_files_get_one_line(case, tmp_path):
    "Below what a segmentation needs: one line, exit 2, saying what the analysis needs; nothing written."
    from custseg_nb.files import write_customers
    from custseg_nb.synth import synth_customers
    df = synth_customers(200, seed=5)
    df = {"1 row": df.head(1), "3 rows": df.head(3), "20 rows": df.head(20),
          "200 identical rows": pd.concat([df.head(1)]*200, ignore_index=True).assign(ID=range(200)),
          "all-blank Income": df.assign(Income=np.nan)}[case]
    data = write_customers(df, tmp_path/"customers.csv")
    line = one_error_line(run("report", "--data", data, "--out", tmp_path/"report.html"))
    assert "needs" in line, line
    assert not (tmp_path/"report.html").exists()


def test_report_screenshots(odd, sample_report, browser, output_dir):
    "The first screen and one segment card, on the sample's model and on the odd draw, and the sample's campaigns, for a human to look at."
    for name, path in (("sample", sample_report[1]), ("draw", odd[2]/"report.html")):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(path.as_uri())
            page.screenshot(path=output_dir/f"report-{name}-summary.png")
            page.locator(".card").first.screenshot(path=output_dir/f"report-{name}-card.png")
            if name == "sample": page.locator("#campaigns").screenshot(path=output_dir/"report-sample-campaigns.png")
            assert page.locator("table").first.bounding_box()["y"] < 900  # the summary table starts on the first screen
        finally:
            page.close()


KAGGLE_COLUMNS = re.compile(r"\b(?:ID|Year_Birth|Education|Marital_Status|Income|Kidhome|Teenhome|Dt_Customer|Recency|Mnt\w+|Num\w+|"
                            r"AcceptedCmp\d|Complain|Z_CostContact|Z_Revenue|Response)\b")  # the Kaggle file's column names


def test_report_of_a_mapped_model_names_columns_as_the_file_does(tmp_path):
    "The shop's model (`test_own_columns`: its own column names): the report, and its refusal of a file, name each column as the shop does, never by the Kaggle column it fills."
    from test_own_columns import train_shop
    model, data, _, _ = train_shop(tmp_path)
    r = run("report", "--data", data, "--artifacts", model, "--out", tmp_path/"report.html")
    assert r.returncode == 0, r.stderr
    text = _words((tmp_path/"report.html").read_text(encoding="utf-8")).replace("Response (95% interval)", "")  # a table's heading, in words
    assert [text[max(0, m.start() - 60):m.end() + 20] for m in KAGGLE_COLUMNS.finditer(text)] == []
    shop = pd.read_csv(data)
    assert [t for t in ("every column but customer_id", f"annual_income: {shop.annual_income.isna().sum()} blank; largest",
                        "blank annual_income imputed", "annual_income above Q3", "yob before 1920 replaced by", "rare marital (Alone",
                        "+ days_since_last, tenure") if t not in text] == []
    shop.assign(annual_income=np.nan).to_csv(tmp_path/"no-income.csv", index=False)  # a file the report cannot segment, in the shop's layout
    line = one_error_line(run("report", "--data", tmp_path/"no-income.csv", "--artifacts", model, "--out", tmp_path/"r.html"))
    assert "column 'annual_income' is blank for every customer" in line, line
