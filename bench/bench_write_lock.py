"""Boot from volume in one process: how long each write transaction holds SQLite's
in-process write lock (issue 14).

Run: python bench/bench_write_lock.py [--boots 40]

SQLite has one writer; stackling serialises its writers on one lock per process
(stackling/db/api.py, ``Database._write_lock``), taken at a write transaction's begin and
released at its commit. With many clients that lock is the queue every boot waits in, so
the time a boot holds it bounds the boots per second. An in-process cloud
(bench_bfv_sql.ready_cloud) boots ``--boots`` servers from new volumes one after the
other; the lock is wrapped to time each hold from the outermost acquire to its release,
named by the first stackling function on the stack outside the database layer. Prints
the time held per boot by that function, and the total.
"""

from __future__ import annotations

import argparse
import collections
import threading
import time
import traceback

from _common import machine
from bench_bfv_sql import boot, ready_cloud


class TimedLock:
    """A re-entrant lock that records how long each outermost hold lasted, by caller."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.local = threading.local()
        self.held: dict[str, list[float]] = collections.defaultdict(list)

    def __enter__(self) -> TimedLock:
        self.inner.acquire()
        depth = getattr(self.local, "depth", 0)
        if depth == 0:
            self.local.site = _caller()
            self.local.t0 = time.perf_counter()
        self.local.depth = depth + 1
        return self

    def __exit__(self, *exc) -> None:
        self.local.depth -= 1
        if self.local.depth == 0:
            self.held[self.local.site].append(time.perf_counter() - self.local.t0)
        self.inner.release()


def _caller() -> str:
    for frame in reversed(traceback.extract_stack(limit=16)[:-2]):
        name = frame.filename
        if "/stackling/" in name and not name.endswith("db/api.py"):
            return f"{name.split('/stackling/')[-1]}:{frame.name}"
    return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=40)
    args = ap.parse_args()
    cloud, api, image = ready_cloud()
    try:
        lock = TimedLock(cloud.db._write_lock)
        cloud.db._write_lock = lock
        for n in range(args.boots):
            boot(api, cloud, image, n)
    finally:
        cloud.stop()
    n = args.boots
    print(f"{machine()}\n")
    print(f"SQLite write lock held per boot from volume ({n} boots, one after the other):\n")
    print("| held by | ms per boot | holds per boot | ms per hold |")
    print("|---|---:|---:|---:|")
    for site, holds in sorted(lock.held.items(), key=lambda kv: -sum(kv[1])):
        print(f"| `{site}` | {sum(holds) / n * 1000:.3f} | {len(holds) / n:.1f} | "
              f"{sum(holds) / len(holds) * 1000:.3f} |")
    total = sum(sum(h) for h in lock.held.values())
    print(f"| all | {total / n * 1000:.2f} | "
          f"{sum(len(h) for h in lock.held.values()) / n:.1f} | |")


if __name__ == "__main__":
    main()
