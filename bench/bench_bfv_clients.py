"""Boot-from-volume throughput and SQL work, before and after, in one run (issue 14).

Run: python bench/bench_bfv_clients.py --base DIR [--clients 1,8,32] [--boots 32]
         [--image-mb 8] [--rounds 1] [--no-watch]
DIR is a checkout of the base commit (``git worktree add /tmp/base <commit>``). For each
client count, a cloud of the base tree and one of this tree are measured one after the
other by this tree's bench_bfv.py (PYTHONPATH and the working directory on the tree, so
the cloud runs its code; the measuring code is the same), then bench_bfv_sql.py counts
statements and write transactions per boot. One client polls its server every 5 ms;
more clients share one watcher (``--watch``, 20 ms). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _run(tree: Path, script: str, *args: str) -> str:
    """This tree's bench script, with the cloud it starts running ``tree``'s code: one
    measuring code for both trees."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, str(HERE / "bench" / script), *args], cwd=tree,
                         env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{tree} {script}: {out.stderr[-2000:]}")
    return out.stdout


def bfv(tree: Path, clients: int, boots: int, image_mb: int, watch: bool) -> dict:
    # 1 client polls its own server every 5 ms (the latency figure); more clients share
    # one watcher polling every 20 ms, so the cloud serves boots rather than 32 pollers
    extra = ["--watch", "--poll", "0.02"] if watch and clients > 1 else ["--poll", "0.005"]
    text = _run(tree, "bench_bfv.py", "--clients", str(clients), "--per-client",
                str(max(1, boots // clients)), "--image-mb", str(image_mb), *extra)

    def num(label: str) -> float:
        m = re.search(rf"\| {re.escape(label)}[^|]*\| ([\d.]+)", text)
        return float(m.group(1)) if m else float("nan")

    failed = re.search(r"(\d+) boots \((\d+) failed\)", text)
    return {"rate": num("sustained boots/s"), "p50": num("BFV POST → ACTIVE p50"),
            "p99": num("BFV POST → ACTIVE p99"),
            "failed": int(failed.group(2)) if failed else -1}


def sql(tree: Path) -> str:
    return _run(tree, "bench_bfv_sql.py", "--boots", "20").strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, type=Path)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--boots", type=int, default=32, help="boots per run (split over clients)")
    ap.add_argument("--image-mb", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole comparison")
    ap.add_argument("--no-watch", action="store_true",
                    help="every client polls its own server every 5 ms (the old way)")
    args = ap.parse_args()
    trees = {"base": args.base.resolve(), "this": HERE}
    print("| clients | tree | boots/s | p50 ms | p99 ms | failed |\n|---|---|---|---|---|---|")
    for clients in [int(c) for c in args.clients.split(",")] * args.rounds:
        for name, tree in trees.items():
            r = bfv(tree, clients, args.boots, args.image_mb, not args.no_watch)
            print(f"| {clients} | {name} | {r['rate']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} "
                  f"| {r['failed']} |", flush=True)
    print()
    for name, tree in trees.items():
        print(f"- {name}: {sql(tree)}", flush=True)


if __name__ == "__main__":
    main()
