"""Unit tests for Glance's file store (stackling.storage.imagestore)."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import subprocess

import pytest

from stackling.storage import formats, imagestore
from tests.helpers import IN_CI

# In CI (CI=true) a missing qemu-img is a failure: the test runs and cannot find it.
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None and not IN_CI,
                                    reason="qemu-img not installed (Debian package qemu-utils)")


def _chunks(data: bytes, size: int = 7000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _payload(n: int = 300_000) -> bytes:
    return random.Random(n).randbytes(n)


def test_write_hashes_match_hashlib(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    data = _payload()
    stored = store.write("img-1", _chunks(data), expected_size=len(data))
    assert stored.path == tmp_path / "img-1"
    assert stored.path.read_bytes() == data
    assert stored.size == len(data)
    assert stored.checksum == hashlib.md5(data).hexdigest()
    assert stored.os_hash_algo == "sha512"
    assert stored.os_hash_value == hashlib.sha512(data).hexdigest()
    assert stored.detected_format == "raw"
    assert stored.virtual_size == len(data)


def test_write_empty_image(tmp_path):
    stored = imagestore.ImageStore(tmp_path).write("empty", iter([]))
    assert stored.size == 0
    assert stored.checksum == hashlib.md5(b"").hexdigest()


def test_write_with_fsync_replaces_previous_data(tmp_path):
    store = imagestore.ImageStore(tmp_path, fsync=True)
    store.write("img", [b"old data"])
    store.write("img", [b"new"])
    assert (tmp_path / "img").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img"]


def test_partial_write_removed_when_stream_fails(tmp_path):
    store = imagestore.ImageStore(tmp_path)

    def broken():
        yield b"x" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.write("img", broken())
    assert list(tmp_path.iterdir()) == []
    assert not store.exists("img")


def test_partial_write_keeps_previous_image(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    store.write("img", [b"good"])
    with pytest.raises(imagestore.ImageSizeMismatch):
        store.write("img", [b"too long for the promise"], expected_size=4)
    assert (tmp_path / "img").read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img"]


def test_short_stream_is_a_size_mismatch(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    with pytest.raises(imagestore.ImageSizeMismatch) as err:
        store.write("img", [b"abc"], expected_size=10)
    assert (err.value.expected, err.value.actual) == (10, 3)
    assert list(tmp_path.iterdir()) == []


def test_range_reads(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    data = _payload(3 * 1024 * 1024 + 5)
    store.write("img", _chunks(data, 65536))
    assert b"".join(store.open_range("img")) == data
    chunks = list(store.open_range("img", 10, 2 * 1024 * 1024 + 20))
    assert [len(c) for c in chunks] == [1024 * 1024, 1024 * 1024, 10]
    assert b"".join(chunks) == data[10:2 * 1024 * 1024 + 20]
    reader = store.open_range("img", len(data) - 5, len(data) + 100)  # end is clamped
    assert reader.length == 5
    assert b"".join(reader) == data[-5:]


def test_range_errors(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    store.write("img", [b"0123456789"])
    with pytest.raises(imagestore.InvalidRange):
        store.open_range("img", 10)
    with pytest.raises(imagestore.InvalidRange):
        store.open_range("img", -1)
    with pytest.raises(imagestore.ImageNotStored):
        store.open_range("nope")


def test_range_reader_close_releases_file(tmp_path):
    store = imagestore.ImageStore(tmp_path)
    store.write("img", [b"a" * 100])
    reader = store.open_range("img", chunk_size=10)
    assert next(reader) == b"a" * 10
    reader.close()
    assert list(reader) == []


def test_delete_is_idempotent_and_ids_are_checked(tmp_path):
    store = imagestore.ImageStore(tmp_path / "images")
    store.write("img", [b"data"])
    assert store.exists("img") and store.size("img") == 4
    store.delete("img")
    store.delete("img")
    assert not store.exists("img")
    for bad in ("../etc", ".hidden", "a/b", ""):
        with pytest.raises(imagestore.InvalidImageId):
            store.path(bad)


@needs_qemu_img
def test_qcow2_virtual_size_from_header(tmp_path):
    qcow = tmp_path / "src.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "3G"], check=True)
    store = imagestore.ImageStore(tmp_path / "store")
    stored = store.write("img", _chunks(qcow.read_bytes(), 4096))
    assert stored.detected_format == "qcow2"
    assert stored.virtual_size == 3 * 1024 ** 3
    assert stored.size == qcow.stat().st_size < 1024 * 1024


@needs_qemu_img
@pytest.mark.parametrize("qemu_fmt, ours", [("vmdk", "vmdk"), ("vdi", "vdi"), ("vpc", "vhd"),
                                            ("vhdx", "vhdx")])
def test_other_formats_are_recognised(tmp_path, qemu_fmt, ours):
    path = tmp_path / f"disk.{qemu_fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", qemu_fmt, str(path), "64M"], check=True)
    info = formats.inspect(path)
    assert info.format == ours == imagestore.detect_format(path)
    if ours in ("vmdk", "vdi"):
        assert info.virtual_size == 64 * 1024 ** 2


def test_qcow2_header_parsed_without_qemu(tmp_path):
    header = bytearray(512)
    header[0:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 8, 0x200)  # backing file offset
    struct.pack_into(">Q", header, 24, 10 * 1024 ** 3)
    struct.pack_into(">Q", header, 72, 1 << 2)  # external data file
    path = tmp_path / "fake.qcow2"
    path.write_bytes(bytes(header))
    assert formats.inspect(path) == formats.ImageInfo("qcow2", 10 * 1024 ** 3, True, True)
