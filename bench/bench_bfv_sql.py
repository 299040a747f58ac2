"""SQL work per boot from volume: statements and write transactions, and who issues them.

Run: python bench/bench_bfv_sql.py [--boots 20] [--top 15]
In-process cloud (SQLite, fake driver, file backend, Nova polling Cinder back to back as
in bench_bfv.py); boots ``--boots`` servers from new volumes one after the other and
counts, with SQLAlchemy event listeners, every statement (``before_cursor_execute``) and
every commit that wrote (a transaction with at least one INSERT/UPDATE/DELETE), from the
POST until the server is ACTIVE. Client polls are not counted (the API is not polled:
the boot is awaited in-process). ``--top`` lists the stackling functions issuing the most
statements.
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
import traceback
from pathlib import Path

from _common import tempdir
from sqlalchemy import event

from stackling.db.models_compute import Instance
from tests.helpers import ApiClient, make_cloud, settle

NOVA = "[DEFAULT]\nblock_device_allocate_retries = 600\n" \
       "block_device_allocate_retries_interval = 0\n"
TOPOLOGY = """
controller: controller2
compute_hosts:
  - {name: controller1, vcpus: 1024, memory_mb: 1048576, local_gb: 10000}
volume_backends:
  - {host: controller2, backend: file, availability_zone: nova}
"""
ROOT = str(Path(__file__).resolve().parents[1] / "stackling")


class Counter:
    """Statements by verb, write commits, and the stackling frame that issued each."""

    def __init__(self, engine, where: bool) -> None:
        self.lock = threading.Lock()
        self.verbs: collections.Counter = collections.Counter()
        self.sites: collections.Counter = collections.Counter()
        self.commits = 0
        self.tx_sites: collections.Counter = collections.Counter()
        self.where = where
        self._wrote = threading.local()
        event.listen(engine, "before_cursor_execute", self.statement)
        event.listen(engine, "commit", self.commit)

    def statement(self, conn, cursor, sql, params, context, many) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper()
        with self.lock:
            self.verbs[verb] += 1
            if self.where:
                self.sites[self._site()] += 1
        if verb in ("INSERT", "UPDATE", "DELETE") and not getattr(self._wrote, "flag", None):
            self._wrote.flag = self._site() if self.where else True

    def commit(self, conn) -> None:
        site = getattr(self._wrote, "flag", None)
        if site:
            with self.lock:
                self.commits += 1
                self.tx_sites[site] += 1
        self._wrote.flag = None

    @staticmethod
    def _site() -> str:
        for frame in reversed(traceback.extract_stack(limit=40)):
            if frame.filename.startswith(ROOT) and "/db/" not in frame.filename:
                return f"{frame.filename[len(ROOT) + 1:]}:{frame.name}"
        return "?"

    def total(self) -> int:
        return sum(self.verbs.values())


def upload(api: ApiClient) -> str:
    image = api.post("image", "/v2/images", {"name": "bfv", "disk_format": "raw",
                                             "container_format": "bare"}).json["id"]
    api.request("image", "PUT", f"/v2/images/{image}/file", raw=b"\1" * (1 << 20),
                headers={"Content-Type": "application/octet-stream"})
    return image


def boot(api: ApiClient, cloud, image: str, n: int) -> str:
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": f"b{n}", "imageRef": "", "flavorRef": "42", "networks": "none",
        "block_device_mapping_v2": [{
            "boot_index": 0, "uuid": image, "source_type": "image",
            "destination_type": "volume", "volume_size": 1,
            "delete_on_termination": True}]}},
        headers={"OpenStack-API-Version": "compute 2.60"})
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settle(cloud)
    with cloud.db.reader() as s:
        state = s.query(Instance.vm_state).filter_by(uuid=sid).scalar()
    assert state == "active", state
    return sid


def ready_cloud():
    """An in-process cloud with the image uploaded, the admin's quotas lifted and one
    boot done (first-use caches, lazy imports): (cloud, api, image id)."""
    cloud = make_cloud(tempdir(), nova=NOVA, topology=TOPOLOGY)
    api = ApiClient(cloud)
    image = upload(api)
    api.put("compute", f"/v2.1/os-quota-sets/{api.project_id}", {"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}})
    api.put("volume", f"/v3/{api.project_id}/os-quota-sets/{api.project_id}",
            {"quota_set": {"volumes": -1, "gigabytes": -1}})
    boot(api, cloud, image, -1)
    return cloud, api, image


def measure(boots: int, where: bool) -> dict:
    cloud, api, image = ready_cloud()
    try:
        counter = Counter(cloud.db.engine, where)
        t0 = time.perf_counter()
        for n in range(boots):
            boot(api, cloud, image, n)
        wall = time.perf_counter() - t0
        return {"statements": counter.total() / boots, "commits": counter.commits / boots,
                "verbs": {k: v / boots for k, v in counter.verbs.most_common()},
                "sites": [(k, v / boots) for k, v in counter.sites.most_common()],
                "tx_sites": [(k, v / boots) for k, v in counter.tx_sites.most_common()],
                "wall_ms": wall / boots * 1000}
    finally:
        cloud.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=20)
    ap.add_argument("--top", type=int, default=0, help="list the top N call sites")
    args = ap.parse_args()
    r = measure(args.boots, args.top > 0)
    print(f"per boot from volume ({args.boots} boots, sequential, in-process): "
          f"{r['statements']:.1f} statements, {r['commits']:.1f} write transactions; "
          + ", ".join(f"{k} {v:.1f}" for k, v in r["verbs"].items()))
    for title, key in (("statements", "sites"), ("write transactions (first write)",
                                                   "tx_sites")):
        if args.top:
            print(f"{title} by stackling function:")
        for site, n in r[key][:args.top]:
            print(f"  {n:6.1f}  {site}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
