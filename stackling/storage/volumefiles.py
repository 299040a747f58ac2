"""The file volume backend's data path: raw volume files, cloned by reflink or copied sparsely.

A copy writes with O_DIRECT where the filesystem takes it, as Cinder's LVM driver writes
volume data (``dd oflag=direct``, "to avoid thrashing the system buffer cache"): the bytes
go to the device, not into dirty page cache that the kernel must write back later. A
conversion runs ``qemu-img convert -t none`` there, as Cinder does onto a block device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import mmap
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator

from stackling.storage import convert, formats

GiB = 1024 ** 3
# NOTE: FICLONE = _IOW(0x94, 9, int); the same ioctl number on every Linux architecture
# we care about, and shared by btrfs, XFS (reflink=1), bcachefs and OCFS2.
FICLONE = 0x40049409
_COPY_CHUNK = 64 * 1024 * 1024
# O_DIRECT wants offsets, lengths and buffers aligned to the device's logical block
# (512 B or 4 KiB); 4 KiB serves both. Reads and writes go through one 1 MiB buffer.
_DIRECT_ALIGN = 4096
_DIRECT_CHUNK = 1024 * 1024
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z")
# errnos meaning "this filesystem (pair) cannot share extents": fall back to copying.
_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}


class VolumeFileError(Exception):
    """Base class for file volume backend failures."""


class VolumeExists(VolumeFileError, FileExistsError):
    """The target volume or snapshot file is already there."""


class VolumeNotFound(VolumeFileError, FileNotFoundError):
    """No file for this volume or snapshot."""


class VolumeTooSmall(VolumeFileError):
    """The requested size cannot hold the source (or would shrink the volume)."""


class ImageUnacceptable(VolumeFileError):
    """The image is unsafe or does not match its declared disk_format."""


class ImageConversionError(VolumeFileError):
    """The conversion to raw failed; ``stderr`` holds qemu-img's own words when it ran."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        self.stderr, self.returncode = stderr, returncode
        super().__init__(f"{message}: {stderr.strip()}" if stderr.strip() else message)


@dataclasses.dataclass(frozen=True)
class Capacity:
    """Filesystem size as Cinder reports it: GiB, two decimals."""

    total_gb: float
    free_gb: float


class VolumeFiles:
    """One backend folder: ``volume-<id>`` files plus ``snapshots/snapshot-<id>``."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = pathlib.Path(root)
        self.snapshot_root = self.root / "snapshots"
        self.snapshot_root.mkdir(parents=True, exist_ok=True)
        self._reflink: bool | None = None
        self._direct: bool | None = None

    # -- naming -------------------------------------------------------------------------
    def path(self, volume_id: str) -> pathlib.Path:
        return self.root / f"volume-{_check_id(volume_id)}"

    def snapshot_path(self, snapshot_id: str) -> pathlib.Path:
        return self.snapshot_root / f"snapshot-{_check_id(snapshot_id)}"

    def exists(self, volume_id: str) -> bool:
        return self.path(volume_id).is_file()

    def size(self, volume_id: str) -> int:
        return _existing(self.path(volume_id)).stat().st_size

    # -- lifecycle ----------------------------------------------------------------------
    def create_blank(self, volume_id: str, size_gb: int) -> None:
        """A sparse file of ``size_gb`` GiB: no blocks are allocated until written."""
        with self._staged(self.path(volume_id)) as tmp:
            os.truncate(tmp, size_gb * GiB)

    def delete(self, volume_id: str) -> None:
        self.path(volume_id).unlink(missing_ok=True)

    def extend(self, volume_id: str, new_size_gb: int) -> None:
        path = _existing(self.path(volume_id))
        if new_size_gb * GiB < path.stat().st_size:
            raise VolumeTooSmall(f"cannot shrink volume {volume_id} to {new_size_gb} GiB")
        os.truncate(path, new_size_gb * GiB)

    def read(self, volume_id: str, offset: int, length: int) -> bytes:
        with open(_existing(self.path(volume_id)), "rb") as f:
            return os.pread(f.fileno(), length, offset)

    # -- data sources -------------------------------------------------------------------
    def create_from_image(self, volume_id: str, image_path: os.PathLike | str,
                          disk_format: str, size_gb: int) -> str:
        """Fill a new volume from an image file; "reflink", "copy", "qemu-img" or "python"."""
        image_path = _existing(pathlib.Path(image_path))
        info = _check_image(image_path, disk_format)
        vsize = info.virtual_size
        _check_fits(image_path.stat().st_size if vsize is None else vsize, size_gb)
        with self._staged(self.path(volume_id)) as tmp:
            if disk_format in formats.RAW_FAMILY:
                method = self._clone_or_copy(image_path, tmp)
            else:
                method = _convert(image_path, formats.QEMU_FORMATS[disk_format], tmp,
                                  self.supports_direct_io())
            _grow_to(tmp, size_gb)
        return method

    def clone(self, src_volume_id: str, dst_volume_id: str, size_gb: int) -> str:
        return self._copy_file(self.path(src_volume_id), self.path(dst_volume_id), size_gb)

    def create_snapshot(self, volume_id: str, snapshot_id: str) -> str:
        src = _existing(self.path(volume_id))
        with self._staged(self.snapshot_path(snapshot_id)) as tmp:
            return self._clone_or_copy(src, tmp)

    def create_from_snapshot(self, snapshot_id: str, volume_id: str, size_gb: int) -> str:
        return self._copy_file(self.snapshot_path(snapshot_id), self.path(volume_id), size_gb)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshot_path(snapshot_id).unlink(missing_ok=True)

    # -- filesystem facts ---------------------------------------------------------------
    def supports_reflink(self) -> bool:
        """Whether this folder's filesystem can share extents (probed once, then cached)."""
        if self._reflink is None:
            self._reflink = _probe_reflink(self.root)
        return self._reflink

    def supports_direct_io(self) -> bool:
        """Whether files here take O_DIRECT (tmpfs before Linux 6.6 does not); probed once."""
        if self._direct is None:
            self._direct = _probe_direct(self.root)
        return self._direct

    def capacity(self) -> Capacity:
        st = os.statvfs(self.root)
        # NOTE: f_bavail, not f_bfree: blocks reserved for root are not ours to promise.
        return Capacity(round(st.f_blocks * st.f_frsize / GiB, 2),
                        round(st.f_bavail * st.f_frsize / GiB, 2))

    # -- internals ----------------------------------------------------------------------
    def _copy_file(self, src: pathlib.Path, dst: pathlib.Path, size_gb: int) -> str:
        src = _existing(src)
        _check_fits(src.stat().st_size, size_gb)
        with self._staged(dst) as tmp:
            method = self._clone_or_copy(src, tmp)
            _grow_to(tmp, size_gb)
        return method

    def _clone_or_copy(self, src: pathlib.Path, dst: pathlib.Path) -> str:
        direct = self.supports_direct_io()
        with open(src, "rb") as fsrc:
            fd = os.open(dst, os.O_WRONLY | (os.O_DIRECT if direct else 0))
            try:
                if self.supports_reflink() and _reflink(fsrc.fileno(), fd):
                    return "reflink"
                (direct_copy if direct else sparse_copy)(fsrc.fileno(), fd)
            finally:
                os.close(fd)
        return "copy"

    @contextlib.contextmanager
    def _staged(self, final: pathlib.Path) -> Iterator[pathlib.Path]:
        """Yield an empty temp file next to ``final``; publish it only if the block succeeds."""
        if final.exists():
            raise VolumeExists(f"{final.name} already exists")
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        os.close(fd)
        tmp = pathlib.Path(name)
        try:
            yield tmp
            # NOTE: link() instead of rename(): it fails with EEXIST rather than silently
            # replacing a volume created concurrently under the same id.
            os.link(tmp, final)
        except FileExistsError:
            raise VolumeExists(f"{final.name} already exists") from None
        finally:
            tmp.unlink(missing_ok=True)


def _check_id(ident: str) -> str:
    if not _SAFE_ID.match(ident):
        raise VolumeFileError(f"invalid id {ident!r}")
    return ident


def _existing(path: pathlib.Path) -> pathlib.Path:
    if not path.is_file():
        raise VolumeNotFound(f"{path.name} not found")
    return path


def _check_fits(nbytes: int, size_gb: int) -> None:
    if nbytes > size_gb * GiB:
        raise VolumeTooSmall(f"source needs {nbytes} bytes, more than {size_gb} GiB")


def _grow_to(path: pathlib.Path, size_gb: int) -> None:
    os.truncate(path, size_gb * GiB)


def _check_image(path: pathlib.Path, disk_format: str) -> formats.ImageInfo:
    """Refuse images whose header contradicts their disk_format or that reach other files."""
    if disk_format not in formats.QEMU_FORMATS:
        raise ImageUnacceptable(f"unsupported disk_format {disk_format!r}")
    info = formats.inspect(path)
    # NOTE: a "raw" image carrying a qcow2 header, or a qcow2 with a backing/data file,
    # would let qemu-img read arbitrary host files into the volume. Cinder refuses these
    # too (format mismatch and backing-file checks), so we do it before any conversion.
    if not formats.format_matches(disk_format, info.format):
        raise ImageUnacceptable(f"image is {info.format} but disk_format is {disk_format}")
    if info.backing_file or info.data_file:
        raise ImageUnacceptable("qcow2 images with a backing file or data file are refused")
    if info.format == "vmdk" and info.virtual_size is None:
        # NOTE: a descriptor file names its extents: other files on this host. Cinder's
        # format inspector refuses it too (only single-file VMDKs are accepted).
        raise ImageUnacceptable("VMDK descriptor files (extents in other files) are refused")
    return info


def _convert(src: pathlib.Path, qemu_format: str, dst: pathlib.Path, direct: bool) -> str:
    try:
        return convert.to_raw(src, qemu_format, dst, direct)
    except convert.ConversionError as exc:
        raise ImageConversionError(exc.message, exc.stderr, exc.returncode) from None


def _reflink(src_fd: int, dst_fd: int) -> bool:
    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
    except OSError as exc:
        if exc.errno in _NO_REFLINK:
            return False
        raise
    return True


def _probe_reflink(folder: pathlib.Path) -> bool:
    with tempfile.TemporaryDirectory(dir=folder, prefix=".reflink-probe-") as tmp:
        src, dst = pathlib.Path(tmp, "a"), pathlib.Path(tmp, "b")
        src.write_bytes(b"\0" * 4096)
        dst.touch()
        with open(src, "rb") as fsrc, open(dst, "r+b") as fdst:
            return _reflink(fsrc.fileno(), fdst.fileno())


def _probe_direct(folder: pathlib.Path) -> bool:
    with (tempfile.TemporaryDirectory(dir=folder, prefix=".direct-probe-") as tmp,
          mmap.mmap(-1, _DIRECT_ALIGN) as buf):
        try:
            fd = os.open(pathlib.Path(tmp, "a"), os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
            try:
                os.pwrite(fd, buf, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:   # EINVAL: the filesystem refuses O_DIRECT
                raise
            return False
    return True


def data_extents(fd: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each allocated region, found with SEEK_DATA / SEEK_HOLE."""
    size = os.fstat(fd).st_size
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole remains
                return
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end - start
        pos = end


def direct_copy(src_fd: int, dst_fd: int) -> None:
    """Copy the data extents of ``src`` into ``dst`` (opened with O_DIRECT); holes stay holes.

    Each extent is widened to whole aligned blocks; what lies past the source's end is
    written as zeros and cut off again by the final truncate.
    """
    size = os.fstat(src_fd).st_size
    with mmap.mmap(-1, _DIRECT_CHUNK) as buf:   # anonymous memory: page aligned
        view = memoryview(buf)
        try:
            for offset, length in data_extents(src_fd):
                pos = offset - offset % _DIRECT_ALIGN
                end = min(offset + length, size)
                while pos < end:
                    want = min(_DIRECT_CHUNK, -(-(end - pos) // _DIRECT_ALIGN) * _DIRECT_ALIGN)
                    got = os.preadv(src_fd, [view[:want]], pos)
                    if got < want:
                        if pos + got < size:   # NOTE: truncated concurrently
                            raise VolumeFileError(f"unexpected end of source at {pos + got}")
                        view[got:want] = bytes(want - got)
                    if os.pwritev(dst_fd, [view[:want]], pos) != want:
                        raise VolumeFileError(f"short write at {pos}")
                    pos += want
        finally:
            view.release()
    os.ftruncate(dst_fd, size)


def sparse_copy(src_fd: int, dst_fd: int) -> None:
    """Copy only the data extents of ``src`` into ``dst``; holes stay holes."""
    size = os.fstat(src_fd).st_size
    os.ftruncate(dst_fd, size)
    for offset, length in data_extents(src_fd):
        copy_range(src_fd, dst_fd, offset, length)


def copy_range(src_fd: int, dst_fd: int, offset: int, length: int) -> None:
    """Copy bytes in the kernel: copy_file_range, else sendfile, else pread/pwrite."""
    done = 0
    while done < length:
        n = min(_COPY_CHUNK, length - done)
        copied = _copy_chunk(src_fd, dst_fd, offset + done, n)
        if copied == 0:  # NOTE: source shorter than it claimed (truncated concurrently).
            raise VolumeFileError(f"unexpected end of source at {offset + done}")
        done += copied


def _copy_chunk(src_fd: int, dst_fd: int, offset: int, n: int) -> int:
    try:
        return os.copy_file_range(src_fd, dst_fd, n, offset, offset)
    except OSError as exc:
        if exc.errno not in _NO_COPY_RANGE:
            raise
    try:
        os.lseek(dst_fd, offset, os.SEEK_SET)
        return os.sendfile(dst_fd, src_fd, offset, n)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
    data = os.pread(src_fd, n, offset)
    return os.pwrite(dst_fd, data, offset)
