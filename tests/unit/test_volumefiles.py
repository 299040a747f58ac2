"""Unit tests for the file volume backend's data path (stackling.storage.volumefiles)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

from stackling.storage import scratchfs, volumefiles
from tests.helpers import IN_CI

GiB = volumefiles.GiB
MiB = 1024 * 1024
# In CI (CI=true) a missing qemu-img is a failure: the test runs and cannot find it.
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None and not IN_CI,
                                    reason="qemu-img not installed (Debian package qemu-utils)")


def _pattern(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def _allocated(path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.fixture
def vols(tmp_path):
    return volumefiles.VolumeFiles(tmp_path / "backend")


@pytest.fixture
def raw_image(tmp_path):
    """A 3 MiB raw image: 1 MiB of data, a 1 MiB hole, 1 MiB of data."""
    path = tmp_path / "image.raw"
    with open(path, "wb") as f:
        f.write(_pattern(MiB))
        f.seek(2 * MiB)
        f.write(_pattern(MiB, seed=7))
    return path


@pytest.fixture(scope="module")
def reflink_root(tmp_path_factory):
    """A folder on a reflink filesystem: tmp itself if it can, else a loop-mounted XFS/btrfs."""
    base = tmp_path_factory.mktemp("reflink")
    if volumefiles.VolumeFiles(base).supports_reflink():
        yield base
        return
    try:
        with scratchfs.reflink_scratch(base_dir=base) as mnt:
            yield mnt
    except scratchfs.ScratchFsUnavailable as exc:
        pytest.skip(f"no reflink-capable filesystem: tmp is not one and {exc}")


def test_blank_volume_is_sparse_and_sized(vols):
    vols.create_blank("v1", 2)
    path = vols.path("v1")
    assert path.name == "volume-v1" and path.parent == vols.root
    assert path.stat().st_size == 2 * GiB
    assert _allocated(path) < MiB
    assert vols.read("v1", GiB, 16) == b"\0" * 16


def test_create_twice_refused_and_no_temp_left(vols):
    vols.create_blank("v1", 1)
    with pytest.raises(volumefiles.VolumeExists):
        vols.create_blank("v1", 1)
    assert sorted(p.name for p in vols.root.iterdir()) == ["snapshots", "volume-v1"]


def test_delete_is_idempotent(vols):
    vols.create_blank("v1", 1)
    vols.delete("v1")
    vols.delete("v1")
    assert not vols.exists("v1")
    vols.delete_snapshot("never-made")


def test_extend_keeps_data_and_refuses_shrink(vols):
    vols.create_blank("v1", 1)
    with open(vols.path("v1"), "r+b") as f:
        f.write(b"hello")
    vols.extend("v1", 3)
    assert vols.size("v1") == 3 * GiB
    assert vols.read("v1", 0, 5) == b"hello"
    with pytest.raises(volumefiles.VolumeTooSmall):
        vols.extend("v1", 2)
    with pytest.raises(volumefiles.VolumeNotFound):
        vols.extend("missing", 2)


def test_from_raw_image_copies_bytes_and_keeps_holes(vols, raw_image):
    method = vols.create_from_image("v1", raw_image, "raw", 1)
    assert method == ("reflink" if vols.supports_reflink() else "copy")
    assert vols.size("v1") == GiB
    assert vols.read("v1", 0, 3 * MiB) == raw_image.read_bytes()
    assert vols.read("v1", 3 * MiB, 4096) == b"\0" * 4096
    assert _allocated(vols.path("v1")) <= _allocated(raw_image) + MiB


def test_image_larger_than_volume_refused(vols, tmp_path):
    big = tmp_path / "big.raw"
    big.touch()
    os.truncate(big, GiB + 1)
    with pytest.raises(volumefiles.VolumeTooSmall):
        vols.create_from_image("v1", big, "raw", 1)
    assert not vols.exists("v1")


@needs_qemu_img
@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "buffered"])
def test_from_qcow2_image_converts_to_raw(vols, raw_image, tmp_path, monkeypatch, direct):
    qcow = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
                    str(raw_image), str(qcow)], check=True)
    if not direct:
        monkeypatch.setattr(volumefiles, "_probe_direct", lambda folder: False)
    elif not vols.supports_direct_io():
        pytest.skip("tmp's filesystem refuses O_DIRECT")
    commands = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: commands.append(cmd)
                        or real_run(cmd, **kw))
    assert vols.create_from_image("v1", qcow, "qcow2", 1) == "qemu-img"
    (cmd,) = [c for c in commands if c[:2] == ["qemu-img", "convert"]]
    assert ("-t" in cmd and cmd[cmd.index("-t") + 1] == "none") is direct
    assert vols.size("v1") == GiB
    assert vols.read("v1", 0, 3 * MiB) == raw_image.read_bytes()


@needs_qemu_img
def test_qcow2_with_backing_file_refused(vols, raw_image, tmp_path):
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(raw_image),
                    "-F", "raw", str(overlay)], check=True)
    with pytest.raises(volumefiles.ImageUnacceptable):
        vols.create_from_image("v1", overlay, "qcow2", 1)
    assert not vols.exists("v1")


@needs_qemu_img
def test_qcow2_declared_raw_refused(vols, raw_image, tmp_path):
    qcow = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
                    str(raw_image), str(qcow)], check=True)
    with pytest.raises(volumefiles.ImageUnacceptable):
        vols.create_from_image("v1", qcow, "raw", 1)


@needs_qemu_img
def test_conversion_failure_carries_stderr(vols, tmp_path):
    bogus = tmp_path / "bogus.vmdk"
    header = bytearray(b"\xff" * 1024)  # a sparse-extent header full of garbage...
    header[0:4] = b"KDMV"
    header[12:20] = (2048).to_bytes(8, "little")  # ...but a plausible 1 MiB capacity
    bogus.write_bytes(bytes(header))
    with pytest.raises(volumefiles.ImageConversionError) as err:
        vols.create_from_image("v1", bogus, "vmdk", 1)
    assert err.value.returncode != 0 and err.value.stderr
    assert not vols.exists("v1")
    assert [p.name for p in vols.root.iterdir()] == ["snapshots"]


def test_clone_round_trip(vols, raw_image):
    vols.create_from_image("src", raw_image, "raw", 1)
    vols.clone("src", "dst", 2)
    assert vols.size("dst") == 2 * GiB
    assert vols.read("dst", 0, 3 * MiB) == raw_image.read_bytes()
    with open(vols.path("dst"), "r+b") as f:  # clones are independent copies
        f.write(b"changed")
    assert vols.read("src", 0, 7) == raw_image.read_bytes()[:7]
    with pytest.raises(volumefiles.VolumeTooSmall):
        vols.clone("dst", "smaller", 1)


def test_snapshot_round_trip(vols, raw_image):
    vols.create_from_image("v1", raw_image, "raw", 1)
    vols.create_snapshot("v1", "s1")
    assert vols.snapshot_path("s1") == vols.root / "snapshots" / "snapshot-s1"
    with open(vols.path("v1"), "r+b") as f:  # writes after the snapshot do not leak in
        f.write(b"after")
    vols.create_from_snapshot("s1", "v2", 1)
    assert vols.read("v2", 0, 3 * MiB) == raw_image.read_bytes()
    with pytest.raises(volumefiles.VolumeExists):
        vols.create_snapshot("v1", "s1")
    vols.delete_snapshot("s1")
    with pytest.raises(volumefiles.VolumeNotFound):
        vols.create_from_snapshot("s1", "v3", 1)


def test_sparse_copy_fallbacks_match(tmp_path, raw_image):
    dst = tmp_path / "copy"
    with open(raw_image, "rb") as fsrc, open(dst, "wb") as fdst:
        volumefiles.sparse_copy(fsrc.fileno(), fdst.fileno())
        extents = list(volumefiles.data_extents(fsrc.fileno()))
    assert dst.read_bytes() == raw_image.read_bytes()
    assert extents[0][0] == 0 and sum(n for _, n in extents) <= 3 * MiB


@pytest.mark.parametrize("size", [3 * MiB, 3 * MiB + 1000, 5000])
def test_direct_copy_matches_and_keeps_holes(tmp_path, size):
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:   # data, a 1 MiB hole, data up to an unaligned end
        f.write(_pattern(min(size, MiB)))
        if size > 2 * MiB:
            f.seek(2 * MiB)
            f.write(_pattern(size - 2 * MiB, seed=3))
    dst.touch()
    if not volumefiles.VolumeFiles(tmp_path / "v").supports_direct_io():
        pytest.skip("tmp's filesystem refuses O_DIRECT")
    fd = os.open(dst, os.O_WRONLY | os.O_DIRECT)
    try:
        with open(src, "rb") as fsrc:
            volumefiles.direct_copy(fsrc.fileno(), fd)
    finally:
        os.close(fd)
    assert dst.read_bytes() == src.read_bytes()
    assert _allocated(dst) <= _allocated(src) + 4096


def test_copy_without_direct_io_matches(vols, raw_image, monkeypatch):
    """A filesystem that refuses O_DIRECT (tmpfs before Linux 6.6) gets the buffered copy."""
    monkeypatch.setattr(volumefiles, "_probe_direct", lambda folder: False)
    monkeypatch.setattr(vols, "supports_reflink", lambda: False)
    assert vols.create_from_image("v1", raw_image, "raw", 1) == "copy"
    assert not vols.supports_direct_io()
    assert vols.read("v1", 0, 3 * MiB) == raw_image.read_bytes()
    assert _allocated(vols.path("v1")) <= _allocated(raw_image) + MiB


def test_capacity_and_ids(vols):
    cap = vols.capacity()
    assert 0 < cap.free_gb <= cap.total_gb
    with pytest.raises(volumefiles.VolumeFileError):
        vols.path("../escape")


def test_reflink_clone_on_reflink_fs(reflink_root, tmp_path):
    vols = volumefiles.VolumeFiles(reflink_root / "backend")
    assert vols.supports_reflink()
    image = reflink_root / "image.raw"
    image.write_bytes(_pattern(4 * MiB))
    assert vols.create_from_image("v1", image, "raw", 1) == "reflink"
    assert vols.clone("v1", "v2", 1) == "reflink"
    assert vols.create_snapshot("v2", "s2") == "reflink"
    with open(vols.path("v1"), "r+b") as f:  # copy-on-write: the clone is unaffected
        f.write(b"X" * 4096)
    assert vols.read("v2", 0, 4 * MiB) == image.read_bytes()
    assert vols.read("v1", 0, 4) == b"XXXX"


def test_reflink_falls_back_to_copy_across_filesystems(reflink_root, tmp_path, raw_image):
    if os.stat(reflink_root).st_dev == os.stat(raw_image).st_dev:
        pytest.skip("tmp is itself reflink-capable, so there is no second filesystem")
    vols = volumefiles.VolumeFiles(reflink_root / "cross")
    assert vols.create_from_image("v1", raw_image, "raw", 1) == "copy"
    assert vols.read("v1", 0, 3 * MiB) == raw_image.read_bytes()
