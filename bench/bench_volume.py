"""Benchmark (not a test): Cinder volume create latency and create-from-image time.

1. Blank volume create: p50/p99 latency of POST /volumes (202) and creates/s with 8
   concurrent clients against a live cloud (``stackling start -d``), bounded counts.
2. Create from a 1 GiB raw image until ``available``: on the data dir's own filesystem
   (copy path: copy_file_range/sendfile) and, when a reflink filesystem can be made
   (root + mkfs.xfs/btrfs), on that (clone path); each next to ``cp --reflink=never``
   of the same image file in the same run. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from stackling.storage import scratchfs  # noqa: E402
from tests.helpers import LiveCloud  # noqa: E402

GiB = 1024 ** 3


def wait_status(conn, vol_id: str, want: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = conn.block_storage.get_volume(vol_id).status
        if status == want:
            return
        if status == "error":
            raise RuntimeError(f"volume {vol_id} went to error")
        time.sleep(0.05)
    raise TimeoutError(vol_id)


def bench_blank(cloud: LiveCloud, total: int, clients: int) -> dict:
    conn = cloud.connect()
    project = conn.current_project_id
    conn.block_storage.update_quota_set(project, volumes=-1, gigabytes=-1)
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = total // clients

    def worker() -> None:
        c = cloud.connect()
        sess = c.block_storage
        for _ in range(per_client):
            t0 = time.perf_counter()
            sess.post("/volumes", json={"volume": {"size": 1}})
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    for _ in range(3):   # warm-up (connections, caches)
        conn.block_storage.post("/volumes", json={"volume": {"size": 1}})
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {"n": len(latencies), "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "rate": len(latencies) / wall}


def make_image(path: pathlib.Path) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for _ in range(1024):
            f.write(block)


def bench_from_image(base: pathlib.Path, image_file: pathlib.Path) -> tuple[float, float, str]:
    cloud = LiveCloud(base)
    cloud.start()
    try:
        conn = cloud.connect()
        img = conn.image.create_image(name="big", filename=str(image_file), disk_format="raw",
                                      container_format="bare", wait=True, validate_checksum=False)
        stored = cloud.data_dir / "images" / img.id
        t0 = time.perf_counter()
        vol = conn.block_storage.create_volume(size=1, image_id=img.id)
        wait_status(conn, vol.id, "available")
        took = time.perf_counter() - t0
        method = "clone (reflink)" if "(reflink)" in cloud.log() else "copy"
        dst = base / "cp-copy"
        t0 = time.perf_counter()
        subprocess.run(["cp", "--reflink=never", str(stored), str(dst)], check=True)
        os.sync()
        cp = time.perf_counter() - t0
        dst.unlink()
        return took, cp, method
    finally:
        cloud.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--creates", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-vol-") as tmp:
        tmp = pathlib.Path(tmp)
        cloud = LiveCloud(tmp / "blank")
        cloud.start()
        try:
            blank = bench_blank(cloud, args.creates, args.clients)
        finally:
            cloud.stop()
        image = tmp / "image.raw"
        make_image(image)
        took, cp, method = bench_from_image(tmp / "copy", image)
        rows.append(("1 GiB raw image → volume, data dir fs", method, took, cp))
        try:
            with scratchfs.reflink_scratch(size=6 * GiB, base_dir=tmp) as mnt:
                took, cp, method = bench_from_image(mnt / "cloud", image)
                rows.append(("1 GiB raw image → volume, reflink fs", method, took, cp))
        except scratchfs.ScratchFsUnavailable as exc:
            rows.append((f"reflink fs unavailable: {exc}", "-", float("nan"), float("nan")))
    fs = subprocess.run(["stat", "-f", "-c", "%T", tempfile.gettempdir()], capture_output=True,
                        text=True).stdout.strip()
    print(f"Machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, kernel "
          f"{platform.release()}, tmp fs {fs}; date {datetime.date.today()}\n")
    print(f"| blank create ({args.clients} clients, {blank['n']} creates) | p50 ms | p99 ms "
          "| creates/s |\n|---|---|---|---|")
    print(f"| POST /volumes → 202 | {blank['p50']:.1f} | {blank['p99']:.1f} | "
          f"{blank['rate']:.1f} |\n")
    print("| case | path | time to available (s) | cp --reflink=never (s) |\n|---|---|---|---|")
    for case, method, took, cp in rows:
        print(f"| {case} | {method} | {took:.2f} | {cp:.2f} |")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
