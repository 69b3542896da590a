"""Shared fixtures for the end-to-end tests (CLI and browser). Notebook tests live in nbs/ and run with nbdev_test.

Tests share one model, the one `custseg train` makes on the embedded sample (`model`: `sample_model`, trained once
per version of the code, usually already by the notebook tests); they read it and copy it (`model_copy`) before
changing anything. `test_cli.py` runs `custseg train` itself once and checks it makes that same model. Most command-line cases run in this process through `cli.main`
(`run`): the same parser, error handling and exit status as the console script without its 3-second start-up.
A handful of cases run the real console script in a subprocess (`custseg`): usage errors, --version, Ctrl-C, kills,
concurrent trainings, Dask and the page."""
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT/"test-output"  # screenshots and files the tests leave for humans to look at


# the fewest resamples the training settings allow, for tests about a training's files, races, kills and inputs rather
# than its statistics: such a training takes about a second instead of ten
QUICK_SETTINGS = {"n_boot": 2, "null_draws": 1, "response_folds": 2, "calibration_draws": 5, "drift_draws": 200}  # as `train(**QUICK_SETTINGS)`
QUICK = tuple(a for name, value in QUICK_SETTINGS.items() for a in ("--set", f"{name}={value}"))  # as `custseg train` options


def interruptible() -> None:
    """`preexec_fn` for a child that must take Ctrl-C as a user's terminal gives it: pytest-xdist's workers ignore SIGINT,
    and a process started with SIGINT ignored keeps ignoring it (Python then installs no KeyboardInterrupt handler)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def custseg_exe() -> str:
    "Path of the installed `custseg` console script (the one beside this Python first)."
    exe = shutil.which("custseg", path=str(Path(sys.executable).parent)) or shutil.which("custseg")
    assert exe, "the custseg console script is not installed (pip install -e .)"
    return exe


def custseg(*args, cwd=None, timeout=600, env=None):
    "Run the installed `custseg` console script; returns the CompletedProcess (never raises on exit status)."
    return subprocess.run([custseg_exe(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@dataclass
class Run:
    "What a `custseg` run left: exit status, standard output, standard error (as subprocess.CompletedProcess names them)."
    returncode: int
    stdout: str
    stderr: str


def run(*args) -> Run:
    "`custseg ARGS` in this process (`cli.main`), capturing its output and exit status; an escaping exception is a traceback and 1."
    from custseg_nb.cli import main
    out, err, root = io.StringIO(), io.StringIO(), logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main sets logging up afresh (force=True): give pytest's back after
    with redirect_stdout(out), redirect_stderr(err):
        try: status = main([str(a) for a in args])
        except SystemExit as e: status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception: traceback.print_exc(file=err); status = 1
        finally:
            for h in root.handlers[:]:
                if h not in handlers: root.removeHandler(h)
            for h in handlers:
                if h not in root.handlers: root.addHandler(h)
            root.setLevel(level)
    return Run(status, out.getvalue(), err.getvalue())


def one_error_line(r) -> str:
    "The single `custseg: error:` line of a failed run (after any progress lines), asserting it is the last and the status is 2."
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("custseg: error:")]
    assert len(errors) == 1 and r.stderr.strip().splitlines()[-1] == errors[0], r.stderr
    return errors[0]


def listing(folder:Path) -> dict[str, bytes]:
    "Every file in the folder with its bytes."
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    "A session copy of the model `custseg train` makes on the embedded sample (`sample_model`, trained once per code version)."
    from custseg_nb.training import sample_model
    return Path(shutil.copytree(sample_model().folder, tmp_path_factory.mktemp("session-model")/"artifacts"))


@pytest.fixture
def model_copy(model, tmp_path):
    "A copy of the session's model that the test may change, break or retrain into."
    return Path(shutil.copytree(model, tmp_path/"model-copy"))


_ZYGOTE = r"""
import json, os, sys, threading
from custseg_nb import cli
import custseg_nb.training  # imported once here: every command below runs in a fork of this process
def reap(pid):
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}), flush=True)
for line in sys.stdin:
    args = json.loads(line)
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2): os.dup2(null, fd)
        os._exit(cli.main(args))
    print(json.dumps({"started": pid}), flush=True)
    threading.Thread(target=reap, args=(pid,), daemon=True).start()
"""


class Forked:
    "A `custseg` command running in a fork of the zygote: `poll`, `wait`, `send_signal` and `returncode` as subprocess.Popen has them."
    def __init__(self, zygote, args):
        self.zygote = zygote
        zygote.proc.stdin.write(json.dumps([str(a) for a in args]) + "\n"); zygote.proc.stdin.flush()
        self.pid, self.returncode = zygote.started.get(timeout=60), None

    def poll(self):
        if self.returncode is None: self.returncode = self.zygote.finished.pop(self.pid, None)
        return self.returncode

    def wait(self, timeout=600):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline: raise subprocess.TimeoutExpired(str(self.pid), timeout)
            self.zygote.done.wait(0.01); self.zygote.done.clear()
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            try: os.kill(self.pid, sig)
            except ProcessLookupError: pass


class Zygote:
    "A process that imported the package once and forks a child per `custseg` command: a training's start-up without the imports."
    def __init__(self, env=None):
        import queue, threading
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.started, self.finished, self.done = queue.Queue(), {}, threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "started" in msg: self.started.put(msg["started"])
            else: self.finished[msg["pid"]] = msg["status"]; self.done.set()

    def start(self, *args) -> Forked:
        "Run `custseg ARGS` in a fork (output discarded)."
        return Forked(self, args)

    def close(self):
        self.proc.stdin.close()
        try: self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()


@pytest.fixture(scope="session")
def zygote():
    "Forks of one process that imported custseg_nb: for tests that start many trainings and kill them."
    z = Zygote(env={"OMP_NUM_THREADS": "1"})
    try: yield z
    finally: z.close()


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


def get(url:str, timeout:float=240) -> tuple[int, str]:
    "Status and body of a GET (Voila answers once the page notebook has run)."
    import urllib.error, urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()


class AppServer:
    "A running `custseg app` subprocess: its URL, artifacts folder, log file and start time; `env` adds to the environment."
    def __init__(self, port, artifacts, log, env=None, cwd=None):
        self.port, self.artifacts, self.log = port, artifacts, log
        self.url = f"http://127.0.0.1:{port}/"
        self._log = log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([custseg_exe(), "app", "--port", str(port), "--artifacts", str(artifacts)],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
                                     env={**os.environ, **(env or {})})

    def wait_until_listening(self, timeout=240):
        "Block until the server accepts connections on its port; fail with its log if it exits or times out."
        import socket
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
def app_server(model, output_dir):
    "`custseg app` on a free port serving the session's model; stopped even on failure."
    # a closed page's kernel lives until it is culled (minutes): room for every page a module's tests open, so the cap
    # on open pages (tested in test_faults_app) never refuses one here
    server = AppServer(free_port(), model, output_dir/"custseg_app.log", env={"CUSTSEG_MAX_PAGES": "12"})
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
