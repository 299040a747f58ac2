"""Start-up time, idle memory, and token issue/validate throughput.

Run: python bench/bench_identity.py [--runs 5] [--seconds 5]
Prints a markdown section for BENCHMARKS.md. Token rates are compared, in the same run,
with the cheapest request the cloud answers (GET / on the identity port): the ratio says
what a token costs above the HTTP floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import threading
import time

from _common import machine, median, pct, rss_mb, stackling, tempdir

from tests.helpers import free_port_offset


def startup(runs: int) -> tuple[list[float], float, int]:
    times, rss, offset = [], 0.0, free_port_offset(30000)
    for _ in range(runs):
        base = tempdir()
        args = ["--data-dir", str(base / "data"), "--port-offset", str(offset)]
        t0 = time.perf_counter()
        assert stackling("start", "-d", *args).returncode == 0
        assert stackling("wait", *args).returncode == 0
        times.append(time.perf_counter() - t0)
        pid = int((base / "data" / "stackling.pid").read_text())
        time.sleep(1.0)
        rss = rss_mb(pid)
        stackling("stop", *args)
        shutil.rmtree(base, ignore_errors=True)
    return times, rss, offset


def rate(port: int, make_request, seconds: float, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while time.perf_counter() < stop:
            method, path, body, headers = make_request()
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status < 400, resp.status
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - t0), latencies


def tokens(seconds: float, clients: int) -> dict[str, tuple[float, list[float]]]:
    base = tempdir()
    offset = free_port_offset(31000)
    args = ["--data-dir", str(base / "data"), "--port-offset", str(offset)]
    assert stackling("start", "-d", *args).returncode == 0
    assert stackling("wait", *args).returncode == 0
    port = 5000 + offset
    auth = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/v3/auth/tokens", body=auth,
                  headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    token = resp.headers["X-Subject-Token"]
    results = {
        "GET / (HTTP floor)": rate(port, lambda: ("GET", "/", None, {}), seconds, clients),
        "token issue (password)": rate(port, lambda: (
            "POST", "/v3/auth/tokens", auth, {"Content-Type": "application/json"}),
            seconds, clients),
        "token validate": rate(port, lambda: (
            "GET", "/v3/auth/tokens", None,
            {"X-Auth-Token": token, "X-Subject-Token": token}), seconds, clients),
    }
    stackling("stop", *args)
    shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    times, rss, _ = startup(args.runs)
    print(f"## Start-up and identity\n\nMachine: {machine()}\n")
    print("| measure | value |\n|---|---|")
    print(f"| `start -d` → `wait` succeeds, fresh data dir (median of {args.runs}) | "
          f"{median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f}) |")
    print(f"| idle RSS, one process serving all four APIs | {rss:.0f} MB |")
    results = tokens(args.seconds, args.clients)
    floor = results["GET / (HTTP floor)"][0]
    print(f"\n{args.clients} keep-alive clients, {args.seconds:.0f} s each:\n")
    print("| request | req/s | p50 ms | p99 ms | ratio to HTTP floor |\n|---|---|---|---|---|")
    for name, (per_s, lat) in results.items():
        print(f"| {name} | {per_s:.0f} | {pct(lat, 50) * 1000:.2f} | "
              f"{pct(lat, 99) * 1000:.2f} | {per_s / floor:.2f} |")


if __name__ == "__main__":
    main()
