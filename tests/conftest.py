"""Shared fixtures for the end-to-end tests (CLI and browser). Notebook tests live in nbs/ and run with nbdev_test."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT/"test-output"  # screenshots and files the tests leave for humans to look at


def custseg_exe() -> str:
    "Path of the installed `custseg` console script (the one beside this Python first)."
    exe = shutil.which("custseg", path=str(Path(sys.executable).parent)) or shutil.which("custseg")
    assert exe, "the custseg console script is not installed (pip install -e .)"
    return exe


def custseg(*args, cwd=None, timeout=600, env=None):
    "Run the installed `custseg` console script; returns the CompletedProcess (never raises on exit status)."
    return subprocess.run([custseg_exe(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


def free_port() -> int:
    "A TCP port on 127.0.0.1 that is free right now."
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    "A running `custseg app` subprocess: its URL, artifacts folder, log file and start time; `env` adds to the environment."
    def __init__(self, port, artifacts, log, env=None):
        import time
        self.port, self.artifacts, self.log = port, artifacts, log
        self.url = f"http://127.0.0.1:{port}/"
        self._log = log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([custseg_exe(), "app", "--port", str(port), "--artifacts", str(artifacts)],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **(env or {})})

    def wait_until_listening(self, timeout=240):
        "Block until the server accepts connections on its port; fail with its log if it exits or times out."
        import socket, time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"custseg app exited with status {self.proc.returncode}:\n{self.log.read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0: return self
            time.sleep(0.25)
        pytest.fail(f"custseg app did not listen on port {self.port} within {timeout} s:\n{self.log.read_text()}")

    def stop(self):
        "Stop the server's whole process group: SIGTERM (Voila shuts its kernels down), then SIGKILL."
        import signal
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try: self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        except ProcessLookupError: pass
        finally: self._log.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, output_dir):
    "`custseg app` on a free port with an empty artifacts folder (so it trains first); stopped even on failure."
    folder = tmp_path_factory.mktemp("app")
    # every test opens its own page, and a closed page's kernel lives until it is culled (minutes): room for a
    # module's tests, so the cap on open pages (tested in test_faults_app) does not refuse the fifth one
    server = AppServer(free_port(), folder/"artifacts", output_dir/"custseg_app.log", env={"CUSTSEG_MAX_PAGES": "12"})
    try:
        yield server.wait_until_listening()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    "Debian's Chromium driven by Playwright (headless); `playwright install` cannot download browsers here."
    from playwright.sync_api import sync_playwright  # the dev extra: pip install -e ".[dev]"
    exe = shutil.which("chromium")
    if not exe: pytest.fail("chromium is not installed: apt-get install -y chromium (see README)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                                        "--disable-component-update", "--disable-sync", "--no-first-run"])
        try: yield b
        finally: b.close()
