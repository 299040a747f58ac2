"""Boot from volume, A/B across commits: each commit is checked out in a temporary git
worktree and ``bench_bfv.run`` of that tree runs in rounds, the commits alternated, so a
machine whose speed drifts treats them alike. Besides the wall-clock percentiles it
counts the CPU seconds the cloud's processes spent between start and stop, which moves
far less than wall time on a shared machine.

    python bench/bench_bfv_ab.py b763711 71068e5 4399366 8e62ce6 74e6e52 HEAD --rounds 5

Prints each commit's medians and, for each commit, its ratios to the one before it
(median of the per-round ratios, with their range).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("p50", "p99", "d50", "cpu_ms_per_boot")


def one(tree: str, clients: int, per_client: int, image_mb: int, poll: float) -> None:
    """In the child: one bench_bfv run of ``tree``, printed as a JSON line."""
    import psutil

    sys.path[:0] = [tree, f"{tree}/bench"]
    import bench_bfv
    from tests import helpers

    def cloud_cpu(cloud) -> float:
        total = 0.0
        for p in psutil.process_iter(["cmdline"]):
            if str(cloud.data_dir) in " ".join(p.info["cmdline"] or []):
                for q in [p, *p.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
        return total

    marks: dict[str, float] = {}
    start, stop = helpers.LiveCloud.start, helpers.LiveCloud.stop
    helpers.LiveCloud.start = lambda self: (start(self), marks.update(a=cloud_cpu(self)))
    helpers.LiveCloud.stop = lambda self: (marks.update(b=cloud_cpu(self)), stop(self))
    r = bench_bfv.run(clients, per_client, image_mb, None, poll)
    print(json.dumps({"n": r["n"], "errors": len(r["errors"]), "p50": r["p50"],
                      "p99": r["p99"], "d50": r["d50"],
                      "cpu_ms_per_boot": (marks["b"] - marks["a"]) / max(r["n"], 1) * 1000}))


def run_tree(tree: Path, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(tree), "--clients", str(args.clients),
         "--per-client", str(args.per_client), "--image-mb", str(args.image_mb),
         "--poll", str(args.poll)],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
        text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(commits: list[str], results: dict[str, list[dict]]) -> None:
    print("| commit | runs | boots failed | " + " | ".join(f"{f} median" for f in FIGURES)
          + " |\n|---|---|---|" + "---|" * len(FIGURES))
    for c in commits:
        rs = results[c]
        print(f"| {c} | {len(rs)} | {sum(r['errors'] for r in rs)} | " + " | ".join(
            f"{statistics.median(r[f] for r in rs):.0f}" for f in FIGURES) + " |")
    print("\n| after / before | " + " | ".join(FIGURES) + " |\n|---|" + "---|" * len(FIGURES))
    for before, after in zip(commits, commits[1:]):
        cells = []
        for f in FIGURES:
            ratios = [b[f] / a[f] for a, b in zip(results[before], results[after])]
            cells.append(f"{statistics.median(ratios):.2f} "
                         f"({min(ratios):.2f}–{max(ratios):.2f})")
        print(f"| {after} / {before} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("commits", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--per-client", type=int, default=5)
    ap.add_argument("--image-mb", type=int, default=16)
    ap.add_argument("--poll", type=float, default=0.02)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args.one, args.clients, args.per_client, args.image_mb, args.poll)
    base = Path(tempfile.mkdtemp(prefix="stackling-ab-"))
    trees = {c: base / c for c in args.commits}
    try:
        for c, tree in trees.items():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach",
                            str(tree), c], check=True, capture_output=True)
        results: dict[str, list[dict]] = {c: [] for c in args.commits}
        for _ in range(args.rounds):
            for c, tree in trees.items():
                results[c].append(run_tree(tree, args))
        report(args.commits, results)
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tree)], capture_output=True)


if __name__ == "__main__":
    main()
