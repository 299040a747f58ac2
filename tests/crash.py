"""Crash consistency: a load of boot-from-volume/delete loops against a live cloud, a
``kill -9``, a restart, and the invariants every row must then satisfy.

Used by tests/functional/test_crash.py (fixed, short) and bench/bench_crash.py (longer).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from stackling.db.api import normalise_url
from tests import rabbit
from tests.helpers import LiveCloud

SETTLE = 60.0    # seconds a spread cloud's processes get to finish repairing each other's
NOVA = "[DEFAULT]\nblock_device_allocate_retries = 600\n" \
       "block_device_allocate_retries_interval = 0\n"


class Http:
    """One keep-alive connection with a token; any failure gives (0, None)."""

    def __init__(self, url: str, token: str, version: str | None = None) -> None:
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"X-Auth-Token": token, "Content-Type": "application/json",
                        "Accept": "application/json"}
        if version:
            self.headers["OpenStack-API-Version"] = version
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, method: str, path: str, body=None):
        try:
            self.conn.request(method, path, headers=self.headers,
                              body=json.dumps(body) if body is not None else None)
            resp = self.conn.getresponse()
            data = resp.read()
            return resp.status, (json.loads(data) if data else None)
        except (OSError, http.client.HTTPException, ValueError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            return 0, None


def admin_token(cloud: LiveCloud) -> tuple[str, str]:
    """(token, project id) of the admin."""
    u = urlparse(cloud.url("identity"))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", "/v3/auth/tokens", json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}),
        {"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    return resp.headers["X-Subject-Token"], body["token"]["project"]["id"]


def prepare(cloud: LiveCloud) -> str:
    """Unlimited quotas and a small raw image; returns the image id."""
    tok, project = admin_token(cloud)
    nova = Http(cloud.url("compute"), tok)
    nova.call("PUT", f"/v2.1/os-quota-sets/{project}", {"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}})
    cinder = Http(cloud.url("volume"), tok)
    cinder.call("PUT", f"/v3/{project}/os-quota-sets/{project}", {"quota_set": {
        "volumes": -1, "gigabytes": -1}})
    glance = Http(cloud.url("image"), tok)
    _, img = glance.call("POST", "/v2/images", {"name": "crash", "disk_format": "raw",
                                                "container_format": "bare"})
    u = urlparse(cloud.url("image"))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("PUT", f"/v2/images/{img['id']}/file", body=b"\1" * (1 << 20),
                 headers={"X-Auth-Token": tok, "Content-Type": "application/octet-stream"})
    assert conn.getresponse().status == 204
    return img["id"]


def load(cloud: LiveCloud, image_id: str, clients: int, stop: threading.Event,
         seed: int = 1) -> list[threading.Thread]:
    """Start ``clients`` threads booting servers from new volumes and deleting them (some
    while they build, some with an existing volume) until ``stop`` or the cloud dies."""
    tok, project = admin_token(cloud)

    def worker(n: int) -> None:
        rnd = random.Random(seed * 1000 + n)
        nova = Http(cloud.url("compute"), tok, "compute 2.100")
        cinder = Http(cloud.url("volume"), tok)
        while not stop.is_set():
            bdm = {"boot_index": 0, "uuid": image_id, "source_type": "image",
                   "destination_type": "volume", "volume_size": 1,
                   "delete_on_termination": True}
            if rnd.random() < 0.25:
                status, body = cinder.call("POST", f"/v3/{project}/volumes",
                                           {"volume": {"size": 1, "name": f"c{n}"}})
                if status != 202:
                    time.sleep(0.05)
                    continue
                bdm = {"boot_index": 0, "uuid": body["volume"]["id"],
                       "source_type": "volume", "destination_type": "volume",
                       "delete_on_termination": rnd.random() < 0.5}
                for _ in range(100):
                    s, b = cinder.call("GET", f"/v3/{project}/volumes/{bdm['uuid']}")
                    if s != 200 or b["volume"]["status"] != "creating":
                        break
                    time.sleep(0.02)
            status, body = nova.call("POST", "/v2.1/servers", {"server": {
                "name": f"crash{n}", "imageRef": "", "flavorRef": "1", "networks": "none",
                "block_device_mapping_v2": [bdm]}})
            if status != 202:
                time.sleep(0.05)
                continue
            sid = body["server"]["id"]
            if rnd.random() < 0.5:   # delete while it builds
                time.sleep(rnd.random() * 0.05)
            else:
                for _ in range(200):
                    s, b = nova.call("GET", f"/v2.1/servers/{sid}")
                    if s != 200 or b["server"]["status"] != "BUILD":
                        break
                    time.sleep(0.02)
            nova.call("DELETE", f"/v2.1/servers/{sid}")

    threads = [threading.Thread(target=worker, args=(n,), daemon=True)
               for n in range(clients)]
    for t in threads:
        t.start()
    return threads


class SpreadCloud(LiveCloud):
    """A cloud of `stackling start --spread` on its own database, RabbitMQ virtual host
    (tests/rabbit.py) and exchange, configured as a deployment is: transport, service
    users, [neutron] and [nova]."""

    def __init__(self, base: Path, database_url: str, exchange: str, transport_url: str
                 ) -> None:
        from tests.e2e.test_two_processes import _authtoken

        super().__init__(base, database_url=database_url)
        default = f"[DEFAULT]\ntransport_url = {transport_url}\n" \
                  f"control_exchange = {exchange}\n"
        nova = NOVA.replace("[DEFAULT]\n", default) + _authtoken(self.offset, "nova") + \
            _authtoken(self.offset, "neutron", "neutron")
        cinder = default + _authtoken(self.offset, "cinder") + \
            _authtoken(self.offset, "nova", "nova")
        for file, text in (("nova.conf", nova), ("cinder.conf", cinder),
                           ("glance-api.conf", _authtoken(self.offset, "glance")),
                           ("neutron.conf", _authtoken(self.offset, "neutron"))):
            with open(self.config_dir / file, "a") as f:
                f.write(text)

    def start(self, timeout: float = 240) -> None:
        assert self.stackling("start", "--spread", "-d").returncode == 0, self.log()[-2000:]
        w = self.stackling("wait", "--timeout", str(timeout), timeout=timeout + 20)
        assert w.returncode == 0, (w.stderr, self.log()[-3000:])

    def log(self) -> str:
        """The supervisor's log, then every child's."""
        logs = [self.data_dir / "logs" / "stackling.log",
                *sorted(self.data_dir.glob("spread/*/logs/stackling.log"))]
        return "".join(p.read_text() for p in logs if p.exists())


def cloud_pids(cloud: LiveCloud) -> list[int]:
    """The cloud's process and, for a spread cloud, the supervisor's children."""
    state = json.loads((cloud.data_dir / "run-state.json").read_text())
    return [state["pid"], *(p["pid"] for p in state.get("processes", []) if p.get("pid"))]


def kill_9(cloud: LiveCloud) -> None:
    """SIGKILL to the cloud's every process at once (the supervisor first: no child is
    stopped in order or restarted)."""
    pids = cloud_pids(cloud)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)


def database_url(cloud: LiveCloud) -> str:
    return normalise_url(cloud.database_url or f"sqlite:///{cloud.data_dir / 'stackling.db'}")


def inconsistencies(cloud: LiveCloud) -> list[str]:
    """Every row that breaks an invariant, one line each (empty: consistent)."""
    engine = sa.create_engine(database_url(cloud))
    bad: list[str] = []
    try:
        with engine.connect() as c:
            q = lambda sql: c.exec_driver_sql(sql).all()  # noqa: E731
            for uuid, vm, task in q("SELECT uuid, vm_state, task_state FROM compute_instance "
                                    "WHERE deleted = 0"):
                if vm == "building" or task in ("scheduling", "block_device_mapping",
                                                "networking", "spawning", "deleting"):
                    bad.append(f"server {uuid} {vm}/{task}")
            live = {r[0] for r in q("SELECT uuid FROM compute_instance WHERE deleted = 0")}
            vols = {r[0]: r for r in q("SELECT id, status, attach_status, project_id, size, "
                                       "use_quota, volume_type_id FROM volume")}
            for vid, status, *_ in vols.values():
                if status in ("creating", "downloading", "reserved", "attaching",
                              "detaching", "deleting"):
                    bad.append(f"volume {vid} {status}")
            atts: dict[str, list] = {}
            for aid, vid, inst, st in q("SELECT id, volume_id, instance_uuid, attach_status "
                                        "FROM volume_attachment"):
                atts.setdefault(vid, []).append(st)
                if vid not in vols:
                    bad.append(f"attachment {aid} of missing volume {vid}")
                if inst and inst not in live:
                    bad.append(f"attachment {aid} of volume {vid} to gone server {inst}")
            for vid, status, attach_status, *_ in vols.values():
                has = [s for s in atts.get(vid, []) if not s.startswith("error")]
                if status == "in-use" and not has:
                    bad.append(f"volume {vid} in-use without an attachment")
                if status == "available" and has:
                    bad.append(f"volume {vid} available with attachments {has}")
            types = dict(q("SELECT id, name FROM volume_type"))
            counted: dict[tuple[str, str], int] = {}
            for _, _, _, project, size, use_quota, type_id in vols.values():
                if not use_quota:
                    continue
                for res, n in (("volumes", 1), ("gigabytes", size),
                               (f"volumes_{types.get(type_id)}", 1),
                               (f"gigabytes_{types.get(type_id)}", size)):
                    counted[(project, res)] = counted.get((project, res), 0) + n
            for project, size in q("SELECT project_id, volume_size FROM volume_snapshot "
                                   "WHERE use_quota"):
                counted[(project, "snapshots")] = counted.get((project, "snapshots"), 0) + 1
                counted[(project, "gigabytes")] = counted.get((project, "gigabytes"), 0) + size
            usage = {(p, r): (u, rs) for p, r, u, rs in q(
                "SELECT project_id, resource, in_use, reserved FROM volume_quota_usage")}
            for key in set(usage) | set(counted):
                in_use, reserved = usage.get(key, (0, 0))
                if key[1].startswith("snapshots_"):
                    continue
                if in_use != counted.get(key, 0) or reserved:
                    bad.append(f"quota {key[0]} {key[1]} in_use {in_use} reserved {reserved}"
                               f", exists {counted.get(key, 0)}")
            left = q("SELECT COUNT(*) FROM volume_reservation")[0][0]
            if left:
                bad.append(f"{left} quota reservations left")
    finally:
        engine.dispose()
    # One process: <data>/volumes; spread: each cinder-volume's <data>/spread/<name>/volumes.
    roots = [cloud.data_dir / "volumes", *cloud.data_dir.glob("spread/*/volumes")]
    files = {p.name[len("volume-"):] for r in roots for p in r.rglob("volume-*")
             if p.is_file()}
    staged = [p.name for r in roots for p in r.rglob(".volume-*")]
    for vid in files - set(vols):
        bad.append(f"file of volume {vid} without a row")
    for vid, status, *_ in vols.values():
        if status in ("available", "in-use") and vid not in files:
            bad.append(f"volume {vid} {status} without a file")
    bad += [f"staged file {n} left" for n in staged]
    return bad


def crash_run(base: Path, clients: int, seconds: float, database_url: str | None = None,
              seed: int = 1, exchange: str | None = None) -> tuple[list[str], dict]:
    """Start, load, kill -9 after ``seconds``, restart; returns (inconsistencies, facts).

    With ``exchange`` (a RabbitMQ exchange of its own, on a virtual host of its own) the
    cloud is `start --spread` on ``database_url``, and every process of it is killed."""
    if not exchange:
        return _crash_run(LiveCloud(base, database_url=database_url, nova=NOVA), clients,
                          seconds, seed, spread=False)
    with rabbit.vhost("crash") as transport_url:
        return _crash_run(SpreadCloud(base, database_url, exchange, transport_url), clients,
                          seconds, seed, spread=True)


def _crash_run(cloud: LiveCloud, clients: int, seconds: float, seed: int, spread: bool
               ) -> tuple[list[str], dict]:
    cloud.start()
    stop = threading.Event()
    try:
        image_id = prepare(cloud)
        threads = load(cloud, image_id, clients, stop, seed)
        time.sleep(seconds)
        kill_9(cloud)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        (cloud.data_dir / "stackling.pid").unlink(missing_ok=True)
        t0 = time.perf_counter()
        if spread:
            cloud.start()
        else:
            assert cloud.stackling("start", "-d").returncode == 0, cloud.log()[-2000:]
            for _ in range(60):   # the killed process's ports may take a moment to free
                if cloud.stackling("wait", "--timeout", "5").returncode == 0:
                    break
                time.sleep(0.5)
        restart = time.perf_counter() - t0
        bad = inconsistencies(cloud)
        # Spread, each process repairs its own share as it starts, and what one asks of
        # another (a volume a restarted nova-compute deletes) travels over RabbitMQ:
        # let it settle.
        while spread and bad and time.perf_counter() - t0 < restart + SETTLE:
            time.sleep(1)
            bad = inconsistencies(cloud)
        repaired = cloud.log().count("Start-up recovery repaired")
        return bad, {"restart_s": restart, "settle_s": time.perf_counter() - t0 - restart,
                     "recovery_runs": repaired}
    finally:
        stop.set()
        cloud.stop()
