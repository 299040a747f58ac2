"""Crash consistency, several runs: BFV/delete loops, kill -9, restart, count the rows
that break an invariant (tests/crash.py).

Run: python bench/bench_crash.py [--sqlite 5] [--postgresql 2] [--spread 2] [--clients 8]
[--seconds 10]. ``--spread``: `stackling start --spread` on a scratch PostgreSQL database
and a RabbitMQ virtual host and exchange of its own (tests/rabbit.py); the supervisor and
every child are killed.
Prints a markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import uuid

import sqlalchemy as sa
from _common import machine, tempdir

from tests.crash import crash_run

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def scratch_pg() -> tuple[str, callable]:
    name = f"crash_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()

    return sa.engine.make_url(PG).set(database=name).render_as_string(False), drop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", type=int, default=5)
    ap.add_argument("--postgresql", type=int, default=2)
    ap.add_argument("--spread", type=int, default=0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    for engine, runs in (("sqlite", args.sqlite), ("postgresql", args.postgresql),
                         ("spread", args.spread)):
        for run in range(runs):
            url, drop = scratch_pg() if engine != "sqlite" else (None, lambda: None)
            exchange = f"crash-{uuid.uuid4().hex[:8]}" if engine == "spread" else None
            try:
                bad, facts = crash_run(tempdir(), args.clients, args.seconds, url, seed=run,
                                       exchange=exchange)
            finally:
                drop()
            rows.append((engine, run + 1, len(bad), facts["restart_s"], facts["settle_s"],
                         bad[:5]))
    print("## Crash consistency (`bench/bench_crash.py`)\n")
    print(f"Machine: {machine()}\n")
    print(f"{args.clients} clients booting from volume and deleting (half of them while "
          f"building) for {args.seconds:g} s, then `kill -9`, restart:\n")
    print("| engine | run | inconsistencies | restart → APIs answer (s) | then consistent "
          "after (s) |\n|---|---|---|---|---|")
    for engine, run, n, restart, settle, _ in rows:
        print(f"| {engine} | {run} | {n} | {restart:.1f} | {settle:.1f} |")
    for engine, run, n, _, _, first in rows:
        if n:
            print(f"\n{engine} run {run}: {first}")


if __name__ == "__main__":
    main()
