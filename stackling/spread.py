"""``stackling start --spread``: the topology as separate OS processes, as a deployment runs it.

The supervisor (the process ``start --spread`` runs) prepares the shared database once
(schema, Keystone's bootstrap, flavors, aggregates: what ``keystone-manage bootstrap`` and
``nova-manage db sync`` do), binds each API's port once, then starts one ``stackling
start --only ...`` child per service and host:

- keystone, nova-api, cinder-api, glance-api, neutron-server: N workers each, accepting
  from the API's listening socket inherited from the supervisor (``workers()``);
- nova-scheduler, nova-conductor, nova-novncproxy, cinder-scheduler (on the topology's
  controller; nova-novncproxy is the one process with the console listeners: the proxy,
  which checks the tokens any nova-api worker stored in the database, and the fake
  hypervisors' VNC and SPICE servers);
- one nova-compute per compute host, one cinder-volume per backend.

Each child has its own data dir (``<data-dir>/spread/<name>``: log, pid file, run state,
volume files) and shares the database, RabbitMQ and the config dir with the others. The
data dir's run state lists the children: ``stackling status`` shows them, ``stackling
stop`` stops them. A child that exits is reported, restarted (with a doubling backoff)
only with ``--restart``; ``stackling start --spread`` on a running cloud starts the
children that are down.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from stackling import runstate
from stackling.seams import API_AREAS
from stackling.settings import Settings

LOG = logging.getLogger("stackling.spread")

SPREAD_DIR = "spread"
CONTROL = ("nova-scheduler", "nova-conductor", "nova-novncproxy", "cinder-scheduler")
SHARED_DATABASES = ("postgresql", "mysql", "mariadb")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
READY_TIMEOUT = 180.0


def workers(config) -> dict[str, int]:
    """Worker processes of each API, by the services' own option names."""
    return {"keystone": config.stackling.eventlet_server.public_workers,
            "nova-api": config.nova.osapi_compute_workers,
            "cinder-api": config.cinder.osapi_volume_workers,
            "glance-api": config.glance.workers,
            "neutron-server": config.neutron.api_workers}


def problems(settings: Settings, config) -> list[str]:
    """Why these options cannot be spread over processes (empty: they can)."""
    from sqlalchemy.engine import make_url

    from stackling.conf.services import SERVICE_USER_GROUPS, authtoken_configured

    out = []
    url = settings.database_url or config.stackling.database.connection
    if settings.only:
        out.append("--spread starts every service: leave out --only")
    if not url or make_url(url).get_backend_name() not in SHARED_DATABASES:
        out.append("the processes share one database: set --database-url or [database] "
                   "connection in stackling.conf to a PostgreSQL or MariaDB URL "
                   "(SQLite is one process's)")
    for project in ("nova", "cinder"):
        transport = getattr(config, project).transport_url or ""
        if not transport.startswith("rabbit://"):
            out.append(f"the processes talk over RabbitMQ: set [DEFAULT] transport_url = "
                       f"rabbit://USER:PASSWORD@HOST:5672/ in {project}.conf")
    for project, file in (("nova", "nova.conf"), ("cinder", "cinder.conf"),
                          ("glance", "glance-api.conf"), ("neutron", "neutron.conf")):
        if not authtoken_configured(getattr(config, project)):
            out.append(f"the APIs check tokens with Keystone over HTTP: set "
                       f"[keystone_authtoken] auth_url, username, password and project_name "
                       f"in {file}")
    for project, group in SERVICE_USER_GROUPS.items():
        if not authtoken_configured(getattr(config, project), group):
            out.append(f"{project} calls {group}'s admin API as a service user: set "
                       f"[{group}] auth_url, username, password and project_name in "
                       f"{project}.conf")
    return out


@dataclass
class Proc:
    """One child: a service (on a host), started as ``stackling start --only ONLY``."""

    name: str
    service: str
    host: str
    only: str
    pid: int | None = None
    exit_code: int | None = None
    restarts: int = 0
    popen: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    next_start: float | None = None
    backoff: float = BACKOFF_FIRST

    @property
    def api(self) -> str | None:
        return API_AREAS.get(self.service)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.exit_code is None


def plan(config, topology, backends: list[str]) -> list[Proc]:
    """The processes of the topology, APIs first."""
    procs = []
    for service, n in workers(config).items():
        for i in range(1, n + 1):
            name = service if n == 1 else f"{service}-{i}"
            procs.append(Proc(name, service, topology.controller, service))
    procs += [Proc(s, s, topology.controller, s) for s in CONTROL]
    procs += [Proc(f"nova-compute-{h.name}", "nova-compute", h.name,
                   f"nova-compute={h.name}") for h in topology.compute_hosts]
    procs += [Proc(f"cinder-volume-{b}", "cinder-volume", b, f"cinder-volume={b}")
              for b in backends]
    return procs


def prepare_database(settings: Settings, config) -> list[str]:
    """Migrate and seed the shared database once; returns the cinder-volume backends.

    When no process of an earlier run of this data dir lives (a first start, or one
    after the whole tree was killed), no request can own a quota reservation: they are
    rolled back and usage recounted here, as one process does at start. The children's
    own repair cannot (another API process may be between its row and its commit)."""
    from stackling.cloud import Cloud
    from stackling.volume.objects import backends, quota

    cloud = Cloud(settings, config)
    try:
        cloud.setup()
        left = leftovers(settings.data_dir)
        if left:
            LOG.warning("processes of an earlier run still live (pids %s): quota "
                        "reservations are left to expire", ", ".join(map(str, left)))
        elif quota.expire_reservations(cloud) + quota.resync(cloud):
            LOG.warning("quota reservations of the earlier run rolled back, usage recounted")
        return [spec.name for spec in backends.backends(cloud)]
    finally:
        cloud.rpc.stop()
        cloud.db.dispose()


def bind_apis(settings: Settings) -> dict[str, socket.socket]:
    """Each API's listening socket, bound once here and inherited by its workers."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    out: dict[str, socket.socket] = {}
    try:
        for api in API_AREAS.values():
            sock = socket.create_server((settings.host, settings.port(api)), family=family,
                                        backlog=128)
            sock.set_inheritable(True)
            out[api] = sock
    except OSError:
        for sock in out.values():
            sock.close()
        raise
    return out


class Supervisor:
    """Starts the children, notices those that exit, restarts them when asked to."""

    def __init__(self, settings: Settings, procs: list[Proc],
                 sockets: dict[str, socket.socket], restart: bool) -> None:
        self.settings, self.procs, self.sockets, self.restart = settings, procs, sockets, \
            restart

    def child_dir(self, proc: Proc) -> Path:
        return self.settings.data_dir / SPREAD_DIR / proc.name

    def command(self, proc: Proc) -> list[str]:
        s = self.settings
        cmd = [sys.executable, "-m", "stackling", "start", "--only", proc.only,
               "--data-dir", str(self.child_dir(proc)), "--config-dir", str(s.config_dir),
               "--host", s.host, "--port-offset", str(s.port_offset)]
        if s.database_url:
            cmd += ["--database-url", s.database_url]
        if s.topology_file:
            cmd += ["--topology", str(s.topology_file)]
        return cmd

    def spawn(self, proc: Proc) -> None:
        from stackling.cli import DETACHED_ENV
        from stackling.web.server import LISTEN_ENV

        logs = self.child_dir(proc) / "logs"
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, DETACHED_ENV: "1"}
        fds: tuple[int, ...] = ()
        if proc.api:
            fds = (self.sockets[proc.api].fileno(),)
            env[LISTEN_ENV] = f"{proc.api}:{fds[0]}"
        fd = os.open(logs / "console.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as console:
            # Its own session: a Ctrl-C of the supervisor's terminal reaches the
            # supervisor only, which stops the children in order.
            proc.popen = subprocess.Popen(self.command(proc), stdin=subprocess.DEVNULL,
                                          stdout=console, stderr=console, pass_fds=fds,
                                          env=env, start_new_session=True)
        proc.pid, proc.exit_code, proc.next_start = proc.popen.pid, None, None
        proc.started_at = time.monotonic()
        LOG.info("started %s (pid %d): --only %s, data dir %s", proc.name, proc.pid,
                 proc.only, self.child_dir(proc))

    def start_all(self) -> None:
        for proc in self.procs:
            self.spawn(proc)

    def start_down(self) -> None:
        """Start every child that is not running now (backoff reset)."""
        for proc in self.procs:
            if not proc.running:
                proc.backoff = BACKOFF_FIRST
                if proc.popen is not None:
                    proc.restarts += 1
                self.spawn(proc)

    def poll(self) -> bool:
        """Notice exits, start what ``--restart`` scheduled; True when something changed."""
        changed, now = False, time.monotonic()
        for proc in self.procs:
            if proc.running and proc.popen.poll() is not None:
                proc.exit_code, changed = proc.popen.returncode, True
                LOG.error("%s (pid %d) exited with %d; log: %s", proc.name, proc.pid,
                          proc.exit_code, self.child_dir(proc) / "logs")
                if self.restart:
                    if now - proc.started_at > BACKOFF_MAX:    # it had been running fine
                        proc.backoff = BACKOFF_FIRST
                    proc.next_start = now + proc.backoff
                    LOG.info("restarting %s in %.0f s", proc.name, proc.backoff)
                    proc.backoff = min(proc.backoff * 2, BACKOFF_MAX)
            elif proc.next_start is not None and now >= proc.next_start:
                proc.restarts += 1
                self.spawn(proc)
                changed = True
        return changed

    def serving(self, proc: Proc) -> bool:
        state = runstate.read(self.child_dir(proc))
        return bool(state and state["pid"] == proc.pid and state.get("serving"))

    def wait_ready(self, stop: threading.Event) -> list[Proc]:
        """Wait until every child serves; returns those that exited or timed out."""
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = list(self.procs)
        while waiting and not stop.is_set():
            self.poll()
            failed = [p for p in waiting if not p.running and p.next_start is None]
            if failed:
                return failed
            waiting = [p for p in waiting if not self.serving(p)]
            if time.monotonic() > deadline:
                return waiting
            stop.wait(0.1)
        return []

    def record(self, serving: bool) -> None:
        runstate.record(self.settings, os.getpid(), serving, spread=True,
                        processes=[self.view(p) for p in self.procs])

    def view(self, proc: Proc) -> dict:
        return {"name": proc.name, "service": proc.service, "host": proc.host,
                "pid": proc.pid, "exit_code": proc.exit_code, "restarts": proc.restarts,
                "data_dir": str(self.child_dir(proc))}

    def stop_all(self, timeout: float = 15.0) -> None:
        for proc in self.procs:
            if proc.running:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if not proc.running:
                continue
            try:
                proc.popen.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                LOG.warning("%s (pid %d) did not stop in %.0f s: killed", proc.name,
                            proc.pid, timeout)
                proc.popen.kill()
                proc.popen.wait()
        for sock in self.sockets.values():
            sock.close()


def run(settings: Settings, restart: bool) -> int:
    """The supervisor, in the foreground: start, watch, stop on SIGTERM/SIGINT."""
    from stackling import conf
    from stackling.cli import usage_text, write_clouds_yaml
    from stackling.topology import Topology

    config = conf.load(settings.config_dir)
    found = problems(settings, config)
    if found:
        for text in found:
            LOG.error("cannot spread: %s", text)
        return 2
    try:
        sockets = bind_apis(settings)
    except OSError as exc:
        LOG.error("cannot listen: %s", exc)
        return 1
    try:
        backends = prepare_database(settings, config)
    except Exception:
        LOG.exception("cannot prepare the database")
        for sock in sockets.values():
            sock.close()
        return 1
    sup = Supervisor(settings, plan(config, Topology.load(settings.topology_file), backends),
                     sockets, restart)
    stop, wake = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: wake.set())
    sup.start_all()
    sup.record(serving=False)
    failed = sup.wait_ready(stop)
    if failed:
        LOG.error("did not start: %s; see their logs in %s", ", ".join(
            p.name for p in failed), settings.data_dir / SPREAD_DIR)
        stop.set()
    else:
        write_clouds_yaml(settings, config)
        sup.record(serving=True)
        LOG.info("%d processes serve", len(sup.procs))
        sys.stdout.write(usage_text(settings))
        sys.stdout.flush()
    while not stop.wait(0.2):
        if wake.is_set():
            wake.clear()
            sup.start_down()
            sup.record(serving=True)
        if sup.poll():
            sup.record(serving=True)
    LOG.info("stopping %d processes", len(sup.procs))
    sup.stop_all()
    runstate.clear(settings, os.getpid())
    return 1 if failed else 0


# -- for status and stop ----------------------------------------------------------------


def process_states(state: dict) -> list[dict]:
    """Each child of a spread run state with its liveness: up, starting or dead."""
    out = []
    for p in state.get("processes", []):
        alive = bool(p.get("pid")) and runstate.alive(p["pid"])
        child = runstate.read(Path(p["data_dir"]))
        serving = alive and child is not None and child["pid"] == p["pid"] \
            and child.get("serving")
        out.append({**p, "alive": alive,
                    "state": "up" if serving else "starting" if alive else "dead"})
    return out


def ours(pid: int, data_dir: str) -> bool:
    """``pid`` is still the child started for ``data_dir`` (not a reused pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return data_dir.encode() in args and b"stackling" in args


def leftovers(data_dir: Path) -> list[int]:
    """The live processes started as children of a spread run of ``data_dir``."""
    mark = str(data_dir / SPREAD_DIR).encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stackling" in args and any(a.startswith(mark) for a in args):
            out.append(int(entry.name))
    return out


def stop_leftovers(state: dict, timeout: float) -> int:
    """Stop the children a dead supervisor left running; returns how many."""
    left = [p["pid"] for p in process_states(state) if p["alive"]
            and ours(p["pid"], p["data_dir"])]
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(runstate.alive(pid) for pid in left):
        time.sleep(0.05)
    for pid in left:
        if runstate.alive(pid):
            os.kill(pid, signal.SIGKILL)
    return len(left)
