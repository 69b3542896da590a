"""The scoring page of a model trained with its own column map, in a real browser: `custseg app` serves the shop's model
(`test_own_columns`: its own names, four spending categories, two channels); Playwright drives Debian's Chromium through
it. The form asks in the shop's words, a typed customer gets a segment named in them, a file in the shop's layout
scores, and no amount claims the Kaggle file's two-year period. Screenshots go to test-output/."""
import re

import pandas as pd
import pytest
from conftest import AppServer, free_port
from test_own_columns import KAGGLE_WORDS, shop_file, train_shop

from custseg_nb.files import load_customers
from custseg_nb.model import Manifest
from custseg_nb.scoring import Segmenter

PAGE_TIMEOUT = 90_000  # ms: the first page load starts a kernel and imports the scientific stack
SHOP_LABELS = {"wine": "Wine", "treats": "Treats", "butchery": "Butchery", "jewellery": "Jewellery",
               "online": "Online purchases", "in-store": "In-store purchases"}  # SHOP_MAP's spending and channel words → the form's labels
PERIOD = re.compile(r"two years|2 years")  # the Kaggle file's period: unknown for the shop's file


@pytest.fixture(scope="module")
def shop_model(tmp_path_factory):
    "The shop's model, trained with the cheapest settings on its file and map."
    return train_shop(tmp_path_factory.mktemp("shop-page"))[0]


@pytest.fixture(scope="module")
def page(shop_model, browser, output_dir):
    "One page of `custseg app` serving the shop's model, used by the tests here in turn; the server stops even on failure."
    server = AppServer(free_port(), shop_model, output_dir/"custseg_app_own_columns.log")
    try:
        server.wait_until_listening()
        context = browser.new_context(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
        pg = context.new_page()
        pg.goto(server.url, timeout=PAGE_TIMEOUT)
        pg.locator(".custseg-score").wait_for(timeout=PAGE_TIMEOUT)
        try: yield pg
        finally: context.close()
    finally:
        server.stop()


def column_of(manifest:Manifest, word:str) -> str:
    "The Kaggle slot (the form input's class) the shop's word fills."
    return {w: c for table in manifest["words"].values() for c, w in table.items()}[word]


def test_the_form_asks_in_the_shops_words(shop_model, page, output_dir):
    manifest = Manifest.read(shop_model)
    assert {w: page.locator(f".custseg-{column_of(manifest, w)}").text_content().strip() for w in SHOP_LABELS} == SHOP_LABELS
    kaggle_only = ["MntSweetProducts", "MntGoldProds", "NumCatalogPurchases", "AcceptedCmp1"]  # slots the shop's map leaves empty
    assert {c: page.locator(f".custseg-{c}").count() for c in kaggle_only} == dict.fromkeys(kaggle_only, 0)
    text = page.locator(".custseg-page").text_content()  # every tab: form, file tab, about the model
    assert re.findall(KAGGLE_WORDS, text.lower().replace("web visits", "")) == []  # 'Web visits last month': the role's own label
    assert PERIOD.findall(text) == []  # 'Spending', not 'Spending (last 2 years)'; 'Complained', not '… in the last 2 years'
    page.locator(".custseg-page").screenshot(path=output_dir/"app_own_columns_form.png")


def test_a_typed_customer_gets_a_segment_in_the_shops_words(shop_model, page, output_dir):
    manifest = Manifest.read(shop_model)
    page.get_by_text("Spending", exact=True).click()
    page.locator(f".custseg-{column_of(manifest, 'jewellery')} input").fill("900")
    page.locator(f".custseg-{column_of(manifest, 'wine')} input").fill("40")
    page.locator(".custseg-score").click()
    name = page.locator(".custseg-segment-name")
    name.wait_for(timeout=30_000)
    assert name.inner_text() in manifest.segment_names
    assert re.findall(KAGGLE_WORDS, " ".join(manifest.segment_names).lower()) == []
    card = page.locator(".custseg-result").inner_text()
    assert re.findall(KAGGLE_WORDS, card.lower()) == [] and PERIOD.findall(card) == [], card
    assert re.search(rf"\b({'|'.join(SHOP_LABELS)})\b", card), card  # the action and evidence in its words
    assert "Unusual input: Jewellery 900 is above" in card, card  # the note names the input as the form does
    assert "median spending" in card, card  # the profile's amount row, without a period
    page.locator(".custseg-page").screenshot(path=output_dir/"app_own_columns_customer.png")


def test_a_file_in_the_shops_layout_scores(shop_model, page, tmp_path, output_dir):
    april = shop_file(tmp_path/"april.csv", load_customers().sample(25, random_state=3))
    page.get_by_role("tab", name="A file of customers").click()
    assert "shop.toml" in page.locator(".custseg-page").get_by_text("A customer file with the columns of").inner_text()
    with page.expect_file_chooser() as chooser: page.locator(".custseg-upload").click()
    chooser.value.set_files(str(april))
    page.locator(".custseg-file-message", has_text="april.csv").wait_for(timeout=60_000)
    link = page.locator(".custseg-download-box a.custseg-download")
    link.wait_for(timeout=60_000)
    assert "Scored 25 customers from april.csv" in page.locator(".custseg-file-message").inner_text()
    with page.expect_download() as download: link.click()
    scored = pd.read_csv(download.value.path())
    expected = Segmenter.load(shop_model).predict(april)  # read with the model's map, as the page should
    assert scored.ID.tolist() == pd.read_csv(april).customer_id.tolist()  # the shop's IDs, in its order
    assert scored.segment.tolist() == expected.segment.tolist() and scored.segment_name.tolist() == expected.segment_name.tolist()
    page.locator(".custseg-page").screenshot(path=output_dir/"app_own_columns_file.png")
