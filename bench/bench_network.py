"""Networking: port create latency, server boot with and without a network, and address
allocation as a /16 fills.

Run: python bench/bench_network.py [--ports 200] [--boots 20] [--fill 10000]
Prints a markdown section. A live cloud (`stackling start -d`, SQLite) is driven over
keep-alive HTTP by one client. Baselines measured in the same run: a network GET (the
cheapest authenticated Neutron call) for port create, a server boot with
``networks: none`` for the boot with a network.
"""

from __future__ import annotations

import argparse
import time

from _common import machine, median, pct, tempdir
from bench_compute import Client, token

from tests.helpers import LiveCloud


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def boot(nova: Client, image: str, networks, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        status, body = nova.call("POST", "/v2.1/servers", {"server": {
            "name": f"b{i}", "imageRef": image, "flavorRef": "1", "networks": networks}})
        assert status == 202, body
        sid = body["server"]["id"]
        for _ in range(2000):
            status, body = nova.call("GET", f"/v2.1/servers/{sid}")
            if body["server"]["status"] != "BUILD":
                break
            time.sleep(0.005)
        assert body["server"]["status"] == "ACTIVE", body
        out.append((time.perf_counter() - start) * 1000)
        nova.call("DELETE", f"/v2.1/servers/{sid}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--boots", type=int, default=20)
    parser.add_argument("--fill", type=int, default=10000)
    args = parser.parse_args()
    cloud = LiveCloud(tempdir())
    cloud.start()
    try:
        tok = token(cloud)
        neutron = Client(cloud.url("network"), tok)
        nova = Client(cloud.url("compute"), tok)
        glance = Client(cloud.url("image"), tok)
        _, project = neutron.call("GET", "/v2.0/quotas/project")
        neutron.call("PUT", f"/v2.0/quotas/{project['project']['project_id']}",
                     {"quota": {"port": -1}})
        _, net = neutron.call("POST", "/v2.0/networks", {"network": {"name": "bench"}})
        nid = net["network"]["id"]
        status, sub = neutron.call("POST", "/v2.0/subnets", {"subnet": {
            "network_id": nid, "cidr": "10.128.0.0/16", "ip_version": 4}})
        assert status == 201, sub

        base = [timed(lambda: neutron.call("GET", f"/v2.0/networks/{nid}"))
                for _ in range(args.ports)]
        creates = [timed(lambda: neutron.call("POST", "/v2.0/ports",
                                              {"port": {"network_id": nid}}))
                   for _ in range(args.ports)]

        _, img = glance.call("POST", "/v2/images", {"name": "b", "disk_format": "raw",
                                                    "container_format": "bare"})
        glance.headers["Content-Type"] = "application/octet-stream"
        glance.conn.request("PUT", f"/v2/images/{img['id']}/file", body=b"\0" * 512,
                            headers=glance.headers)
        glance.conn.getresponse().read()
        plain = boot(nova, img["id"], "none", args.boots)
        networked = boot(nova, img["id"], [{"uuid": nid}], args.boots)

        # Fill the /16: p50 of each successive block of 1000 creates.
        blocks, block = [], []
        held = args.ports + 1    # ports so far + the DHCP port
        while held < args.fill:
            status, body = neutron.call("POST", "/v2.0/ports", {"port": {"network_id": nid}})
            assert status == 201, body
            held += 1
            start = time.perf_counter()
            status, body = neutron.call("POST", "/v2.0/ports", {"port": {"network_id": nid}})
            block.append((time.perf_counter() - start) * 1000)
            assert status == 201, body
            held += 1
            if len(block) == 500:
                blocks.append((held, median(block)))
                block = []
    finally:
        cloud.stop()

    b50, c50 = median(base), median(creates)
    p50, n50 = median(plain), median(networked)
    print("## Networking (bench/bench_network.py)\n")
    print(f"{machine()}; a live cloud on SQLite, one keep-alive HTTP client.\n")
    print("| measure | p50 ms | p95 ms | ratio to baseline |")
    print("|---|---|---|---|")
    print(f"| network GET (baseline) | {b50:.1f} | {pct(base, 95):.1f} | 1.0 |")
    print(f"| port create (fixed IP from a /16, default security group) | {c50:.1f} | "
          f"{pct(creates, 95):.1f} | {c50 / b50:.1f} |")
    print(f"| server boot to ACTIVE, `networks: none` (baseline) | {p50:.1f} | "
          f"{pct(plain, 95):.1f} | 1.0 |")
    print(f"| server boot to ACTIVE with one network (port created and bound) | {n50:.1f} | "
          f"{pct(networked, 95):.1f} | {n50 / p50:.2f} |")
    print("\nPort create p50 while one /16 fills (every other create timed):\n")
    print("| ports held | p50 ms | ratio to the first block |")
    print("|---|---|---|")
    for held, value in blocks:
        print(f"| {held} | {value:.1f} | {value / blocks[0][1]:.2f} |")


if __name__ == "__main__":
    main()
