"""The pid file and run state are replaced whole: a reader never sees a half-written file."""

from __future__ import annotations

import threading

from stackling import runstate
from stackling.settings import Settings


def test_readers_never_see_a_partial_run_state(tmp_path):
    settings = Settings(data_dir=tmp_path, port_offset=7)
    runstate.record(settings, 4242, serving=False)
    stop = threading.Event()
    seen: list = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(runstate.read(tmp_path))
            seen.append(settings.pid_file.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for pid in range(4242, 4242 + 2000):
            runstate.record(settings, pid, serving=True)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert seen and None not in seen
    texts = [s for s in seen if isinstance(s, str)]
    assert all(t.strip().isdigit() for t in texts)
    state = runstate.read(tmp_path)
    assert state["pid"] == 4242 + 1999 and state["port_offset"] == 7 and state["serving"]
    assert state["ports"] == {"identity": 5007, "compute": 8781, "volume": 8783,
                              "image": 9299}


def test_clear_leaves_another_process_state(tmp_path):
    settings = Settings(data_dir=tmp_path)
    runstate.record(settings, 111, serving=True)
    runstate.clear(settings, 222)
    assert runstate.read(tmp_path)["pid"] == 111
    runstate.clear(settings, 111)
    assert runstate.read(tmp_path) is None and not settings.pid_file.exists()


def test_a_zombie_is_not_alive():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(500):
        if not runstate.alive(proc.pid):
            break
        threading.Event().wait(0.01)
    # Exited but not reaped yet: kill(pid, 0) still succeeds, yet it is not running.
    assert not runstate.alive(proc.pid)
    proc.wait()
