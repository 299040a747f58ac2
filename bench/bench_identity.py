"""Start-up time, idle memory, and token issue/validate throughput.

Run: python bench/bench_identity.py [--runs 5] [--seconds 5] [--baseline DIR]
Prints a markdown section for BENCHMARKS.md. Token rates are compared, in the same run,
with the cheapest request the cloud answers (GET / on the identity port): the ratio says
what a token costs above the HTTP floor. With ``--baseline`` (another checkout, e.g.
``git worktree add /tmp/base main``), start-up and stop are measured for both trees in
turn, A B A B ..., and given as ratios to the baseline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import machine, median, pct, rss_mb, stackling, tempdir

from tests.helpers import free_port_offset

ROOT = Path(__file__).resolve().parents[1]


def startup(tree: Path, cache: Path) -> tuple[float, float, float]:
    """One fresh-data-dir cycle: (start -d + wait seconds, stop seconds, idle RSS MB)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "STACKLING_CACHE_DIR": str(cache)}
    for _attempt in range(3):
        base = tempdir()
        args = ["--data-dir", str(base / "data"), "--port-offset",
                str(free_port_offset(3000))]

        def cli(*cmd: str, args=args) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "stackling", *cmd, *args], cwd=tree,
                                  env=env, capture_output=True, text=True, timeout=120,
                                  check=False)

        t0 = time.perf_counter()
        assert cli("start", "-d").returncode == 0
        waited = cli("wait")
        started = time.perf_counter() - t0
        if waited.returncode == 0:
            break
        # A shared machine: another process took a port between the check and the bind.
        log = (base / "data" / "logs" / "stackling.log").read_text()
        assert "cannot listen" in log, (waited.stderr, log[-2000:])
        cli("stop")
        shutil.rmtree(base, ignore_errors=True)
    else:
        raise AssertionError("no free ports in three attempts")
    pid = int((base / "data" / "stackling.pid").read_text())
    time.sleep(1.0)
    rss = rss_mb(pid)
    t0 = time.perf_counter()
    assert cli("stop").returncode == 0
    stopped = time.perf_counter() - t0
    shutil.rmtree(base, ignore_errors=True)
    return started, stopped, rss


# The cloud in the foreground, killed by itself at "ready": what start-up costs the
# machine in CPU, whatever else runs on it (the wall time of a shared machine is noisy).
_READY_CPU = """
import logging, os, signal, sys
class Ready(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("ready in"):
            os.kill(os.getpid(), signal.SIGKILL)
logging.getLogger("stackling").addHandler(Ready())
from stackling import cli
cli.main(["start", "--data-dir", sys.argv[1], "--port-offset", sys.argv[2]])
"""


def ready_cpu(tree: Path, cache: Path) -> float:
    """CPU seconds (user + sys) of `stackling start` on a fresh data dir until it serves."""
    env = {**os.environ, "PYTHONPATH": str(tree), "STACKLING_CACHE_DIR": str(cache)}
    base = tempdir()
    proc = subprocess.Popen([sys.executable, "-c", _READY_CPU, str(base / "data"),
                             str(free_port_offset(7000))], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    shutil.rmtree(base, ignore_errors=True)
    return usage.ru_utime + usage.ru_stime


def startups(runs: int, trees: dict[str, Path]) -> dict[str, list[tuple[float, ...]]]:
    """Every tree once as a warm-up (byte code, prepared schema), then in turn ``runs`` times."""
    cache = tempdir()
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "stackling")],
                       check=True)
    results: dict[str, list[tuple[float, ...]]] = {name: [] for name in trees}
    for name, tree in trees.items():
        startup(tree, cache)
    for _ in range(runs):
        for name, tree in trees.items():
            results[name].append((*startup(tree, cache), ready_cpu(tree, cache)))
    shutil.rmtree(cache, ignore_errors=True)
    return results


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
    offset = free_port_offset(5000)
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
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    runs = startups(args.runs, trees)
    print(f"## Start-up and identity\n\nMachine: {machine()}\n")
    columns = list(trees)
    ratio_column = " | ratio to baseline" if args.baseline else ""
    print(f"| measure (median of {args.runs}) | {' | '.join(columns)}{ratio_column} |")
    print("|---|" + "---|" * (len(columns) + bool(args.baseline)))
    for i, label in ((0, "`start -d` → `wait` succeeds, fresh data dir"), (1, "`stop`"),
                     (3, "CPU (user + sys) of the cloud process until it serves")):
        med = {name: median([r[i] for r in runs[name]]) for name in trees}
        cells = [f"{med[name] * 1000:.0f} ms (min {min(r[i] for r in runs[name]) * 1000:.0f}, "
                 f"max {max(r[i] for r in runs[name]) * 1000:.0f})" for name in trees]
        if args.baseline:
            ratios = [a[i] / b[i] for a, b in zip(runs["this tree"], runs["baseline"])]
            cells.append(f"{median(ratios):.2f} (pairwise, min {min(ratios):.2f}, "
                         f"max {max(ratios):.2f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    rss = {name: median([r[2] for r in runs[name]]) for name in trees}
    print("| idle RSS, one process serving all four APIs | "
          + " | ".join(f"{rss[name]:.0f} MB" for name in trees)
          + (f" | {rss['this tree'] / rss['baseline']:.2f}" if args.baseline else "") + " |")
    results = tokens(args.seconds, args.clients)
    floor = results["GET / (HTTP floor)"][0]
    print(f"\n{args.clients} keep-alive clients, {args.seconds:.0f} s each:\n")
    print("| request | req/s | p50 ms | p99 ms | ratio to HTTP floor |\n|---|---|---|---|---|")
    for name, (per_s, lat) in results.items():
        print(f"| {name} | {per_s:.0f} | {pct(lat, 50) * 1000:.2f} | "
              f"{pct(lat, 99) * 1000:.2f} | {per_s / floor:.2f} |")


if __name__ == "__main__":
    main()
