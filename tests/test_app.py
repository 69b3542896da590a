"""The scoring page in a real browser: `custseg app` serves the Voila page for the session's model; Playwright drives Debian's Chromium through it as a marketer would. Screenshots go to test-output/."""
import re
import time
from contextlib import contextmanager
from urllib.parse import urlparse

import pandas as pd
import pytest

from custseg_nb.model import Manifest
from custseg_nb.files import write_customers
from custseg_nb.scoring import TARGET_COLUMNS, Segmenter, select_targets
from custseg_nb.campaigns import campaign_plan
from custseg_nb.synth import synth_customers

PAGE_TIMEOUT = 90_000  # ms: the first page load starts a kernel and imports the scientific stack


@contextmanager
def open_page(app_server, browser):
    "A page on the running server (its own Voila kernel) that records every request it makes."
    context = browser.new_context(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    pg = context.new_page()
    pg.requests = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(app_server.url, timeout=PAGE_TIMEOUT)
    pg.locator(".custseg-score").wait_for(timeout=PAGE_TIMEOUT)
    try: yield pg
    finally: context.close()


@pytest.fixture(scope="module")
def page(app_server, browser):
    """One page used by the tests here in turn, in this file's order, as one marketer would use it (a page load starts a
    kernel: seconds each): a single customer, then the campaign panel from before its first file, then more files."""
    with open_page(app_server, browser) as pg: yield pg


def assert_offline(pg):
    "Every request the page made stayed on 127.0.0.1 (data: and blob: URLs never leave the browser)."
    outside = [u for u in pg.requests if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"]
    assert not outside, f"the page requested outside 127.0.0.1: {outside}"


def upload(pg, path):
    "Choose `path` in the page's upload button, as a person would."
    with pg.expect_file_chooser() as chooser: pg.locator(".custseg-upload").click()
    chooser.value.set_files(str(path))


def test_score_one_customer(app_server, page, output_dir, capsys):
    manifest = Manifest.read(app_server.artifacts)
    assert page.locator(".custseg-Income input").input_value() not in ("", "0")  # pre-filled: the typical customer
    assert "from custseg_nb.page import" not in page.content()  # Voila stripped the page notebook's code
    page.locator(".custseg-Income input").fill("95000")
    page.get_by_text("Spending (last 2 years)").click()
    page.locator(".custseg-MntWines input").fill("1100")
    page.locator(".custseg-score").click()
    name = page.locator(".custseg-segment-name")
    name.wait_for(timeout=30_000)
    elapsed = time.perf_counter() - app_server.started
    with capsys.disabled(): print(f"\n`custseg app` started to the first scored customer: {elapsed:.1f} s")
    assert name.inner_text() in manifest.segment_names
    assert page.locator(".custseg-confidence").inner_text().endswith("%")
    assert page.locator(".custseg-runner-up").inner_text() in manifest.segment_names
    assert page.locator(".custseg-response-probability").inner_text().endswith("%")  # this customer's, with the profit of a contact
    assert page.locator(".custseg-expected-profit").count() == (1 if (manifest.data.get("economics") or {}).get("cost_per_contact") is not None else 0)
    page.locator("img.custseg-map").wait_for()
    page.locator(".custseg-page").screenshot(path=output_dir/"app_one_customer.png")
    assert_offline(page)


def shown_plan(page) -> dict:
    "The campaign panel's figures, by the classes the page gives them."
    return {k: page.locator(f".custseg-campaign-box .custseg-campaign-{k}").inner_text()
            for k in ("contacts", "expected", "interval", "profit", "profit-interval")}


def plan_words(plan) -> dict:
    "What the panel should show for a `campaign_plan`, formatted here from its numbers."
    whole = lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
    f = plan.figures
    e, lo, hi = f.responders
    return {"contacts": f"{f.contacts:,}", "expected": f"{e:,.1f}", "interval": f"(95% interval {whole(lo)}–{whole(hi)})",
            "profit": f"{f.profit[0]:,.0f}", "profit-interval": f"(95% interval {f.profit[1]:,.0f} to {f.profit[2]:,.0f})"}


def test_campaign_panel_depth_money_and_one_segment(app_server, page, tmp_path, output_dir):
    from playwright.sync_api import expect
    seg = Segmenter.load(app_server.artifacts)
    customers = write_customers(synth_customers(60, seed=3), tmp_path/"april.csv")
    ranked = seg.targets(customers)  # what the page should show, computed here on the same file
    cost, revenue = ranked.attrs["cost_per_contact"], ranked.attrs["revenue_per_response"]
    plan = lambda table=ranked, **how: campaign_plan(table, cost, revenue, responders=seg.response.expected_responders, **how)
    page.get_by_role("tab", name="A file of customers").click()
    panel, contacts = page.locator(".custseg-campaign"), page.locator(".custseg-campaign-box .custseg-campaign-contacts")
    assert panel.is_hidden()  # nothing to rank before a file

    upload(page, customers)
    page.locator(".custseg-download-box a.custseg-download").wait_for(timeout=60_000)
    assert (page.locator(".custseg-campaign-cost input").input_value(), page.locator(".custseg-campaign-revenue input").input_value()) \
        == (f"{cost:g}", f"{revenue:g}")
    assert shown_plan(page) == plan_words(plan())  # by default: the customers with positive expected profit
    assert page.locator("img.custseg-campaign-curve").is_visible()

    default = plan().figures.contacts
    page.locator(".custseg-campaign-depth select").select_option(label="the N likeliest")
    depth = page.locator(".custseg-campaign-depth-value input")
    expect(depth).to_have_value(str(default), timeout=30_000)  # the box starts at the current depth: typing before it arrives races it
    depth.fill("10"); depth.press("Enter")
    expect(contacts).to_have_text("10", timeout=30_000)
    assert shown_plan(page) == plan_words(plan(top=10))

    page.locator(".custseg-campaign-depth select").select_option(label="a budget of …")
    expect(depth).to_have_value(f"{10*cost:g}", timeout=30_000)  # what the 10 cost
    depth.fill("45"); depth.press("Enter")
    want = plan(budget=45)
    expect(contacts).to_have_text(f"{want.figures.contacts:,}", timeout=30_000)
    assert shown_plan(page) == plan_words(want)
    page.locator(".custseg-page").screenshot(path=output_dir/"app_campaign.png")

    chosen = int(ranked.segment.value_counts().idxmax())
    label = f"{chosen} · {seg.manifest.segment_names[chosen]}"
    page.locator(".custseg-campaign-segment select").select_option(label=label)
    page.locator(".custseg-campaign-selection", has_text=label).wait_for(timeout=30_000)
    want = plan(select_targets(ranked, chosen), budget=45)
    assert shown_plan(page) == plan_words(want)
    with page.expect_download() as download: page.locator(".custseg-campaign-download-box a.custseg-download").click()
    assert download.value.suggested_filename == f"april_targets_segment{chosen}.csv"
    listed = pd.read_csv(download.value.path())
    assert tuple(listed.columns) == TARGET_COLUMNS
    assert listed.ID.tolist() == want.chosen.ID.tolist() and set(listed.segment) == {chosen}

    cost_box = page.locator(".custseg-campaign-cost input")  # a bad amount: one line, no figures, no traceback
    cost_box.fill("-1"); cost_box.press("Enter")
    message = page.locator(".custseg-campaign-message")
    expect(message).to_have_text(re.compile("the cost per contact must be a non-negative amount"), timeout=30_000)
    assert message.inner_text().count("\n") == 0 and "Traceback" not in page.content()
    assert page.locator(".custseg-campaign-box .custseg-campaign-contacts").count() == 0
    page.locator(".custseg-page").screenshot(path=output_dir/"app_campaign_bad_amount.png")
    cost_box.fill(f"{cost:g}"); cost_box.press("Enter")  # the amount put right, as a marketer would: the page goes on to the next tests
    contacts.wait_for(timeout=30_000)
    assert_offline(page)


def test_score_a_file_and_download_it(app_server, page, tmp_path, output_dir):
    manifest = Manifest.read(app_server.artifacts)
    customers = write_customers(synth_customers(25, seed=3), tmp_path/"march.csv")
    page.get_by_role("tab", name="A file of customers").click()
    upload(page, customers)
    link = page.locator(".custseg-download-box a.custseg-download")  # the scored file (the campaign panel has its own link)
    page.locator(".custseg-file-message", has_text="march.csv").wait_for(timeout=60_000)  # this file's, not an earlier file's
    link.wait_for(timeout=60_000)  # set after the message
    assert "Scored 25 customers from march.csv" in page.locator(".custseg-file-message").inner_text()
    with page.expect_download() as download: link.click()
    assert download.value.suggested_filename == "march_scored.csv"
    scored = pd.read_csv(download.value.path())
    assert len(scored) == 25
    assert list(scored.columns[:6]) == ["ID", "segment", "segment_name", "confidence", "runner_up", "outlier"]
    assert scored.segment.between(0, manifest["k"] - 1).all()
    assert (scored.segment_name == scored.segment.map(dict(enumerate(manifest.segment_names)))).all()
    assert scored.confidence.between(0, 1).all()
    page.locator(".custseg-drift-box h4").first.wait_for()
    page.locator(".custseg-page").screenshot(path=output_dir/"app_file.png")
    assert_offline(page)


def test_broken_files_give_a_message_and_the_page_keeps_working(page, tmp_path, output_dir):
    good = write_customers(synth_customers(10, seed=4), tmp_path/"good.csv")
    lines = good.read_text().split("\n")
    header = lines[0].split("\t")
    cells = lines[2].split("\t"); cells[header.index("Income")] = "lots"
    broken = tmp_path/"broken.csv"
    broken.write_text("\n".join(lines[:2] + ["\t".join(cells)] + lines[3:]))
    big = tmp_path/"big.csv"  # over the 5 MB limit and Voila's default 10 MB websocket cap (serve raises it): a message
    big.write_bytes(lines[0].encode() + b"\n" + b"x"*(12*1024*1024))
    message = page.locator(".custseg-file-message")
    page.get_by_role("tab", name="A file of customers").click()

    upload(page, broken)
    page.get_by_text("column 'Income' has text 'lots' in line 3").wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    assert message.inner_text().count("\n") == 0  # one line
    page.locator(".custseg-page").screenshot(path=output_dir/"app_broken_file.png")

    upload(page, big)
    page.get_by_text("the page takes files up to 5 MB").wait_for(timeout=60_000)

    upload(page, good)  # the page still works
    page.get_by_text("Scored 10 customers from good.csv").wait_for(timeout=60_000)
    assert_offline(page)


def test_about_the_model(app_server, page, output_dir):
    manifest = Manifest.read(app_server.artifacts)
    page.get_by_role("tab", name="About the model").click()
    about = page.locator(".custseg-trained")
    about.wait_for()
    card = page.locator(".custseg-card", has=about)  # the tab's card: other tabs of this page show segment names too
    for name in manifest.segment_names: assert card.get_by_text(name, exact=True).first.is_visible()
    assert card.get_by_text(f"{manifest['k']} segments", exact=True).is_visible()
    table = page.locator(".custseg-response-table")
    assert table.is_visible()
    for s in manifest["segments"]:  # the last campaign's response rate and its interval, per segment, from the manifest
        r = s["expected_response"]
        row = table.locator("tr", has_text=s["name"]).inner_text()
        assert f"{s['size']:,}" in row and f"{r['rate']:.0%} ({r['low']:.0%}–{r['high']:.0%})" in row, row
    model = manifest["response_model"]
    assert page.locator(".custseg-response-model").inner_text().startswith(f"Response model: {model['model']}")
    assert f"{model['auc_test']:.3f}" in page.locator(".custseg-response-quality tr", has_text="AUC").inner_text()
    page.locator(".custseg-page").screenshot(path=output_dir/"app_about.png")
    assert_offline(page)
