"""1,000 compute hosts in 100 zones served by one process (issue 14, "many hosts per process").

Run: python bench/bench_scale.py [--hosts 1000] [--zones 100] [--idle 30] [--boots 40]
Prints a markdown section. Starts a live cloud (`stackling start -d`, SQLite, fake driver)
whose topology describes the hosts with two ranges (hosts ``compute[1-N]``, aggregates
``agg[1-Z]`` in zones ``az[1-Z]``, N/Z consecutive hosts each), then measures:

- start-up: `stackling start -d` until `stackling wait` returns, and until the compute
  service list shows every host up;
- idle CPU of the process over ``--idle`` seconds with no request (its heartbeats: one
  timer, one batched UPDATE per report_interval), from /proc/<pid>/stat;
- RSS of the process, and per host against a seed-topology cloud (3 hosts);
- the scheduler's pass (host states + filters + weigher) for a zoned and an unzoned
  request, timed in this process on the live cloud's database with the conductor's own
  HostStateCache: the first (full) read, then p50/p99 of the incremental ones;
- boot p50 (POST /servers → ACTIVE, image-backed, no network), zoned and unzoned.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import machine, pct, rss_mb, tempdir
from bench_compute import Client, _project_id, image, token

from stackling import runstate
from stackling.compute import scheduler as sch
from stackling.conf import load as load_conf
from stackling.db.api import Database
from tests.helpers import LiveCloud

SEED = """
compute_hosts:
  - {name: controller1}
  - {name: controller2}
  - {name: controller3}
"""


def topology(hosts: int, zones: int) -> str:
    return f"""
compute_hosts:
  - {{name: "compute[1-{hosts}]", vcpus: 64, memory_mb: 262144, local_gb: 4000}}
aggregates:
  - {{name: "agg[1-{zones}]", availability_zone: "az[1-{zones}]", hosts: ["compute[1-{hosts}]"]}}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def up_hosts(admin: Client) -> int:
    status, body = admin.call("GET", "/v2.1/os-services?binary=nova-compute")
    assert status == 200, body
    return sum(1 for s in body["services"] if s["state"] == "up")


def schedule_times(cloud: LiveCloud, zone: str | None, n: int) -> tuple[float, list[float]]:
    """The conductor's scheduler pass on the live database: (first, then n more) in ms."""
    conf = load_conf(cloud.config_dir).nova
    db = Database(f"sqlite:///{cloud.data_dir / 'stackling.db'}")
    cache = sch.HostStateCache(margin=0)
    spec = sch.RequestSpec(vcpus=1, memory_mb=512, disk_gb=1, availability_zone=zone)
    times = []
    try:
        for _ in range(n + 1):
            t0 = time.perf_counter()
            with db.reader() as s:
                states = cache.states(s, conf)
            sch.select_hosts(cache.index(states), spec)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        db.dispose()
    return times[0], times[1:]


def boot(c: Client, img: str, zone: str | None) -> float:
    server = {"name": "s", "imageRef": img, "flavorRef": "42", "networks": "none"}
    if zone:
        server["availability_zone"] = zone
    t0 = time.perf_counter()
    status, body = c.call("POST", "/v2.1/servers", {"server": server})
    assert status == 202, body
    sid = body["server"]["id"]
    while True:
        status, body = c.call("GET", f"/v2.1/servers/{sid}")
        if body["server"]["status"] != "BUILD":
            break
        time.sleep(0.002)
    assert body["server"]["status"] == "ACTIVE", body["server"].get("fault")
    if zone:
        assert body["server"]["OS-EXT-AZ:availability_zone"] == zone
    return (time.perf_counter() - t0) * 1000


def baseline_rss() -> float:
    cloud = LiveCloud(tempdir(), topology=SEED)
    cloud.start()
    try:
        return rss_mb(runstate.read(cloud.data_dir)["pid"])
    finally:
        cloud.stop()


def run(hosts: int, zones: int, idle: float, boots: int, repeat: int) -> dict:
    cloud = LiveCloud(tempdir(), topology=topology(hosts, zones))
    t0 = time.perf_counter()
    cloud.start()
    ready = time.perf_counter() - t0
    r: dict = {"ready": ready}
    try:
        pid = runstate.read(cloud.data_dir)["pid"]
        tok = token(cloud)
        admin = Client(cloud.url("compute"), tok)
        while (up := up_hosts(admin)) < hosts:
            assert time.perf_counter() - t0 < 120, f"only {up} of {hosts} hosts up"
            time.sleep(0.2)
        r["all_up"] = time.perf_counter() - t0
        c0, w0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(idle)
        r["idle_cpu"] = 100 * (cpu_seconds(pid) - c0) / (time.perf_counter() - w0)
        r["rss"] = rss_mb(pid)
        # the server closes idle keep-alive connections: a new one after each pause
        admin = Client(cloud.url("compute"), tok)
        r["still_up"] = up_hosts(admin)
        for zone, key in ((f"az{zones // 2}", "zoned"), (None, "unzoned")):
            r[key + "_first"], r[key] = schedule_times(cloud, zone, repeat)
        img = image(cloud, tok)
        admin = Client(cloud.url("compute"), tok)
        admin.call("PUT", f"/v2.1/os-quota-sets/{_project_id(cloud, tok)}", {"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        r["boot_zoned"] = [boot(admin, img, f"az{1 + i % zones}") for i in range(boots)]
        r["boot_unzoned"] = [boot(admin, img, None) for _ in range(boots)]
    finally:
        cloud.stop()
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--zones", type=int, default=100)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    ap.add_argument("--boots", type=int, default=40, help="boots per kind (zoned, unzoned)")
    ap.add_argument("--repeat", type=int, default=300, help="scheduler passes per kind")
    args = ap.parse_args()
    base = baseline_rss()
    r = run(args.hosts, args.zones, args.idle, args.boots, args.repeat)
    per_host = (r["rss"] - base) / (args.hosts - 3) * 1024
    print(f"### {args.hosts} compute hosts in {args.zones} zones, one process (issue 14)\n")
    print(f"Machine: {machine()}\n")
    print(f"Live cloud (`stackling start -d`), SQLite, fake driver, report_interval 10 s; "
          f"`python bench/bench_scale.py --hosts {args.hosts} --zones {args.zones} "
          f"--idle {args.idle:g} --boots {args.boots} --repeat {args.repeat}`:\n")
    print("| metric | value | target |\n|---|---|---|")
    print(f"| start -d → wait returns | {r['ready']:.1f} s | |")
    print(f"| start -d → all {args.hosts} hosts up (os-services) | {r['all_up']:.1f} s "
          f"| < 30 s |")
    print(f"| idle CPU over {args.idle:g} s (heartbeats) | {r['idle_cpu']:.2f} % of one core "
          f"| < 10 % |")
    print(f"| hosts still up after the idle period | {r['still_up']} | {args.hosts} |")
    print(f"| RSS total | {r['rss']:.0f} MiB | < 1 GiB |")
    print(f"| RSS per host (vs {base:.0f} MiB with 3 hosts) | {per_host:.0f} KiB | |")
    for key, label in (("zoned", f"zoned ({args.hosts // args.zones} hosts)"), ("unzoned", "unzoned")):
        print(f"| scheduler pass {label}: first (full read) | {r[key + '_first']:.1f} ms | |")
        print(f"| scheduler pass {label}: p50 / p99 | {pct(r[key], 50):.2f} / "
              f"{pct(r[key], 99):.2f} ms | p50 < 5 ms |")
    for key in ("boot_zoned", "boot_unzoned"):
        print(f"| {key.replace('_', ' ')} POST → ACTIVE p50 / p99 | "
              f"{pct(r[key], 50):.1f} / {pct(r[key], 99):.1f} ms | |")


if __name__ == "__main__":
    main()
