"""Networking: port create latency, server boot with and without a network, and address
allocation as a /16 fills.

Run: python bench/bench_network.py [--ports 200] [--boots 20] [--fill 10000]
Prints a markdown section. A live cloud (`stackling start -d`, SQLite) is driven over
keep-alive HTTP by one client. Baselines measured in the same run: a network GET (the
cheapest authenticated Neutron call) for port create, a server boot with
``networks: none`` for the boot with a network.

Run: python bench/bench_network.py --concurrent 2000 [--clients 100]
Instead: 2,000 port creates on one /20 from many keep-alive clients at once, on SQLite and
on PostgreSQL (a scratch database, dropped afterwards); checks that no address is handed
out twice and that the rest of the /20 then runs out with Neutron's 409. The CI variant
(200 at once on a /24) is tests/functional/test_network_ports.py.
"""

from __future__ import annotations

import argparse
import threading
import time

from _common import machine, median, pct, tempdir
from bench_compute import Client, token
from bench_crash import scratch_pg

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


def network_with_subnet(neutron: Client, name: str, cidr: str) -> str:
    """Lift the caller's port quota, create a network with one IPv4 subnet: its id."""
    _, project = neutron.call("GET", "/v2.0/quotas/project")
    neutron.call("PUT", f"/v2.0/quotas/{project['project']['project_id']}",
                 {"quota": {"port": -1}})
    _, net = neutron.call("POST", "/v2.0/networks", {"network": {"name": name}})
    nid = net["network"]["id"]
    status, sub = neutron.call("POST", "/v2.0/subnets", {"subnet": {
        "network_id": nid, "cidr": cidr, "ip_version": 4}})
    assert status == 201, sub
    return nid


def concurrent_creates(database_url: str | None, total: int, clients: int) -> dict:
    """``total`` port creates on a /20 from ``clients`` threads released together."""
    cloud = LiveCloud(tempdir(), database_url=database_url)
    cloud.start()
    try:
        tok = token(cloud)
        admin = Client(cloud.url("network"), tok)
        nid = network_with_subnet(admin, "race", "10.64.0.0/20")
        results: list[tuple[int, float, str | None]] = []
        lock = threading.Lock()
        start = threading.Barrier(clients + 1)

        def run(count: int) -> None:
            client = Client(cloud.url("network"), tok)
            start.wait()
            for _ in range(count):
                began = time.perf_counter()
                status, body = client.call("POST", "/v2.0/ports", {"port": {"network_id": nid}})
                took = (time.perf_counter() - began) * 1000
                ip = body["port"]["fixed_ips"][0]["ip_address"] if status == 201 else None
                with lock:
                    results.append((status, took, ip))

        per = [total // clients + (i < total % clients) for i in range(clients)]
        threads = [threading.Thread(target=run, args=(n,)) for n in per]
        for t in threads:
            t.start()
        start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        ips = [ip for status, _, ip in results if status == 201]
        admin = Client(cloud.url("network"), tok)   # the first one idled out meanwhile
        _, listed = admin.call("GET", f"/v2.0/ports?network_id={nid}&fields=fixed_ips")
        held = [ip["ip_address"] for p in listed["ports"] for ip in p["fixed_ips"]]
        # The rest of the /20 (4,093 in the pool): fill it, then the next create is a 409.
        for _ in range(4093 - len(held)):
            status, body = admin.call("POST", "/v2.0/ports", {"port": {"network_id": nid}})
            assert status == 201, body
        status, over = admin.call("POST", "/v2.0/ports", {"port": {"network_id": nid}})
    finally:
        cloud.stop()
    return {"ok": len(ips), "errors": len(results) - len(ips),
            "duplicates": len(ips) - len(set(ips)), "held": len(held),
            "held_duplicates": len(held) - len(set(held)), "wall": wall,
            "p50": median([r[1] for r in results]), "p95": pct([r[1] for r in results], 95),
            "exhausted": (status, over["NeutronError"]["type"],
                          over["NeutronError"]["message"].replace(nid, "<net>"))}


def concurrent_report(total: int, clients: int) -> None:
    url, drop = scratch_pg()
    try:
        rows = [("SQLite", concurrent_creates(None, total, clients)),
                ("PostgreSQL", concurrent_creates(url, total, clients))]
    finally:
        drop()
    print(f"## Concurrent port creates (bench/bench_network.py --concurrent {total} "
          f"--clients {clients})\n")
    print(f"{machine()}; a live cloud, {clients} keep-alive clients released together, "
          f"{total} creates on one /20.\n")
    print("| database | created | errors | addresses handed out twice | ports listed "
          "(incl. DHCP), duplicates | wall s | creates/s | p50 ms | p95 ms | "
          "after the /20 is full |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        status, kind, message = r["exhausted"]
        print(f"| {name} | {r['ok']} | {r['errors']} | {r['duplicates']} | {r['held']}, "
              f"{r['held_duplicates']} | {r['wall']:.1f} | {r['ok'] / r['wall']:.0f} | "
              f"{r['p50']:.0f} | {r['p95']:.0f} | {status} {kind}: {message} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--boots", type=int, default=20)
    parser.add_argument("--fill", type=int, default=10000)
    parser.add_argument("--concurrent", type=int, default=0,
                        help="instead: this many port creates at once on a /20")
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    if args.concurrent:
        concurrent_report(args.concurrent, args.clients)
        return
    cloud = LiveCloud(tempdir())
    cloud.start()
    try:
        tok = token(cloud)
        neutron = Client(cloud.url("network"), tok)
        nova = Client(cloud.url("compute"), tok)
        glance = Client(cloud.url("image"), tok)
        nid = network_with_subnet(neutron, "bench", "10.128.0.0/16")

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
