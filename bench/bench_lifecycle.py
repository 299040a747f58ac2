"""Each server action's POST → final state, on a live cloud with two hosts per zone.

Run: python bench/bench_lifecycle.py [--rounds 10]
Prints a markdown section. A live cloud (`stackling start -d`, SQLite, fake driver); one
client polls every 5 ms. Ratios are against server create → ACTIVE measured in the same
run. Also: a volume-backed snapshot of a server with a 10 GiB volume (synchronous, the
202 is the end).
"""

from __future__ import annotations

import argparse
import time

from _common import machine, median, tempdir
from bench_compute import Client, image, token

from tests.helpers import LiveCloud, two_per_zone

TOPOLOGY = two_per_zone(vcpus=1024, memory_mb=1048576, local_gb=10000, capacity_gb=100000)
NOVA = "[DEFAULT]\nblock_device_allocate_retries_interval = 0\n"

# (label, action body, final status)
STEPS = [
    ("createImage", lambda img: {"createImage": {"name": "bench-snap"}}, "ACTIVE"),
    ("resize", lambda img: {"resize": {"flavorRef": "2"}}, "VERIFY_RESIZE"),
    ("confirmResize", lambda img: {"confirmResize": None}, "ACTIVE"),
    ("resize (again)", lambda img: {"resize": {"flavorRef": "3"}}, "VERIFY_RESIZE"),
    ("revertResize", lambda img: {"revertResize": None}, "ACTIVE"),
    ("migrate", lambda img: {"migrate": None}, "VERIFY_RESIZE"),
    ("confirmResize (migrate)", lambda img: {"confirmResize": None}, "ACTIVE"),
    ("rebuild", lambda img: {"rebuild": {"imageRef": img}}, "ACTIVE"),
    ("os-stop", lambda img: {"os-stop": None}, "SHUTOFF"),
    ("os-start", lambda img: {"os-start": None}, "ACTIVE"),
    ("pause", lambda img: {"pause": None}, "PAUSED"),
    ("unpause", lambda img: {"unpause": None}, "ACTIVE"),
    ("shelve (offloaded)", lambda img: {"shelve": None}, "SHELVED_OFFLOADED"),
    ("unshelve", lambda img: {"unshelve": None}, "ACTIVE"),
]


def wait(c: Client, sid: str, status: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _, body = c.call("GET", f"/v2.1/servers/{sid}")
        server = body["server"]
        if server["status"] == status and server["OS-EXT-STS:task_state"] is None:
            return
        if server["status"] == "ERROR":
            raise RuntimeError(f"{sid} went to ERROR: {server.get('fault')}")
        time.sleep(0.005)
    raise RuntimeError(f"{sid} never reached {status}")


def run(rounds: int) -> dict:
    # The fake hypervisor's modelled snapshot time ([fake_driver] snapshot_seconds, 1 s by
    # default) is off: the createImage row measures stackling's own work.
    cloud = LiveCloud(tempdir(), nova=NOVA, topology=TOPOLOGY,
                      stackling="[fake_driver]\nsnapshot_seconds = 0\n")
    cloud.start()
    try:
        tok = token(cloud)
        img = image(cloud, tok)
        c = Client(cloud.url("compute"), tok)
        times: dict[str, list[float]] = {"create": []}
        for i in range(rounds):
            t0 = time.perf_counter()
            status, body = c.call("POST", "/v2.1/servers", {"server": {
                "name": f"b{i}", "imageRef": img, "flavorRef": "1", "networks": "none",
                "availability_zone": "ag2"}})
            assert status == 202, body
            sid = body["server"]["id"]
            wait(c, sid, "ACTIVE")
            times["create"].append(time.perf_counter() - t0)
            for label, make, final in STEPS:
                t0 = time.perf_counter()
                status, body = c.call("POST", f"/v2.1/servers/{sid}/action", make(img))
                assert status in (200, 202, 204), (label, status, body)
                wait(c, sid, final)
                times.setdefault(label, []).append(time.perf_counter() - t0)
        # A volume-backed server with a 10 GiB volume: createImage is synchronous.
        status, body = c.call("POST", "/v2.1/servers", {"server": {
            "name": "bfv", "flavorRef": "1", "networks": "none",
            "availability_zone": "nova:c3", "block_device_mapping_v2": [{
                "boot_index": 0, "uuid": img, "source_type": "image",
                "destination_type": "volume", "volume_size": 10,
                "delete_on_termination": True}]}})
        assert status == 202, body
        sid = body["server"]["id"]
        wait(c, sid, "ACTIVE")
        snap = []
        for i in range(rounds):
            t0 = time.perf_counter()
            status, body = c.call("POST", f"/v2.1/servers/{sid}/action",
                                  {"createImage": {"name": f"bfv-snap{i}"}})
            assert status == 202, body
            snap.append(time.perf_counter() - t0)
        times["volume-backed createImage (10 GiB)"] = snap
        return times
    finally:
        cloud.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    times = run(args.rounds)
    base = median(times["create"])
    print(f"## Server lifecycle (`bench/bench_lifecycle.py --rounds {args.rounds}`)\n")
    print(f"{machine()}. Live cloud, SQLite, fake driver, two compute hosts per zone, one "
          f"client polling every 5 ms, {args.rounds} servers in ag2, each taken through "
          "every action.\n")
    print("| action | POST → final state p50 | ratio to create → ACTIVE |")
    print("|---|---|---|")
    for label, values in times.items():
        p50 = median(values)
        print(f"| {label} | {p50 * 1000:.0f} ms | {p50 / base:.2f} |")


if __name__ == "__main__":
    main()
