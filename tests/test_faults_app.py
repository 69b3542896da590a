"""Faults around `custseg app`, each on a real server: page kernels nobody reclaims, more pages than the machine
should hold, and the server killed with SIGKILL. Plain HTTP GETs start page kernels, as any web page the user visits
could; a server's kernels are its `ipykernel_launcher` processes. Server logs go to test-output/."""
import os
import shutil
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil  # installed with ipykernel and distributed
import pytest

from conftest import AppServer, free_port
from custseg_nb.serve import PAGE_NOTEBOOK, check_port

IDLE_SECONDS = 6  # CUSTSEG_KERNEL_IDLE_SECONDS here: a closed page's kernel is shut down within 6 s (120 by default)
MAX_PAGES = 2  # CUSTSEG_MAX_PAGES here (4 by default)
SLACK = 10  # seconds on top, for a loaded machine


@pytest.fixture(scope="module")
def artifacts(model):
    "The session's model: every server here serves it."
    return model


@pytest.fixture
def start_app(monkeypatch, output_dir):
    "Start `custseg app` servers with extra environment variables; every one is stopped at the end, even on failure."
    servers = []
    def start(artifacts, name, **env):
        for k, v in env.items(): monkeypatch.setenv(k, v)  # AppServer's process inherits this environment
        servers.append(AppServer(free_port(), artifacts, output_dir/f"custseg_app_{name}.log"))
        return servers[-1].wait_until_listening()
    yield start
    for server in servers: server.stop()


def get(url:str, timeout:float=240) -> tuple[int, str]:
    "Status and body of a GET (Voila answers once the page notebook has run)."
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()


def descendants(server:AppServer) -> list[psutil.Process]:
    "Every process under the `custseg app` process: Voila, and Voila's kernels."
    try: return psutil.Process(server.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess: return []


def named(procs:list[psutil.Process], word:str) -> list[psutil.Process]:
    "The processes whose command line mentions `word`."
    def cmdline(p):
        try: return " ".join(p.cmdline())
        except psutil.Error: return ""
    return [p for p in procs if word in cmdline(p)]


def kernels(server:AppServer) -> list[psutil.Process]: return named(descendants(server), "ipykernel_launcher")


def wait_for(condition, timeout:float, step:float=0.5) -> float:
    "Seconds until `condition()` held; fails after `timeout` seconds."
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout: pytest.fail(f"still not true after {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def test_closed_pages_are_reclaimed_and_pages_are_capped(artifacts, start_app, capsys):
    server = start_app(artifacts, "faults_kernels", CUSTSEG_KERNEL_IDLE_SECONDS=str(IDLE_SECONDS),
                       CUSTSEG_MAX_PAGES=str(MAX_PAGES))
    assert kernels(server) == []
    with ThreadPoolExecutor(MAX_PAGES) as pool:  # as many pages as allowed, at once
        pages = list(pool.map(get, [server.url]*MAX_PAGES))
    closed = time.monotonic()  # urllib never connects to a kernel: for the server these pages are gone
    assert [status for status, _ in pages] == [200]*MAX_PAGES
    assert all("<title>Customer segments</title>" in body for _, body in pages)
    assert len(kernels(server)) == MAX_PAGES

    status, body = get(server.url)  # one page too many: a message, and no kernel
    assert status == 503
    assert f"The scoring page is busy: {MAX_PAGES} pages are open. Close one, or try again in " in body
    assert "Traceback" not in body
    assert len(kernels(server)) == MAX_PAGES

    wait_for(lambda: kernels(server) == [], timeout=IDLE_SECONDS + 60)
    culled = time.monotonic() - closed
    assert culled <= IDLE_SECONDS + SLACK

    again = []  # the page opens again, and again its kernel goes
    for _ in range(1):
        assert get(server.url)[0] == 200
        gone = time.monotonic()
        assert len(kernels(server)) == 1
        wait_for(lambda: kernels(server) == [], timeout=IDLE_SECONDS + 60)
        again.append(time.monotonic() - gone)
    assert max(again) <= IDLE_SECONDS + SLACK
    with capsys.disabled():
        print(f"\n{MAX_PAGES} pages closed → {MAX_PAGES} kernels, none after {culled:.1f} s; one page → none after "
              f"{', '.join(f'{s:.1f}' for s in again)} s (CUSTSEG_KERNEL_IDLE_SECONDS={IDLE_SECONDS})")


def test_kill_9_of_the_app_takes_voila_and_its_kernels_along(artifacts, start_app, capsys):
    server = start_app(artifacts, "faults_kill")
    assert get(server.url)[0] == 200  # a page, so that there is a kernel too
    children = descendants(server)
    voila = named(children, "-m voila")
    assert len(voila) == 1 and len(named(children, "ipykernel_launcher")) == 1
    page_notebook = next(a for a in voila[0].cmdline() if a.endswith(PAGE_NOTEBOOK))
    setup = Path(page_notebook).parent  # serve's temporary folder (the page notebook's), which Voila reads
    os.kill(server.proc.pid, signal.SIGKILL)  # the custseg process only, not its group
    server.proc.wait()
    killed = time.monotonic()
    try:
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"left running after custseg app was killed: {[p.cmdline() for p in alive]}"
        check_port(server.port)  # a new `custseg app` could listen there
        with capsys.disabled():
            print(f"\nkill -9 of custseg app → Voila and its kernel gone, port free, after {time.monotonic() - killed:.1f} s")
    finally:
        for p in children:  # only what this test started, by pid
            try: p.kill()
            except psutil.NoSuchProcess: pass
        if setup.name.startswith("custseg-voila-"):  # a process killed with SIGKILL cannot remove its temporary folder
            shutil.rmtree(setup, ignore_errors=True)


def test_the_working_folder_is_never_imported_by_the_page(model, tmp_path, output_dir):
    "`custseg app` started in a folder holding a `voila.py`, a `tornado.py` and a `voila_config.py` runs none of them."
    import subprocess
    marker = tmp_path/"ran"
    for name in ("voila.py", "tornado.py", "voila_config.py", "ipykernel_launcher.py"):
        (tmp_path/name).write_text(f"open({str(marker/name)!r}, 'w').close()\n")
    marker.mkdir()
    server = AppServer(free_port(), model, output_dir/"custseg_app_hostile_folder.log", cwd=tmp_path)
    try:
        server.wait_until_listening()
        assert get(server.url)[0] == 200  # the page renders: Voila and a kernel really ran from this folder
    finally: server.stop()
    assert sorted(p.name for p in marker.iterdir()) == []


def test_two_apps_on_one_port_at_once_one_serves_the_other_says_so(model, tmp_path):
    "Both check the port before either binds it: the one that loses the race prints one line, exits 2 and leaves nothing."
    import subprocess, sys
    from conftest import custseg_exe
    port, scratch = free_port(), tmp_path/"tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    procs = [subprocess.Popen([custseg_exe(), "app", "--port", str(port), "--artifacts", str(model)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, start_new_session=True) for _ in range(2)]
    try:
        loser = None
        deadline = time.monotonic() + 240
        while loser is None and time.monotonic() < deadline:
            loser = next((p for p in procs if p.poll() is not None), None)
            time.sleep(0.1)
        assert loser is not None, "neither custseg app stopped: both listening on one port?"
        _, err = loser.communicate()
        assert (loser.returncode, err) == (2, f"custseg: error: port {port} on 127.0.0.1 is already in use: choose another with --port\n")
        winner = procs[1 - procs.index(loser)]
        assert winner.poll() is None and get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
    assert list(scratch.iterdir()) == []  # no voila_* folder, no setup folder: nothing left by either
