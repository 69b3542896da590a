"""Faults around `custseg app`, each on a real server: page kernels nobody reclaims, more pages than the machine
should hold, a working folder holding modules named like Voila's, and the server killed with SIGKILL. Plain HTTP GETs
start page kernels, as any web page the user visits could; a server's kernels are its `ipykernel_launcher` processes.
Server logs go to test-output/.

The first three tests share one server (`app`: started in a folder of look-alike modules, with a short idle time and a
low cap on pages), each leaving it without kernels; the kill test, last, kills it (`app` starts another for any later
test). Two servers racing for one port are tested in test_faults_app_port.py."""
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil  # installed with ipykernel and distributed
import pytest

from conftest import AppServer, free_port, get
from custseg_nb.serve import PAGE_NOTEBOOK, check_port

IDLE_SECONDS = 6  # CUSTSEG_KERNEL_IDLE_SECONDS here: a closed page's kernel is shut down within 6 s (120 by default)
MAX_PAGES = 2  # CUSTSEG_MAX_PAGES here (4 by default)
SLACK = 10  # seconds on top, for a loaded machine
LOOK_ALIKES = ("voila.py", "tornado.py", "voila_config.py", "ipykernel_launcher.py")  # in the server's working folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    "The servers' working folder: a `voila.py`, a `tornado.py`, a `voila_config.py` and an `ipykernel_launcher.py`, each of which would leave its name in `ran/` if run."
    folder = tmp_path_factory.mktemp("workdir")
    marker = folder/"ran"
    for name in LOOK_ALIKES: (folder/name).write_text(f"open({str(marker/name)!r}, 'w').close()\n")
    marker.mkdir()
    return folder


@pytest.fixture(scope="module")
def servers(model, workdir, output_dir):
    "`custseg app` servers of this module, by start order; every one is stopped at the end, even on failure."
    started = []
    yield started
    for server in started: server.stop()


@pytest.fixture
def app(model, workdir, servers, output_dir):
    "The module's running server (started in `workdir`, culling after IDLE_SECONDS, at most MAX_PAGES pages); a new one if a test killed it."
    if not servers or servers[-1].proc.poll() is not None:
        servers.append(AppServer(free_port(), model, output_dir/f"custseg_app_faults_{len(servers)}.log", cwd=workdir,
                                 env={"CUSTSEG_KERNEL_IDLE_SECONDS": str(IDLE_SECONDS), "CUSTSEG_MAX_PAGES": str(MAX_PAGES)}))
        servers[-1].wait_until_listening()
    return servers[-1]


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


def test_closed_pages_are_reclaimed_and_pages_are_capped(app, capsys):
    server = app
    assert kernels(server) == []  # no page yet, no kernel (every test here leaves the server so)
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


def test_the_working_folder_is_never_imported_by_the_page(app, workdir):
    "`custseg app` started in a folder holding a `voila.py`, a `tornado.py` and a `voila_config.py` runs none of them."
    assert get(app.url)[0] == 200  # the page renders: Voila and a kernel really ran from this folder
    wait_for(lambda: kernels(app) == [], timeout=IDLE_SECONDS + 60)  # its kernel shut down too; and no kernel for the next test
    assert sorted(p.name for p in (workdir/"ran").iterdir()) == []


def test_kill_9_of_the_app_takes_voila_and_its_kernels_along(app, workdir, capsys):
    server = app
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
        assert sorted(p.name for p in (workdir/"ran").iterdir()) == []  # Voila shut down without running the working folder's modules
        with capsys.disabled():
            print(f"\nkill -9 of custseg app → Voila and its kernel gone, port free, after {time.monotonic() - killed:.1f} s")
    finally:
        for p in children:  # only what this test started, by pid
            try: p.kill()
            except psutil.NoSuchProcess: pass
        if setup.name.startswith("custseg-voila-"):  # a process killed with SIGKILL cannot remove its temporary folder
            shutil.rmtree(setup, ignore_errors=True)
