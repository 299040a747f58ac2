"""Boot-from-volume throughput, one process on SQLite vs ``--spread`` on PostgreSQL +
RabbitMQ, side by side in one run, with the CPU each process spends per boot (issue 14).

Run: python bench/bench_spread.py [--modes sqlite,spread,spread-notify,spread-direct]
         [--clients 1,8,32]
         [--boots 64] [--image-mb 8] [--poll 0.02] [--poll-mode shared|each]
         [--warmup 64] [--port-offset 7300]
(the clouds' data directories go under $TMPDIR: point it at an XFS mount to have the
file backend clone images by reflink instead of copying them)
For each mode one cloud is started (`stackling start -d`, SQLite; or `stackling start
--spread -d` on a scratch PostgreSQL database, a RabbitMQ virtual host of its own, two
nova-api workers, pools of 5 + 10 connections per process; ``spread-notify`` also turns
on Cinder's notifications, which the nova-compute processes hear; ``spread-direct`` on top
of that has Glance show each image's location, ``show_image_direct_url``, and cinder-volume
read it, ``allowed_direct_url_schemes = file``), an image uploaded, quotas
lifted, ``--warmup`` boots made one after the other, not counted (imports, caches, pools, and
the machine's own first use of memory: on a fresh VM the first phase cost up to 3–5 times
the CPU per boot of the later ones); then for each client count ``--boots`` boots from volume
are split over the clients (each: POST /servers from a new 1 GiB volume made from the
image, then wait until it left BUILD: by default one thread lists the servers in BUILD
every ``--poll`` seconds for all clients, ``--poll-mode each`` has every client GET its
server), the phase timed from the first POST to the last ACTIVE, and the servers deleted
(untimed) before the next count. A boot still in BUILD after 300 s counts as failed.
CPU (user + system, psutil) of every process of the cloud, of this database's PostgreSQL
backends, of RabbitMQ and of this client is read around each phase and printed per boot,
by process, with the whole machine's busy cores (/proc/stat: what exited during the phase
included, such as PostgreSQL backends of connections closed) and the new PostgreSQL
sessions per boot (``pg_stat_database.sessions``: connections opened to the cloud's
database). Prints markdown.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import sqlalchemy as sa
from _common import machine, pct, tempdir
from bench_bfv import upload
from bench_compute import TOPOLOGY, Client, _project_id, token

from tests import rabbit
from tests.conftest import PG_ADMIN, _scratch_database
from tests.helpers import LiveCloud, write_config

TOPOLOGY_BFV = TOPOLOGY + """
volume_backends:
  - {host: controller2, backend: file, availability_zone: nova}
"""
# Nova polls Cinder back to back (the option is whole seconds; 0 = every 20 ms across
# processes, on the in-process notice in one process), bounded by the retry count.
NOVA = """[DEFAULT]
block_device_allocate_retries = 600
block_device_allocate_retries_interval = 0
"""
SPREAD_COMMON = """[DEFAULT]
transport_url = {rabbit}
control_exchange = {exchange}
"""


def _authtoken(offset: int, user: str, section: str = "keystone_authtoken") -> str:
    """A service user's keystoneauth options (as tests/e2e/test_two_processes.py)."""
    return (f"[{section}]\nauth_url = http://127.0.0.1:{5000 + offset}/v3\n"
            f"username = {user}\npassword = {user}-secret\nproject_name = service\n"
            "user_domain_name = Default\nproject_domain_name = Default\n")


# 2 cores: two nova-api workers (every client poll lands there), one of each other API.
STUCK = 300.0       # seconds in BUILD after which a boot counts as failed (stuck)
SPREAD_WORKERS = {"osapi_compute_workers": 2, "osapi_volume_workers": 1}
SPREAD_POOL = "[database]\nmax_pool_size = 5\nmax_overflow = 10\n"
NOTIFICATIONS = "[oslo_messaging_notifications]\ndriver = messagingv2\n"


class Single(LiveCloud):
    mode = "sqlite"

    def __init__(self, base: Path, offset: int) -> None:
        super().__init__(base, nova=NOVA, topology=TOPOLOGY_BFV)
        self.offset = offset

    def pids(self) -> dict[str, int]:
        return {"stackling (all services)":
                int((self.data_dir / "stackling.pid").read_text())}


class Spread(LiveCloud):
    mode = "spread"

    def __init__(self, base: Path, offset: int, database_url: str, transport_url: str,
                 workers: dict, notifications: bool = False, direct: bool = False) -> None:
        super().__init__(base, database_url=database_url, topology=TOPOLOGY_BFV)
        self.offset = offset
        # A virtual host of its own (tests/rabbit.py): control_exchange alone does not
        # keep another cloud's consumers off this cloud's server queues.
        fmt = {"rabbit": transport_url, "exchange": f"spreadbench-{uuid.uuid4().hex[:10]}"}
        nova = SPREAD_COMMON.format(**fmt) + NOVA.split("\n", 1)[1] + \
            f"osapi_compute_workers = {workers['osapi_compute_workers']}\n"
        cinder = SPREAD_COMMON.format(**fmt) + \
            f"osapi_volume_workers = {workers['osapi_volume_workers']}\n"
        if direct:   # cinder-volume reads the image's file rather than GET .../file
            cinder += "allowed_direct_url_schemes = file\n"
        if notifications:   # Cinder's notifications on: the computes hear creations end
            cinder += NOTIFICATIONS
        write_config(self.config_dir, fast_hash=False,
                     nova=nova + _authtoken(offset, "nova")
                     + _authtoken(offset, "neutron", "neutron"),
                     cinder=cinder + _authtoken(offset, "cinder")
                     + _authtoken(offset, "nova", "nova"))
        for project, file in (("glance", "glance-api.conf"), ("neutron", "neutron.conf")):
            (self.config_dir / file).write_text(_authtoken(offset, project))
        if direct:
            with open(self.config_dir / "glance-api.conf", "a") as f:
                f.write("[DEFAULT]\nshow_image_direct_url = true\n")
        # 13 processes on a PostgreSQL of 100 connections shared with other clouds (the
        # default 10 kept by each made "too many clients already"): 5 kept each, 10 more
        # (a checkout waits a moment for a kept one before it opens one of these:
        # stackling/db/api.py PatientPool).
        with open(self.config_dir / "stackling.conf", "a") as f:
            f.write(SPREAD_POOL)

    def start(self) -> None:
        r = self.stackling("start", "--spread", "-d")
        assert r.returncode == 0, r.stderr
        w = self.stackling("wait", "--timeout", "180", timeout=200)
        if w.returncode != 0:
            self.stop()
            raise AssertionError((w.stderr, self.log()))

    def pids(self) -> dict[str, int]:
        r = self.stackling("status", "--format", "json")
        return {p["name"]: p["pid"] for p in json.loads(r.stdout)["processes"]}


def _rabbit() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"])
            if (p.info["name"] or "") in ("beam.smp", "epmd")]


def _backends(database: str) -> list[psutil.Process]:
    """PostgreSQL's backends serving ``database`` now (their command line names it)."""
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if (p.info["name"] or "").startswith("postgres") and \
                database in " ".join(p.info["cmdline"] or ()):
            out.append(p)
    return out


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


PG = "postgresql (this cloud's backends)"


class CpuMeter:
    """CPU seconds of each named process (with its children), of RabbitMQ (the whole
    broker: other clouds of the machine included), of this cloud's PostgreSQL backends
    (those alive at the end of a phase: a backend that exits meanwhile is not counted,
    so a lower bound) and of this client."""

    def __init__(self, cloud: LiveCloud) -> None:
        self.groups: dict[str, list[psutil.Process]] = {}
        for name, pid in cloud.pids().items():
            p = psutil.Process(pid)
            self.groups[name] = [p, *p.children(recursive=True)]
        self.groups["rabbitmq (whole broker)"] = _rabbit()
        self.groups["bench client (this process)"] = [psutil.Process()]
        self.database = cloud.database_url.rsplit("/", 1)[1] if cloud.database_url \
            else None
        self._pg: dict[int, float] = {}
        self._admin = sa.create_engine(PG_ADMIN, poolclass=sa.pool.NullPool) \
            if self.database else None

    def machine(self) -> tuple[float, float]:
        """(busy, all) CPU time of the whole machine so far, in ticks of all its cores
        (/proc/stat; idle and iowait are not busy)."""
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)

    def sessions(self) -> int:
        """Sessions opened to the cloud's database so far (PostgreSQL 14+); 0 on SQLite."""
        if self._admin is None:
            return 0
        with self._admin.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT sessions FROM pg_stat_database WHERE datname = %(db)s",
                {"db": self.database}).scalar_one()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()

    def read(self) -> dict[str, float]:
        out = {name: _cpu(procs) for name, procs in self.groups.items()}
        if self.database:
            # per backend: its CPU so far; one that started after the last read counts
            # from 0, so the difference of two reads is the CPU spent between them
            now = {p.pid: _cpu([p]) for p in _backends(self.database)}
            out[PG] = sum(now.values())
            self._pg_prev, self._pg = self._pg, now
        return out

    def pg_delta(self) -> float:
        return sum(cpu - self._pg_prev.get(pid, 0.0) for pid, cpu in self._pg.items())


def _group(name: str) -> str:
    """nova-api-1, nova-api-2 → nova-api; nova-compute-controller1 stays."""
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() else name


class SharedPoller:
    """One thread lists the project's servers in BUILD (``GET /v2.1/servers?status=BUILD``)
    every ``poll`` seconds for all clients, so the polling load does not grow with the
    clients (32 clients polling each server every 50 ms were 640 GETs/s, more than the
    boots' own work). A client waits for a list that started after its POST returned
    and no longer holds its server, then reads the server once."""

    def __init__(self, cloud: LiveCloud, tok: str, poll: float) -> None:
        self.client = Client(cloud.url("compute"), tok)
        self.poll = poll
        self.cond = threading.Condition()
        self.started = 0        # lists sent so far
        self.done = 0           # the latest answered list's number
        self.building: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.cond:
                self.started += 1
                n = self.started
            try:
                _, body = self.client.call("GET", "/v2.1/servers?status=BUILD&limit=1000")
                ids = {s["id"] for s in body["servers"]}
            except Exception:       # noqa: BLE001 - the next round tries again
                self.client = Client(self.client_url, self.client.headers["X-Auth-Token"])
                continue
            with self.cond:
                self.done, self.building = n, ids
                self.cond.notify_all()
            self.stop.wait(self.poll)

    @property
    def client_url(self) -> str:
        return f"http://{self.client.conn.host}:{self.client.conn.port}"

    def mark(self) -> int:
        with self.cond:
            return self.started

    def wait(self, sid: str, after: int, timeout: float = 600) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.done > after and sid not in self.building,
                               timeout)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def phase(cloud: LiveCloud, tok: str, img: str, project_id: str, clients: int, boots: int,
          poll: float, meter: CpuMeter, shared: bool) -> dict:
    per_client = max(1, boots // clients)
    times: list[float] = []
    errors: list[str] = []
    made: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    poller = SharedPoller(cloud, tok, poll) if shared else None

    def worker(n: int) -> None:
        c = Client(cloud.url("compute"), tok)
        start.wait()
        for i in range(per_client):
            t0 = time.perf_counter()
            try:
                status, body = c.call("POST", "/v2.1/servers", {"server": {
                    "name": f"b{clients}-{n}-{i}", "imageRef": "", "flavorRef": "42",
                    "networks": "none", "block_device_mapping_v2": [{
                        "boot_index": 0, "uuid": img, "source_type": "image",
                        "destination_type": "volume", "volume_size": 1,
                        "delete_on_termination": True}]}})
                if status != 202:
                    with lock:
                        errors.append(f"{status} {body}")
                    continue
                sid = body["server"]["id"]
                mark = poller.mark() if poller else 0
                give_up = time.monotonic() + STUCK
                while time.monotonic() < give_up:
                    if poller:
                        poller.wait(sid, mark, timeout=give_up - time.monotonic())
                    status, body = c.call("GET", f"/v2.1/servers/{sid}")
                    if body["server"]["status"] != "BUILD":
                        break
                    if poller:
                        mark = poller.mark()
                    else:
                        time.sleep(poll)
            except Exception as exc:    # a client timeout is a failed boot, counted
                with lock:
                    errors.append(repr(exc))
                c = Client(cloud.url("compute"), tok)
                continue
            with lock:
                made.append((sid, ""))
                if body["server"]["status"] == "ACTIVE":
                    times.append(time.perf_counter() - t0)
                elif body["server"]["status"] == "BUILD":
                    errors.append(f"stuck in BUILD/{body['server']['OS-EXT-STS:task_state']}")
                else:
                    errors.append(str(body["server"].get("fault")))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    before = meter.read()
    machine0, sessions0 = meter.machine(), meter.sessions()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = meter.read()
    machine1, sessions1 = meter.machine(), meter.sessions()
    if poller:
        poller.close()
    cpu = {name: after[name] - before[name] for name in after if name != PG}
    if PG in after:
        cpu[PG] = meter.pg_delta()
    left = _delete_all(cloud, tok, project_id, [sid for sid, _ in made])
    n = len(times)
    return {"left": left, "clients": clients, "n": n, "failed": len(errors), "wall": wall,
            "rate": n / wall if wall else 0.0, "p50": pct(times, 50) * 1000,
            "p99": pct(times, 99) * 1000, "cpu": cpu,
            "machine_cores": (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
            * psutil.cpu_count(),
            "sessions": (sessions1 - sessions0) / n if n else float("nan"),
            "first_error": errors[0] if errors else ""}


def _delete_all(cloud: LiveCloud, tok: str, project_id: str, sids: list[str]) -> int:
    """Delete the phase's servers (their volumes go with them) and wait until none is
    left; a DELETE that failed is sent again. Returns how many servers and volumes are
    still there after 300 s (0: all gone)."""
    c = Client(cloud.url("compute"), tok)
    cv = Client(cloud.url("volume"), tok)
    for sid in sids:
        c.call("DELETE", f"/v2.1/servers/{sid}")
    deadline = time.monotonic() + 300
    left = 0
    while time.monotonic() < deadline:
        _, body = c.call("GET", "/v2.1/servers/detail?all_tenants=1")
        _, vols = cv.call("GET", f"/v3/{project_id}/volumes")
        left = len(body["servers"]) + len(vols["volumes"])
        if not left:
            return 0
        for server in body["servers"]:
            if server["OS-EXT-STS:task_state"] != "deleting":
                c.call("DELETE", f"/v2.1/servers/{server['id']}")
        time.sleep(0.5)
    return left


def run_mode(mode: str, offset: int, clients: list[int], boots: int, image_mb: int,
             poll: float, shared: bool, warmup: int = 1) -> list[dict]:
    base = tempdir()
    databases = None
    stack = contextlib.ExitStack()
    if mode in ("spread", "spread-notify", "spread-direct"):
        databases = _scratch_database(PG_ADMIN, "postgresql")
        url = stack.enter_context(rabbit.vhost("spreadbench"))
        cloud = Spread(base, offset, next(databases), url, SPREAD_WORKERS,
                       notifications=mode in ("spread-notify", "spread-direct"),
                       direct=mode == "spread-direct")
    else:
        cloud = Single(base, offset)
    t0 = time.perf_counter()
    cloud.start()
    started = time.perf_counter() - t0
    try:
        tok = token(cloud)
        img = upload(cloud, tok, image_mb)
        project_id = _project_id(cloud, tok)
        Client(cloud.url("compute"), tok).call(
            "PUT", f"/v2.1/os-quota-sets/{project_id}", {"quota_set": {
                "instances": -1, "cores": -1, "ram": -1}})
        Client(cloud.url("volume"), tok).call(
            "PUT", f"/v3/{project_id}/os-quota-sets/{project_id}", {"quota_set": {
                "volumes": -1, "gigabytes": -1}})
        meter = CpuMeter(cloud)
        # warm-up boots (imports, caches, connection pools, memory), not counted
        phase(cloud, tok, img, project_id, 1, max(1, warmup), poll, meter, shared)
        out = []
        for n in clients:
            r = phase(cloud, tok, img, project_id, n, boots, poll, meter, shared)
            r.update(mode=mode, started=started, processes=len(meter.groups))
            out.append(r)
            print(f"<!-- {mode} {n} clients: {r['n']} boots, {r['rate']:.1f}/s, "
                  f"p50 {r['p50']:.0f} ms, failed {r['failed']} {r['first_error'][:200]}, "
                  f"left after delete {r['left']} -->",
                  file=sys.stderr, flush=True)
        meter.close()
        return out
    finally:
        cloud.stop()
        if databases is not None:
            next(databases, None)
        stack.close()


def _fstype(path: str) -> str:
    """The filesystem type under ``path`` (the longest mount point above it)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype = line.split()[:3]
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def report(results: list[dict], args) -> None:
    print("### Boot from volume: one process on SQLite vs --spread on PostgreSQL + "
          "RabbitMQ\n")
    print(f"Machine: {machine()}; load average before the run: {args.load}\n")
    print(f"`python bench/bench_spread.py --modes {args.modes} --clients {args.clients} "
          f"--boots {args.boots} --image-mb {args.image_mb} --poll {args.poll} "
          f"--poll-mode {args.poll_mode} --warmup {args.warmup}`; data directories under "
          f"{tempfile.gettempdir()} ({_fstype(tempfile.gettempdir())})\n")
    print("| mode | clients | boots | failed | boots/s | p50 ms | p99 ms | CPU per boot "
          "(all processes) | left after delete |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        total = sum(r["cpu"].values()) / r["n"] if r["n"] else float("nan")
        print(f"| {r['mode']} | {r['clients']} | {r['n']} | {r['failed']} | "
              f"{r['rate']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | {total * 1000:.0f} ms | "
              f"{r['left']} |")
    for mode in dict.fromkeys(r["mode"] for r in results):
        rows = [r for r in results if r["mode"] == mode]
        names: dict[str, None] = {}
        for r in rows:
            for name in r["cpu"]:
                names[_group(name)] = None
        print(f"\nCPU ms per boot by process, {mode}:\n")
        print("| process | " + " | ".join(f"{r['clients']} clients" for r in rows) + " |")
        print("|---|" + "---:|" * len(rows))
        grouped = []
        for r in rows:
            g: dict[str, float] = collections.defaultdict(float)
            for name, sec in r["cpu"].items():
                g[_group(name)] += sec
            grouped.append(g)
        for name in sorted(names, key=lambda k: -sum(g[k] for g in grouped)):
            print(f"| {name} | " + " | ".join(
                f"{g[name] / r['n'] * 1000:.1f}" if r["n"] else "–"
                for g, r in zip(grouped, rows)) + " |")
        print("| these processes, cores busy (psutil) | " + " | ".join(
            f"{sum(r['cpu'].values()) / r['wall']:.2f}" for r in rows) + " |")
        print("| whole machine, cores busy (/proc/stat) | " + " | ".join(
            f"{r['machine_cores']:.2f}" for r in rows) + " |")
        if any(r["sessions"] for r in rows):
            print("| new PostgreSQL sessions per boot | " + " | ".join(
                f"{r['sessions']:.2f}" for r in rows) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="sqlite,spread")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--boots", type=int, default=64, help="boots per client count")
    ap.add_argument("--image-mb", type=int, default=8)
    ap.add_argument("--poll", type=float, default=0.02,
                    help="seconds between a client's GETs of its server")
    ap.add_argument("--poll-mode", choices=["shared", "each"], default="shared",
                    help="shared: one lister of the servers in BUILD for all clients; "
                         "each: every client GETs its server every --poll seconds")
    ap.add_argument("--warmup", type=int, default=64,
                    help="boots at one client before the measured phases, not counted")
    ap.add_argument("--port-offset", type=int, default=7300)
    args = ap.parse_args()
    args.load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    clients = [int(c) for c in args.clients.split(",")]
    results = []
    for i, mode in enumerate(args.modes.split(",")):
        results += run_mode(mode, args.port_offset + 100 * i, clients, args.boots,
                            args.image_mb, args.poll, args.poll_mode == "shared", args.warmup)
    report(results, args)


if __name__ == "__main__":
    # a timeout's SIGTERM still stops the clouds and drops the scratch database
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
