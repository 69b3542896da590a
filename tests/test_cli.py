"""End-to-end tests of the `custseg` console script, run as a user would run it."""
from conftest import custseg


def test_unknown_subcommand_is_a_one_line_usage_error():
    r = custseg("frobnicate")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "invalid choice: 'frobnicate'" in r.stderr
    assert "Traceback" not in r.stderr


def test_version():
    r = custseg("--version")
    assert r.returncode == 0 and r.stdout.startswith("custseg_nb ")
