"""Image → raw without qemu-img: dissect.hypervisor's readers give qemu-img's own bytes."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys

import pytest

from stackling.storage import volumefiles

MiB = 1024 * 1024
QEMU_IMG = shutil.which("qemu-img")


@pytest.fixture
def qemu_img():
    """qemu-img makes the test images and the expected bytes (required in CI)."""
    if QEMU_IMG is None:
        if os.environ.get("CI") == "true":
            pytest.fail("qemu-img is missing in CI (Debian package qemu-utils)")
        pytest.skip("qemu-img not installed (Debian package qemu-utils) to make test images")
    return QEMU_IMG


def _hide_qemu_img(tmp_path, monkeypatch) -> None:
    """A PATH on which qemu-img cannot be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("qemu-img") is None


@pytest.fixture
def raw_image(tmp_path):
    """8 MiB: random data at the start, in the middle and in the last sector; holes between."""
    path = tmp_path / "source.raw"
    rnd = random.Random(7)
    with open(path, "wb") as f:
        f.truncate(8 * MiB)
        for offset, length in ((0, MiB + 4096), (3 * MiB + 512, 700_000),
                               (8 * MiB - 512, 512)):
            f.seek(offset)
            f.write(rnd.randbytes(length))
    return path


def _qemu(qemu_img, *args: str) -> None:
    subprocess.run([qemu_img, *args], check=True, capture_output=True)


# (Glance disk_format, qemu-img's format, extra qemu-img create options)
CASES = [("qcow2", "qcow2", []), ("qcow2", "qcow2", ["-c"]), ("vmdk", "vmdk", []),
         ("vhd", "vpc", []), ("vhdx", "vhdx", []), ("vdi", "vdi", [])]


@pytest.mark.parametrize("disk_format, qemu_format, opts", CASES,
                         ids=["qcow2", "qcow2-compressed", "vmdk", "vhd", "vhdx", "vdi"])
def test_converts_to_qemu_imgs_bytes_without_qemu_img(qemu_img, raw_image, tmp_path,
                                                      monkeypatch, disk_format, qemu_format,
                                                      opts):
    image = tmp_path / f"image.{qemu_format}"
    _qemu(qemu_img, "convert", "-q", "-f", "raw", "-O", qemu_format, *opts,
          str(raw_image), str(image))
    expected = tmp_path / "expected.raw"
    _qemu(qemu_img, "convert", "-q", "-f", qemu_format, "-O", "raw", str(image), str(expected))
    want = expected.read_bytes()

    vols = volumefiles.VolumeFiles(tmp_path / "backend")
    _hide_qemu_img(tmp_path, monkeypatch)
    assert vols.create_from_image("v1", image, disk_format, 1) == "python"
    assert vols.read("v1", 0, len(want)) == want
    assert vols.size("v1") == 1024 * MiB
    # Zero runs stay holes: about the 2.5 MiB of data is allocated, not the 1 GiB.
    assert os.stat(vols.path("v1")).st_blocks * 512 <= 6 * MiB


def test_without_qemu_img_and_readers_the_message_names_qemu_img(tmp_path, monkeypatch):
    _hide_qemu_img(tmp_path, monkeypatch)
    image = tmp_path / "image.qcow2"
    # A minimal qcow2 v2 header (magic, version 2, 64 KiB clusters, 1 MiB): enough to pass
    # the header checks that run before any conversion.
    header = bytearray(512)
    header[0:4] = b"QFI\xfb"
    header[4:8] = (2).to_bytes(4, "big")
    header[20:24] = (16).to_bytes(4, "big")
    header[24:32] = MiB.to_bytes(8, "big")
    image.write_bytes(bytes(header))
    monkeypatch.setitem(sys.modules, "dissect.hypervisor", None)
    vols = volumefiles.VolumeFiles(tmp_path / "backend")
    with pytest.raises(volumefiles.ImageConversionError) as err:
        vols.create_from_image("v1", image, "qcow2", 1)
    assert "qemu-img is not installed" in str(err.value)
    assert "qemu-utils" in str(err.value)
    assert not vols.exists("v1")


def test_vmdk_descriptor_naming_other_files_is_refused(qemu_img, tmp_path):
    image = tmp_path / "desc.vmdk"
    _qemu(qemu_img, "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
          str(image), "1M")
    assert image.read_bytes().startswith(b"# Disk DescriptorFile")
    vols = volumefiles.VolumeFiles(tmp_path / "backend")
    with pytest.raises(volumefiles.ImageUnacceptable):
        vols.create_from_image("v1", image, "vmdk", 1)
    assert not vols.exists("v1")


def test_readers_cannot_open_files_beside_the_image(qemu_img, tmp_path, monkeypatch):
    from stackling.storage import convert

    image = tmp_path / "desc.vmdk"
    _qemu(qemu_img, "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
          str(image), "1M")
    (tmp_path / "desc-flat.vmdk").write_bytes(b"secret of another image" * 1000)
    out = tmp_path / "out.raw"
    out.touch()
    _hide_qemu_img(tmp_path, monkeypatch)
    with pytest.raises(convert.ConversionError, match="refers to other files"):
        convert.to_raw(image, "vmdk", out)
    assert b"secret" not in out.read_bytes()
