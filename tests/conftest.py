"""Shared fixtures for the end-to-end tests (CLI and browser). Notebook tests live in nbs/ and run with nbdev_test."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT/"test-output"  # screenshots and files the tests leave for humans to look at


def custseg(*args, cwd=None, timeout=600, env=None):
    "Run the installed `custseg` console script; returns the CompletedProcess (never raises on exit status)."
    exe = shutil.which("custseg", path=str(Path(sys.executable).parent)) or shutil.which("custseg")
    assert exe, "the custseg console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
