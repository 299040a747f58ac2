"""Boot from volume: the interpreter's work per boot, counted (issue 14).

Run: python bench/bench_bfv_calls.py [--boots 40] [--top 0]
(needs yappi: ``pip install -e ".[bench]"``)

Timings on a shared VM move by a factor of two from one run to the next; the number of
function calls a boot makes does not (the same tree gives the same count). An in-process
cloud (bench_bfv_sql.ready_cloud: SQLite, fake driver, file backend) boots ``--boots``
servers from new volumes one after the other, each POST followed by a fixed pause long
enough for the build to end (no polling: only the boot's own work is counted), while
yappi counts every call in every thread: Python functions and builtins. Background work
(heartbeats, the periodic tasks) runs during the pauses and is counted too; it is the
same for every tree. ``--top N`` lists the N functions called most per boot.

To compare two trees, run it with each on PYTHONPATH (the cloud runs that tree's code):
``PYTHONPATH=/work/wt/base python bench/bench_bfv_calls.py`` then with this tree.
"""

from __future__ import annotations

import argparse
import os
import time

import yappi
from _common import machine
from bench_bfv_sql import ready_cloud
from sqlalchemy import select

from stackling.db.models_compute import Instance

BODY = {"server": {"name": "calls", "imageRef": "", "flavorRef": "42", "networks": "none",
                   "block_device_mapping_v2": [{
                       "boot_index": 0, "source_type": "image", "destination_type": "volume",
                       "volume_size": 1, "delete_on_termination": True}]}}


def count(boots: int, pause: float) -> tuple[list, dict]:
    cloud, api, image = ready_cloud()
    BODY["server"]["block_device_mapping_v2"][0]["uuid"] = image
    headers = {"OpenStack-API-Version": "compute 2.60"}
    try:
        sids = []
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True)
        for _ in range(boots):
            resp = api.post("compute", "/v2.1/servers", BODY, headers=headers)
            sids.append(resp.json["server"]["id"])
            time.sleep(pause)
        yappi.stop()
        with cloud.db.reader() as s:
            states = dict(s.execute(select(Instance.uuid, Instance.vm_state)
                                    .where(Instance.uuid.in_(sids))).all())
        if [states.get(sid) for sid in sids] != ["active"] * boots:
            raise SystemExit(f"a boot had not ended after {pause} s: {states}")
        stats = list(yappi.get_func_stats())
        yappi.clear_stats()
        return stats, {"boots": boots}
    finally:
        cloud.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=40)
    ap.add_argument("--pause", type=float, default=0.6,
                    help="seconds after each POST (the build ends within it, profiled)")
    ap.add_argument("--top", type=int, default=0)
    args = ap.parse_args()
    stats, _ = count(args.boots, args.pause)
    n = args.boots
    python = sum(f.ncall for f in stats if not f.builtin) / n
    builtin = sum(f.ncall for f in stats if f.builtin) / n
    tree = os.environ.get("PYTHONPATH") or "this checkout"
    print(f"{machine()}; tree {tree}\n")
    print(f"function calls per boot from volume ({n} boots, in-process): "
          f"{python + builtin:.0f} ({python:.0f} Python, {builtin:.0f} builtin)")
    for f in sorted(stats, key=lambda f: -f.ncall)[:args.top]:
        where = f.module.split("site-packages/")[-1].split("/stackling/")[-1]
        print(f"{f.ncall / n:8.1f}  {f.name}  ({where}:{f.lineno})")


if __name__ == "__main__":
    main()
