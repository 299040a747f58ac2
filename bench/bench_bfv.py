"""Boot from volume: POST /servers (image → volume, 1 GiB image) → ACTIVE, and server delete
with volume cleanup.

Run: python bench/bench_bfv.py [--clients 8] [--per-client 10] [--image-mb 1024]
         [--data-dir DIR]   (put DIR on XFS with reflink or btrfs for the clone path)
Prints a markdown section. Drives a live cloud (`stackling start -d`, SQLite, fake driver,
file volume backend) over keep-alive HTTP: each client boots a server from a new 1 GiB
volume made from the image (delete_on_termination true), polls it until ACTIVE, and,
once every client's boots are done, deletes its servers and polls until each server and
its volume are gone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from _common import machine, pct, tempdir
from bench_compute import TOPOLOGY, Client, _project_id, token

from tests.helpers import LiveCloud

NOVA = "[DEFAULT]\nblock_device_allocate_retries = 600\n" \
       "block_device_allocate_retries_interval = 0\n"
# retries_interval is an integer option (seconds): 0 makes Nova poll back to back, so the
# wait loop costs one GET per round trip here; the retry count bounds it.


def upload(cloud: LiveCloud, tok: str, size_mb: int) -> str:
    u = urlparse(cloud.url("image"))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    hdr = {"X-Auth-Token": tok, "Content-Type": "application/json"}
    conn.request("POST", "/v2/images", json.dumps({"name": "bfv", "disk_format": "raw",
                                                   "container_format": "bare"}), hdr)
    image_id = json.loads(conn.getresponse().read())["id"]
    chunk = (b"stackling" * 120000)[:1 << 20]

    def body():
        for _ in range(size_mb):
            yield chunk

    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.putrequest("PUT", f"/v2/images/{image_id}/file")
    conn.putheader("X-Auth-Token", tok)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size_mb << 20))
    conn.endheaders()
    for part in body():
        conn.send(part)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 204, resp.status
    return image_id


class Watcher:
    """One poller for every client's servers (``--watch``): ``GET /servers?status=BUILD``
    (ids only) every ``poll`` seconds wakes each client whose server left the list, so 32
    clients cost one poll per interval rather than 32 (the client then reads its server
    once, as a per-server poller's last GET would)."""

    def __init__(self, url: str, tok: str, poll: float) -> None:
        self.client, self.poll = Client(url, tok), poll
        self.waiting: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def wait(self, sid: str) -> None:
        event = threading.Event()
        with self.lock:
            self.waiting[sid] = event
        event.wait(120)

    def _run(self) -> None:
        while self.running:
            with self.lock:
                asked = list(self.waiting)
            if asked:
                _, body = self.client.call("GET", "/v2.1/servers?status=BUILD&limit=1000")
                building = {s["id"] for s in (body or {}).get("servers", [])}
                with self.lock:
                    for sid in asked:
                        if sid not in building:
                            self.waiting.pop(sid).set()
            time.sleep(self.poll)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def run(clients: int, per_client: int, image_mb: int, data_dir: str | None,
        poll: float = 0.02, watch: bool = False) -> dict:
    base = Path(data_dir) if data_dir else tempdir()
    cloud = LiveCloud(base, nova=NOVA, topology=TOPOLOGY + """
volume_backends:
  - {host: controller2, backend: file, availability_zone: nova}
""")
    cloud.start()
    try:
        tok = token(cloud)
        img = upload(cloud, tok, image_mb)
        admin = Client(cloud.url("compute"), tok)
        project_id = _project_id(cloud, tok)
        admin.call("PUT", f"/v2.1/os-quota-sets/{project_id}", {"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        vol = Client(cloud.url("volume"), tok)
        vol.call("PUT", f"/v3/{project_id}/os-quota-sets/{project_id}", {"quota_set": {
            "volumes": -1, "gigabytes": -1}})
        boots: list[float] = []
        spans: list[tuple[float, float]] = []   # (POST sent, ACTIVE seen) of each boot
        deletes: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def worker(n: int, count: int = per_client,
                   booted: threading.Barrier | None = None) -> None:
            c = Client(cloud.url("compute"), tok)
            cv = Client(cloud.url("volume"), tok)
            mine = []
            for i in range(count):
                t0 = time.perf_counter()
                status, body = c.call("POST", "/v2.1/servers", {"server": {
                    "name": f"b{n}-{i}", "imageRef": "", "flavorRef": "42",
                    "networks": "none", "block_device_mapping_v2": [{
                        "boot_index": 0, "uuid": img, "source_type": "image",
                        "destination_type": "volume", "volume_size": 1,
                        "delete_on_termination": True}]}})
                if status != 202:
                    errors.append(f"{status} {body}")
                    continue
                sid = body["server"]["id"]
                if watcher is not None:
                    watcher.wait(sid)
                while True:
                    status, body = c.call("GET", f"/v2.1/servers/{sid}")
                    if body["server"]["status"] != "BUILD":
                        break
                    time.sleep(poll)
                with lock:
                    if body["server"]["status"] == "ACTIVE":
                        t1 = time.perf_counter()
                        boots.append(t1 - t0)
                        spans.append((t0, t1))
                        vid = body["server"]["os-extended-volumes:volumes_attached"][0]["id"]
                        mine.append((sid, vid))
                    else:
                        errors.append(str(body["server"].get("fault")))
            if booted is not None:
                # deletes (and their polls) only once every client's boots are done: the
                # boot rate measures boots, not boots competing with other clients' deletes
                booted.wait()
            for sid, vid in mine:
                t0 = time.perf_counter()
                c.call("DELETE", f"/v2.1/servers/{sid}")
                while c.call("GET", f"/v2.1/servers/{sid}")[0] != 404 or \
                        cv.call("GET", f"/v3/{project_id}/volumes/{vid}")[0] != 404:
                    time.sleep(poll)
                with lock:
                    deletes.append(time.perf_counter() - t0)

        watcher = Watcher(cloud.url("compute"), tok, poll) if watch else None
        # one boot and delete first, not counted: lazy imports and first-use caches
        worker(-1, 1)
        boots.clear(), spans.clear(), deletes.clear()
        booted = threading.Barrier(clients)
        threads = [threading.Thread(target=worker, args=(n, per_client, booted))
                   for n in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if watcher is not None:
            watcher.stop()
        # the rate is boots finished over wall time: from the first POST to the last boot
        # seen ACTIVE (the deletes come after and are not counted)
        span = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
        return {"n": len(boots), "errors": errors, "wall": wall,
                "p50": pct(boots, 50) * 1000, "p99": pct(boots, 99) * 1000,
                "rate": len(boots) / span if span else 0.0,
                "d50": pct(deletes, 50) * 1000, "d99": pct(deletes, 99) * 1000,
                "fs": _fs(base)}
    finally:
        cloud.stop()


def _fs(path: Path) -> str:
    try:
        best, kind = "", "?"
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if str(path.resolve()).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
        return kind
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=10)
    ap.add_argument("--image-mb", type=int, default=1024)
    ap.add_argument("--data-dir")
    ap.add_argument("--poll", type=float, default=0.02,
                    help="seconds between a client's polls (real clients poll every 1-5 s; "
                         "very fast polling measures the poller, not the boot)")
    ap.add_argument("--watch", action="store_true",
                    help="one shared poller (servers/detail?changes-since) wakes the clients "
                         "instead of each client polling its server")
    args = ap.parse_args()
    r = run(args.clients, args.per_client, args.image_mb, args.data_dir, args.poll, args.watch)
    print("### Boot from volume (stackling issue #5)\n")
    print(f"Machine: {machine()}\n")
    print(f"Live cloud (`stackling start -d`), SQLite, fake driver, file backend on "
          f"{r['fs']}; image {args.image_mb} MiB raw; {args.clients} concurrent keep-alive "
          f"clients, {r['n']} boots ({len(r['errors'])} failed); "
          f"{'one shared watcher polls' if args.watch else 'each client polls'} every "
          f"{args.poll * 1000:.0f} ms:\n")
    print("| metric | value |\n|---|---|")
    print(f"| BFV POST → ACTIVE p50 | {r['p50']:.1f} ms |")
    print(f"| BFV POST → ACTIVE p99 | {r['p99']:.1f} ms |")
    print(f"| sustained boots/s ({args.clients} clients) | {r['rate']:.1f} |")
    print(f"| delete → server and volume gone p50 | {r['d50']:.1f} ms |")
    print(f"| delete → server and volume gone p99 | {r['d99']:.1f} ms |")
    if r["errors"]:
        print("\nfirst error:", r["errors"][0])


if __name__ == "__main__":
    main()
