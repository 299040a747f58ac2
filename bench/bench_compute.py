"""Server create → ACTIVE latency and throughput, and the scheduler's cost at scale.

Run: python bench/bench_compute.py [--clients 8] [--per-client 25] [--repeat 2000]
Prints a markdown section. Part 1 drives a live cloud (`stackling start -d`, SQLite, fake
driver) over keep-alive HTTP with N concurrent clients: each creates a server and polls it
until ACTIVE. Part 2 calls the scheduler's pure functions on synthetic host states.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
from urllib.parse import urlparse

from _common import machine, median, pct, tempdir

from stackling.compute import scheduler as sch
from tests.helpers import LiveCloud

TOPOLOGY = """
controller: controller2
compute_hosts:
  - {name: controller1, vcpus: 1024, memory_mb: 1048576, local_gb: 10000}
  - {name: controller2, vcpus: 1024, memory_mb: 1048576, local_gb: 10000}
  - {name: controller3, vcpus: 1024, memory_mb: 1048576, local_gb: 10000}
aggregates:
  - {name: ag1, availability_zone: ag1, hosts: [controller1]}
  - {name: ag2, availability_zone: ag2, hosts: [controller2]}
"""


class Client:
    def __init__(self, url: str, token: str) -> None:
        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.headers = {"X-Auth-Token": token, "Content-Type": "application/json",
                        "Accept": "application/json",
                        "OpenStack-API-Version": "compute 2.100"}

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body) if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the server closed an idle keep-alive connection: open a new one, as
            # requests' connection pool does
            self.conn.close()
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None)


def token(cloud: LiveCloud) -> str:
    u = urlparse(cloud.url("identity"))
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("POST", "/v3/auth/tokens", json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}),
        {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.getheader("X-Subject-Token")


def image(cloud: LiveCloud, tok: str) -> str:
    u = urlparse(cloud.url("image"))
    conn = http.client.HTTPConnection(u.hostname, u.port)
    hdr = {"X-Auth-Token": tok, "Content-Type": "application/json"}
    conn.request("POST", "/v2/images", json.dumps({"name": "bench", "disk_format": "raw",
                                                   "container_format": "bare"}), hdr)
    resp = conn.getresponse()
    image_id = json.loads(resp.read())["id"]
    conn.request("PUT", f"/v2/images/{image_id}/file", b"\0" * 1024,
                 {"X-Auth-Token": tok, "Content-Type": "application/octet-stream"})
    conn.getresponse().read()
    return image_id


def create_load(clients: int, per_client: int) -> dict:
    cloud = LiveCloud(tempdir(), topology=TOPOLOGY)
    cloud.start()
    try:
        tok = token(cloud)
        img = image(cloud, tok)
        admin = Client(cloud.url("compute"), tok)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        project_id = _project_id(cloud, tok)
        # unlimited quota for the admin project
        admin.call("PUT", f"/v2.1/os-quota-sets/{project_id}", {"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})

        def worker(n: int) -> None:
            c = Client(cloud.url("compute"), tok)
            for i in range(per_client):
                t0 = time.perf_counter()
                status, body = c.call("POST", "/v2.1/servers", {"server": {
                    "name": f"b{n}-{i}", "imageRef": img, "flavorRef": "42",
                    "networks": "none"}})
                if status != 202:
                    errors.append(f"{status} {body}")
                    continue
                sid = body["server"]["id"]
                while True:
                    status, body = c.call("GET", f"/v2.1/servers/{sid}")
                    if body["server"]["status"] != "BUILD":
                        break
                    time.sleep(0.002)
                with lock:
                    if body["server"]["status"] == "ACTIVE":
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors.append(body["server"]["status"])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        return {"n": len(latencies), "errors": len(errors), "wall": wall,
                "p50": pct(latencies, 50) * 1000, "p99": pct(latencies, 99) * 1000,
                "rate": len(latencies) / wall}
    finally:
        cloud.stop()


def _project_id(cloud: LiveCloud, tok: str) -> str:
    u = urlparse(cloud.url("identity"))
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("GET", "/v3/auth/tokens", headers={"X-Auth-Token": tok,
                                                   "X-Subject-Token": tok})
    return json.loads(conn.getresponse().read())["token"]["project"]["id"]


def synthetic(hosts: int, zones: int = 100) -> list[sch.HostState]:
    rng = random.Random(hosts)
    return [sch.HostState(host=f"h{i}", node=f"h{i}", zones=frozenset({f"az{i % zones}"}),
                          enabled=i % 97 != 5, up=True,
                          free_vcpus=rng.randint(1, 64), free_ram_mb=rng.randint(1024, 262144),
                          free_disk_gb=rng.randint(10, 2000)) for i in range(hosts)]


def _select(index: sch.HostIndex, spec: sch.RequestSpec) -> None:
    try:
        sch.select_hosts(index, spec)
    except sch.NoValidHost:  # a zone whose only host is disabled: still a full decision
        pass


def schedule_cost(hosts: int, repeat: int) -> dict:
    states = synthetic(hosts)
    t0 = time.perf_counter()
    index = sch.HostIndex.build(states)
    build = (time.perf_counter() - t0) * 1000
    present = sorted(index.by_zone)
    rng = random.Random(1)
    zoned, unzoned = [], []
    for _ in range(repeat):
        spec = sch.RequestSpec(vcpus=1, memory_mb=512, disk_gb=1,
                               availability_zone=rng.choice(present))
        t = time.perf_counter()
        _select(index, spec)
        zoned.append((time.perf_counter() - t) * 1000)
        spec = sch.RequestSpec(vcpus=1, memory_mb=512, disk_gb=1)
        t = time.perf_counter()
        _select(index, spec)
        unzoned.append((time.perf_counter() - t) * 1000)
    return {"hosts": hosts, "build": build, "z50": median(zoned), "z99": pct(zoned, 99),
            "u50": median(unzoned), "u99": pct(unzoned, 99)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=2000)
    args = ap.parse_args()
    load = create_load(args.clients, args.per_client)
    costs = [schedule_cost(n, args.repeat if n < 10000 else max(200, args.repeat // 10))
             for n in (10, 1000, 10000)]
    print("### Compute (stackling issue #3)\n")
    print(f"Machine: {machine()}\n")
    print(f"Server create → ACTIVE, live cloud (`stackling start -d`), SQLite, fake driver, "
          f"{args.clients} concurrent keep-alive clients, {load['n']} servers "
          f"({load['errors']} failed), flavor m1.nano, poll every 2 ms:\n")
    print("| metric | value |\n|---|---|")
    print(f"| create→ACTIVE p50 | {load['p50']:.1f} ms |")
    print(f"| create→ACTIVE p99 | {load['p99']:.1f} ms |")
    print(f"| sustained creates/s (to ACTIVE) | {load['rate']:.1f} |\n")
    print("Scheduling (pure filter + weigher, `select_hosts`) on synthetic hosts in 100 zones; "
          "the index (hosts grouped by zone) is built once per host-state snapshot:\n")
    print("| hosts | index build | zoned p50 | zoned p99 | no zone p50 | no zone p99 |")
    print("|---|---|---|---|---|---|")
    for c in costs:
        print(f"| {c['hosts']:,} | {c['build']:.2f} ms | {c['z50']:.3f} ms | {c['z99']:.3f} ms "
              f"| {c['u50']:.3f} ms | {c['u99']:.3f} ms |")


if __name__ == "__main__":
    main()
