"""`custseg drift` on batches of the embedded sample's own customers: a real shift exits 3; same-population and too-small batches exit 0."""
import re

import numpy as np
import pytest
from conftest import run

from custseg_nb.files import load_customers, write_customers
from custseg_nb.schema import SAMPLE_PATH


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    "make(n, seed, name, column=function…): a file of n sample customers drawn without replacement, columns changed."
    sample, folder = load_customers(SAMPLE_PATH), tmp_path_factory.mktemp("batches")
    def make(n, seed, name, **changes):
        rows = sample.iloc[np.random.default_rng(seed).choice(len(sample), n, replace=False)]
        return write_customers(rows.assign(**{c: f(rows[c]) for c, f in changes.items()}), folder/f"{name}.csv")
    return make


def drift(model, path):
    r = run("drift", path, "--artifacts", model)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout.splitlines()[0]


def test_shifted_batch_of_300_exits_3(model, batch):
    status, head = drift(model, batch(300, 1, "shifted", Income=lambda s: s*1.5, NumWebVisitsMonth=lambda s: s*2))
    assert status == 3, head
    assert head.startswith("300 customers compared with the training data: DRIFT — drifted: ")
    assert "Income" in head and "NumWebVisitsMonth" in head


def test_same_population_batch_of_40_exits_0(model, batch):
    status, head = drift(model, batch(40, 2, "same40"))
    assert status == 0, head
    assert "DRIFT" not in head


def test_same_population_batch_of_1000_is_stable(model, batch):
    status, head = drift(model, batch(1000, 3, "same1000"))
    assert (status, head) == (0, "1,000 customers compared with the training data: STABLE")


def test_tiny_batch_is_too_few_to_judge(model, batch):
    status, head = drift(model, batch(12, 4, "tiny", Income=lambda s: s*3))  # even a large shift: 12 cannot be judged
    assert status == 0, head
    assert head.startswith("12 customers: too few customers to judge — at least ")
    least = int(re.search(r"at least ([\d,]+) are needed", head)[1].replace(",", ""))
    assert 12 < least < 300  # the minimum is stated, and a batch of 300 is judged
