"""Start-up time and idle RSS of two source trees, interleaved in one run (before/after a change).

Run: python bench/bench_startup_trees.py BASELINE_TREE CHANGED_TREE [--runs 5]
Each run is `stackling start -d` + `stackling wait` on a fresh data dir with the tree on
PYTHONPATH, alternating the trees so that machine load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time

from _common import median, rss_mb, tempdir

from tests.helpers import free_port_offset


def one(tree: str) -> tuple[float, float]:
    """One start on a free offset; retried when another process took a port meanwhile."""
    for _ in range(3):
        try:
            return _start(tree, free_port_offset(1000 + random.randrange(100) * 100))
        except AssertionError:
            continue
    raise AssertionError(f"{tree}: no start succeeded")


def _start(tree: str, offset: int) -> tuple[float, float]:
    base = tempdir()
    env = {**os.environ, "PYTHONPATH": tree}
    args = ["--data-dir", str(base / "data"), "--port-offset", str(offset)]

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "stackling", *cmd, *args], env=env,
                              capture_output=True, text=True, timeout=120)

    t0 = time.perf_counter()
    assert run("start", "-d").returncode == 0
    waited = run("wait")
    if waited.returncode != 0:
        run("stop")
        shutil.rmtree(base, ignore_errors=True)
        raise AssertionError(waited.stderr)
    took = time.perf_counter() - t0
    time.sleep(1.0)
    rss = rss_mb(int((base / "data" / "stackling.pid").read_text()))
    run("stop")
    shutil.rmtree(base, ignore_errors=True)
    return took, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline")
    parser.add_argument("changed")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {args.baseline: [], args.changed: []}
    for _ in range(args.runs):
        for tree in (args.baseline, args.changed):
            results[tree].append(one(tree))
    base_t = median([t for t, _ in results[args.baseline]])
    print("| tree | start -d → wait, median ms | idle RSS MB (median) | ratio to baseline |")
    print("|---|---|---|---|")
    for tree, rows in results.items():
        t, rss = median([r[0] for r in rows]), median([r[1] for r in rows])
        print(f"| {tree} | {t * 1000:.0f} | {rss:.0f} | {t / base_t:.2f} |")


if __name__ == "__main__":
    main()
