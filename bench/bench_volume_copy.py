"""Benchmark: image → volume via cp, our sparse copy, our reflink clone and qemu-img convert."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from stackling.storage import scratchfs, volumefiles  # noqa: E402

GiB = volumefiles.GiB
MiB = 1024 * 1024
Row = tuple[str, str, str, float, float | None]  # case, fs, method, seconds, cp seconds


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()


def drop_caches() -> bool:
    """Cold-cache timings when we may (root); otherwise the table says the cache was warm."""
    os.sync()
    try:
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def fsync_path(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_image(path: pathlib.Path, size: int, sparse_every: int | None = None) -> None:
    """Fill with one repeated 1 MiB random block; ``sparse_every`` leaves holes in between."""
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        if sparse_every:
            for off in range(0, size, sparse_every):
                f.seek(off)
                f.write(block)
            f.truncate(size)
        else:
            for _ in range(size // MiB):
                f.write(block)
        f.flush()
        os.fsync(f.fileno())


def timed(fn: Callable[[], object], dst: pathlib.Path, repeats: int) -> float:
    """Best wall time of ``fn`` (plus fsync of ``dst``) over ``repeats`` cold-cache runs."""
    best = float("inf")
    for _ in range(repeats):
        drop_caches()
        t0 = time.perf_counter()
        fn()
        fsync_path(dst)
        best = min(best, time.perf_counter() - t0)
        dst.unlink()
    return best


def cp_time(src: pathlib.Path, dst: pathlib.Path, repeats: int,
            reflink: str = "never") -> float:
    return timed(lambda: subprocess.run(["cp", f"--reflink={reflink}", str(src), str(dst)],
                                        check=True), dst, repeats)


def ours_time(vols: volumefiles.VolumeFiles, image: pathlib.Path, disk_format: str,
              size_gb: int, want: str, repeats: int) -> float:
    def run() -> None:
        method = vols.create_from_image("bench", image, disk_format, size_gb)
        assert method == want, f"expected {want}, got {method}"
    return timed(run, vols.path("bench"), repeats)


def fs_type(path: pathlib.Path) -> str:
    return sh("findmnt", "-no", "FSTYPE", "-T", str(path)) or "?"


def bench_plain(base: pathlib.Path, size_gb: int, sparse: bool, repeats: int) -> list[Row]:
    """cp vs our sparse-aware copy on the base filesystem (and qemu-img for 1 GiB)."""
    rows: list[Row] = []
    label = f"{size_gb} GiB {'sparse (1 MiB data / 256 MiB)' if sparse else 'dense'}"
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-copy-") as tmp:
        work = pathlib.Path(tmp)
        image = work / "image.raw"
        write_image(image, size_gb * GiB, 256 * MiB if sparse else None)
        vols = volumefiles.VolumeFiles(work / "backend")
        fs = fs_type(work)
        method = "reflink" if vols.supports_reflink() else "copy"
        cp = cp_time(image, work / "cp.out", repeats)
        rows.append((label, fs, "cp --reflink=never", cp, cp))
        # NOTE: coreutils >= 9 uses copy_file_range unless told --reflink=never, so its
        # default is the fair "kernel fast path" reference for our copy.
        rows.append((label, fs, "cp --reflink=auto (reference)",
                     cp_time(image, work / "cp.out", repeats, "auto"), cp))
        rows.append((label, fs, f"create_from_image raw ({method})",
                     ours_time(vols, image, "raw", size_gb, method, repeats), cp))
        if size_gb == 1 and not sparse:
            qcow = work / "image.qcow2"
            subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(image),
                            str(qcow)], check=True)
            rows.append((label, fs, "create_from_image qcow2 (qemu-img convert)",
                         ours_time(vols, qcow, "qcow2", size_gb, "qemu-img", repeats), cp))
    return rows


def bench_reflink(base: pathlib.Path, size_gb: int, repeats: int) -> list[Row]:
    """cp vs our clone path on a loop-mounted reflink filesystem."""
    try:
        with scratchfs.reflink_scratch(size=(2 * size_gb + 2) * GiB, base_dir=base) as mnt:
            return _bench_on_reflink_fs(mnt, base, size_gb, repeats)
    except scratchfs.ScratchFsUnavailable as exc:
        print(f"reflink filesystem unavailable: {exc}", file=sys.stderr)
        return []


def _bench_on_reflink_fs(mnt: pathlib.Path, base: pathlib.Path, size_gb: int,
                         repeats: int) -> list[Row]:
    label = f"{size_gb} GiB dense"
    image = mnt / "image.raw"
    write_image(image, size_gb * GiB)
    vols = volumefiles.VolumeFiles(mnt / "backend")
    fs = f"{fs_type(mnt)} (loop file on {fs_type(base)})"
    cp = cp_time(image, mnt / "cp.out", repeats)
    return [(label, fs, "cp --reflink=never", cp, cp),
            (label, fs, "create_from_image raw (reflink)",
             ours_time(vols, image, "raw", size_gb, "reflink", repeats), cp),
            (label, fs, "clone volume→volume (reflink)",
             _clone_time(vols, image, size_gb, repeats), cp)]


def _clone_time(vols: volumefiles.VolumeFiles, image: pathlib.Path, size_gb: int,
                repeats: int) -> float:
    vols.create_from_image("src", image, "raw", size_gb)
    try:
        return timed(lambda: vols.clone("src", "bench", size_gb), vols.path("bench"), repeats)
    finally:
        vols.delete("src")


@contextlib.contextmanager
def enough_space(base: pathlib.Path, need_gb: int) -> Iterator[bool]:
    free = shutil.disk_usage(base).free / GiB
    if free < need_gb:
        print(f"skipping: {need_gb} GiB needed, {free:.0f} GiB free at {base}", file=sys.stderr)
    yield free >= need_gb


def table(rows: list[Row], base: pathlib.Path, cold: bool) -> str:
    head = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {sh('nproc')} CPUs ({platform.processor() or platform.machine()}), "
        f"kernel {platform.release()}, work filesystem {fs_type(base)} at {base}",
        f"- tools: {sh('cp', '--version').splitlines()[0]}, "
        f"{sh('qemu-img', '--version').splitlines()[0]}",
        f"- each time includes fsync of the destination; page cache "
        f"{'dropped before each run' if cold else 'NOT dropped (not root)'}; best of N runs",
        "",
        "| case | filesystem | method | seconds | ratio vs cp (same fs) |",
        "|---|---|---|---:|---:|",
    ]
    body = [f"| {case} | {fs} | {method} | {secs:.4f} | "
            f"{secs / cp:.4f}× |" for case, fs, method, secs, cp in rows]
    return "\n".join(head + body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=pathlib.Path, default=pathlib.Path(tempfile.gettempdir()),
                    help="where scratch files go (default: the temp dir)")
    ap.add_argument("--sizes", default="1,10", help="image sizes in GiB, comma-separated")
    ap.add_argument("--repeat", type=int, default=0,
                    help="runs per measurement (default: 3 up to 1 GiB, else 1)")
    args = ap.parse_args()
    cold = drop_caches()
    rows: list[Row] = []
    for size_gb in (int(s) for s in args.sizes.split(",")):
        repeats = args.repeat or (3 if size_gb <= 1 else 1)
        with enough_space(args.dir, 2 * size_gb + 2) as ok:
            if ok:
                rows += bench_plain(args.dir, size_gb, False, repeats)
                rows += bench_reflink(args.dir, size_gb, repeats)
        rows += bench_plain(args.dir, size_gb, True, repeats)
        print(f"done {size_gb} GiB", file=sys.stderr)
    print(table(rows, args.dir, cold))


if __name__ == "__main__":
    main()
