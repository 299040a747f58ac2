"""Image → raw conversion: ``qemu-img convert`` when installed, else dissect.hypervisor.

dissect.hypervisor (Fox-IT's maintained, pure-Python readers for qcow2, VMDK, VHD, VHDX
and VDI) is the fallback for machines without qemu-utils; it is the optional extra
``stackling[images]`` because its licence is the AGPL. The caller has already refused
images with backing or data files (``volumefiles._check_image``); the readers are given
an open file without its name, so they cannot open files beside it either.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess

_CHUNK = 1024 * 1024
_ZEROS = bytes(_CHUNK)
INSTALL_HINT = ("install qemu-img (Debian/Ubuntu: apt-get install qemu-utils) or the "
                "pure-Python readers (pip install 'stackling[images]')")


class ConversionError(Exception):
    """The conversion failed; ``stderr`` holds qemu-img's own words when it ran."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        self.message, self.stderr, self.returncode = message, stderr, returncode
        super().__init__(f"{message}: {stderr.strip()}" if stderr.strip() else message)


def to_raw(src: pathlib.Path, qemu_format: str, dst: pathlib.Path, direct: bool = False) -> str:
    """Write ``src`` (qemu driver name ``qemu_format``) to ``dst`` as a sparse raw image.

    ``direct``: qemu-img writes with O_DIRECT (``-t none``), as Cinder converts onto
    volumes that take it. Returns the method: "qemu-img" or "python".
    """
    if shutil.which("qemu-img"):
        return _qemu_img(src, qemu_format, dst, direct)
    return _python(src, qemu_format, dst)


def _qemu_img(src: pathlib.Path, qemu_format: str, dst: pathlib.Path, direct: bool) -> str:
    # NOTE: -f is always given so qemu never probes the format itself; -W allows
    # out-of-order writes, which matters for large images; LC_ALL keeps stderr parseable.
    cmd = ["qemu-img", "convert", "-q", "-f", qemu_format, "-O", "raw", "-W",
           *(["-t", "none"] if direct else []), str(src), str(dst)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError:
        return _python(src, qemu_format, dst)
    if proc.returncode != 0:
        raise ConversionError(f"qemu-img convert exited {proc.returncode}",
                              proc.stderr, proc.returncode)
    return "qemu-img"


def _open_reader(qemu_format: str, fh):
    """A readable, seekable stream of the guest-visible disk, and its size."""
    if qemu_format == "qcow2":
        from dissect.hypervisor.disk.qcow2 import QCow2

        stream = QCow2(fh).open()
    elif qemu_format == "vmdk":
        from dissect.hypervisor.disk.vmdk import VMDK

        stream = VMDK(fh)
    elif qemu_format == "vpc":
        from dissect.hypervisor.disk.vhd import VHD

        stream = VHD(fh)
    elif qemu_format == "vhdx":
        from dissect.hypervisor.disk.vhdx import VHDX

        stream = VHDX(fh)
    elif qemu_format == "vdi":
        from dissect.hypervisor.disk.vdi import VDI

        stream = VDI(fh).open()
    else:
        raise ConversionError(f"converting {qemu_format} images needs qemu-img; "
                              "install qemu-img (Debian/Ubuntu: apt-get install qemu-utils)")
    return stream, stream.size


class _Nameless:
    """The image file without its name: a reader cannot find (and open) files beside it."""

    def __init__(self, f) -> None:
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def _python(src: pathlib.Path, qemu_format: str, dst: pathlib.Path) -> str:
    try:
        import dissect.hypervisor  # noqa: F401
    except ImportError:
        raise ConversionError(f"qemu-img is not installed; to convert {qemu_format} images "
                              f"{INSTALL_HINT}") from None
    from dissect.hypervisor.exceptions import Error as DissectError

    try:
        with open(src, "rb") as fh, open(dst, "r+b") as out:
            stream, size = _open_reader(qemu_format, _Nameless(fh))
            out.truncate(size)
            offset = 0
            while offset < size:
                stream.seek(offset)
                data = stream.read(min(_CHUNK, size - offset))
                if not data:
                    raise ConversionError(f"{qemu_format} image ends at {offset} of {size}")
                # Zero runs stay holes, as qemu-img leaves them.
                if data != _ZEROS[:len(data)]:
                    os.pwrite(out.fileno(), data, offset)
                offset += len(data)
    except (DissectError, EOFError, ValueError, KeyError, NotImplementedError,
            struct.error) as exc:
        raise ConversionError(f"cannot read this {qemu_format} image: {exc}") from None
    except (AttributeError, TypeError):
        # A parent, extent or data file to open by name (the reader has none to go by).
        raise ConversionError(f"this {qemu_format} image refers to other files") from None
    return "python"
