"""Boot from volume in one process without HTTP: the cloud's CPU per boot and its writer.

Run: python bench/bench_bfv_inprocess.py [--clients 1,8,32] [--boots 64]
An in-process cloud (SQLite, fake driver, file backend, 1 MiB image, Nova polling Cinder
back to back as in bench_bfv.py). For each client count, that many threads boot servers
from new volumes through the WSGI apps (no sockets) and wait for each to leave BUILD
(one watcher thread lists the servers in BUILD every 10 ms for all clients, so the
polling load does not grow with the clients, as bench_bfv.py's --watch). Prints boots/s, the
process's CPU per boot (the threads' waits included, a little) split into user and
kernel time, the threads' context switches per boot (waits handed over: the GIL, locks,
queues; what the kernel time grows with), write transactions per
boot and how long each held SQLite's one writer (the in-process write lock), and the
call sites that held it longest. What a single process can do is about 1 / (CPU per
boot): the GIL gives it one core.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import resource
import threading
import time
import traceback

from _common import machine
from bench_bfv_sql import ready_cloud
from sqlalchemy import select

from stackling.db.models_compute import Instance
from tests.helpers import ApiClient


class WriterClock:
    """Wraps ``Database.writer``: time waited for and holding the writer, by call site."""

    def __init__(self, db, sites: bool) -> None:
        self.db, self.by_site = db, sites
        self.holds: list[float] = []
        self.waits: list[float] = []
        self.sites: collections.defaultdict = collections.defaultdict(list)
        # both kinds of write transaction: ORM sessions and Core connections
        db.writer = functools.partial(self.writer, db.writer)
        if hasattr(db, "writer_connection"):     # trees before 88b0bd0 have sessions only
            db.writer_connection = functools.partial(self.writer, db.writer_connection)

    @contextlib.contextmanager
    def writer(self, inner):
        t0 = time.perf_counter()
        with inner() as s:
            t1 = time.perf_counter()
            yield s
        held = time.perf_counter() - t1
        self.holds.append(held)
        self.waits.append(t1 - t0)
        if self.by_site:        # a stack walk per transaction: only when asked (--top)
            self.sites[self._site()].append(held)

    @staticmethod
    def _site() -> str:
        for f in reversed(traceback.extract_stack(limit=14)[:-3]):
            if "/stackling/" in f.filename and "/db/" not in f.filename:
                return f"{f.filename.split('/stackling/')[-1]}:{f.name}"
        return "?"

    def reset(self) -> None:
        self.holds.clear(), self.waits.clear(), self.sites.clear()


class Watcher:
    """Lists the servers still building every ``interval`` seconds and wakes the client
    waiting for each one that left BUILD."""

    def __init__(self, cloud, interval: float = 0.01) -> None:
        self.cloud, self.interval = cloud, interval
        self.waiting: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def wait(self, sid: str) -> None:
        event = threading.Event()
        with self.lock:
            self.waiting[sid] = event
        event.wait()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                if not self.waiting:
                    continue
            with self.cloud.db.reader() as s:
                building = set(s.scalars(select(Instance.uuid).where(
                    Instance.vm_state == "building")))
            with self.lock:
                for sid in [sid for sid in self.waiting if sid not in building]:
                    self.waiting.pop(sid).set()


def run(clients_list: list[int], boots: int, top: int) -> None:
    cloud, api, image = ready_cloud()
    try:
        clock = WriterClock(cloud.db, top > 0)
        watcher = Watcher(cloud)
        print(f"Machine: {machine()}\n")
        print("| clients | boots | boots/s | CPU per boot (user + sys) | context switches per "
              "boot | write txns per boot | writer held p50 / mean | writer busy | waited for "
              "the writer |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for clients in clients_list:
            per = max(1, boots // clients)

            def worker(n: int) -> None:
                me = ApiClient(cloud)
                me._token, me.project_id = api._token, api.project_id
                for i in range(per):
                    resp = me.post("compute", "/v2.1/servers", {"server": {
                        "name": f"c{n}-{i}", "imageRef": "", "flavorRef": "42",
                        "networks": "none", "block_device_mapping_v2": [{
                            "boot_index": 0, "uuid": image, "source_type": "image",
                            "destination_type": "volume", "volume_size": 1,
                            "delete_on_termination": True}]}},
                        headers={"OpenStack-API-Version": "compute 2.60"})
                    watcher.wait(resp.json["server"]["id"])

            clock.reset()
            times0, switches0, t0 = os.times(), _switches(), time.perf_counter()
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, times = time.perf_counter() - t0, os.times()
            user, system = times.user - times0.user, times.system - times0.system
            n = clients * per
            holds = sorted(clock.holds)
            print(f"| {clients} | {n} | {n / wall:.1f} | {(user + system) / n * 1000:.0f} ms "
                  f"({user / n * 1000:.0f} + {system / n * 1000:.1f}) | "
                  f"{(_switches() - switches0) / n:.0f} | {len(holds) / n:.1f} | {holds[len(holds) // 2] * 1000:.2f} / "
                  f"{sum(holds) / len(holds) * 1000:.2f} ms | {sum(holds) / wall * 100:.0f} % | "
                  f"{sum(clock.waits):.1f} s |", flush=True)
            for site, held in sorted(clock.sites.items(), key=lambda kv: -sum(kv[1]))[:top]:
                print(f"|   | {site} | | | | {len(held) / n:.1f} | mean {sum(held) / len(held) * 1000:.2f}"
                      f" ms, max {max(held) * 1000:.1f} ms | | |")
        watcher.stopped.set()
    finally:
        cloud.stop()


def _switches() -> int:
    """Context switches of this process's threads so far, voluntary and not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--boots", type=int, default=64)
    ap.add_argument("--top", type=int, default=0, help="list the N sites holding the writer longest")
    args = ap.parse_args()
    run([int(c) for c in args.clients.split(",")], args.boots, args.top)


if __name__ == "__main__":
    main()
