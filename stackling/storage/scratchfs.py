"""Throwaway reflink filesystems (XFS or btrfs in a loop-mounted file) for tests and benches."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

# NOTE: XFS refuses filesystems under 300 MiB; the backing file is sparse, so the size
# only costs disk space for what is actually written.
DEFAULT_SIZE = 512 * 1024 * 1024
_MKFS = (("mkfs.xfs", ["-q", "-m", "reflink=1"]), ("mkfs.btrfs", ["-q"]))


class ScratchFsUnavailable(RuntimeError):
    """No reflink filesystem can be made here; the message says why (for pytest.skip)."""


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ScratchFsUnavailable(f"{' '.join(cmd[:2])} failed: {proc.stderr.strip()}")


def _mkfs_command() -> list[str]:
    if os.geteuid() != 0:
        raise ScratchFsUnavailable("loop-mounting a filesystem needs root")
    if not (shutil.which("mount") and shutil.which("umount")):
        raise ScratchFsUnavailable("mount/umount not found")
    for tool, args in _MKFS:
        if shutil.which(tool):
            return [tool, *args]
    raise ScratchFsUnavailable("neither mkfs.xfs (xfsprogs) nor mkfs.btrfs (btrfs-progs) found")


@contextlib.contextmanager
def reflink_scratch(size: int = DEFAULT_SIZE,
                    base_dir: os.PathLike | str | None = None) -> Iterator[pathlib.Path]:
    """Yield the mount point of a fresh reflink filesystem; unmount and delete it afterwards."""
    mkfs = _mkfs_command()
    work = pathlib.Path(tempfile.mkdtemp(prefix="stackling-reflinkfs-", dir=base_dir))
    image, mnt = work / "fs.img", work / "mnt"
    mnt.mkdir()
    mounted = False
    try:
        image.touch(mode=0o600)
        os.truncate(image, size)
        _run([*mkfs, str(image)])
        _run(["mount", "-o", "loop", str(image), str(mnt)])
        mounted = True
        yield mnt
    finally:
        if mounted:
            # NOTE: a lazy unmount as the fallback, so a straggling open file in a failed
            # test never leaves the loop device and its backing file behind.
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
