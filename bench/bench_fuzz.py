"""The long fuzz run: every route of the four APIs, hostile input, no answer may be a 5xx.

Run: python bench/bench_fuzz.py [--per-route 64] [--seed 1]
Every route × method gets ``--per-route`` generated requests (as the admin, as a member of
another project, or without a token, drawn per request). Prints a markdown section for
BENCHMARKS.md with the request count, the 5xx count and the rate; the baseline in the same
run is the cheapest request (GET / on the identity port), so the ratio says what a fuzzed
request costs above the HTTP floor.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time

from _common import machine, tempdir

from tests import fuzzing
from tests.helpers import make_cloud


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-route", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=40, help="failing routes to print")
    ap.add_argument("--only", default="", help="only routes whose template contains this")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    base = tempdir()
    cloud = make_cloud(base)
    slow: list[tuple[float, str]] = []
    try:
        target = fuzzing.make_target(cloud)
        cases = [c for c in target.cases if args.only in c.template]
        failures: list[tuple] = []
        t0 = time.perf_counter()
        for case in cases:
            t1 = time.perf_counter()
            failures.extend(fuzzing.run_case(target, case, args.per_route, args.seed))
            slow.append((time.perf_counter() - t1, f"{case.method} {case.template}"))
        elapsed = time.perf_counter() - t0
        floor = _floor(target)
    finally:
        cloud.stop()
        shutil.rmtree(base, ignore_errors=True)
    count = len(cases) * args.per_route
    print(f"## Fuzz (bench/bench_fuzz.py --per-route {args.per_route} --seed {args.seed})\n")
    print(f"{machine()}\n")
    print("| routes × methods | requests | 5xx | requests/s | baseline GET / per s | ratio |")
    print("|---|---|---|---|---|---|")
    rate = count / elapsed
    print(f"| {len(cases)} | {count} | {len(failures)} | {rate:.0f} | {floor:.0f} | "
          f"{rate / floor:.3f} |")
    by_route: dict[tuple, list] = {}
    for failure in failures:
        by_route.setdefault(failure[1:4], []).append(failure)
    for route, found in sorted(by_route.items())[:args.show]:
        print(f"- {len(found)} × {' '.join(route)}: {found[0][4:]}")
    print("slowest routes:", sorted(slow, reverse=True)[:5])


def _floor(target: fuzzing.Target, n: int = 2000) -> float:
    case = fuzzing.RouteCase("identity", "/", "GET")
    t0 = time.perf_counter()
    for _ in range(n):
        fuzzing.call(target, case, "anonymous", "/", [], None)
    return n / (time.perf_counter() - t0)


if __name__ == "__main__":
    main()
