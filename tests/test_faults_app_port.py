"""Two `custseg app` servers started at once on one port (a fault around `custseg app`, beside test_faults_app.py: a file
of its own so that pytest's two workers, each running whole files, finish together)."""
import os
import signal
import time

from conftest import free_port, get


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
