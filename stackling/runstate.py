"""What a started cloud leaves in its data dir for the other commands: pid, address, ports."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from stackling.settings import DEFAULT_PORTS, Settings

STATE_FILE = "run-state.json"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one rename, so a reader sees the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def state_file(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def record(settings: Settings, pid: int, serving: bool, **extra) -> None:
    """Write the pid file and the run state of the cloud ``pid`` runs for ``settings``.

    ``serving`` is set by the cloud itself once its ports are bound: until then whatever
    answers on them is some other process. ``extra``: more keys (``--spread``: its
    processes).
    """
    state = {**extra, "pid": pid, "serving": serving,
             "host": settings.host, "port_offset": settings.port_offset,
             "ports": {name: settings.port(name) for name in DEFAULT_PORTS},
             "config_dir": str(settings.config_dir), "data_dir": str(settings.data_dir),
             "only": settings.only}
    write_atomic(state_file(settings.data_dir), json.dumps(state, indent=1) + "\n")
    write_atomic(settings.pid_file, f"{pid}\n")


def read(data_dir: Path) -> dict | None:
    """The run state, or None when there is none (never started, stopped) or it is unreadable."""
    try:
        state = json.loads(state_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int):
        return None
    return state


def clear(settings: Settings, pid: int) -> None:
    """Remove the pid file and run state, unless they already name another process."""
    state = read(settings.data_dir)
    if state is not None and state["pid"] != pid:
        return
    for path in (state_file(settings.data_dir), settings.pid_file):
        path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited process not yet reaped (a zombie) is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # NOTE: a detached cloud's parent has exited, so it is reaped by init, which may take
    # a while (seconds in some containers); until then kill(pid, 0) still succeeds.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (or gone meanwhile): the kill above has the say
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
