"""README's first boot works on a machine without qemu-img: raw as written, qcow2 too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import LiveCloud

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud_without_qemu_img(tmp_path, monkeypatch):
    """A cloud whose process finds no qemu-img on its PATH (the client side keeps its own)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    cloud = LiveCloud(tmp_path / "cloud")
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(empty))
    r = subprocess.run([sys.executable, "-m", "stackling", "start", "-d", *cloud.args],
                       capture_output=True, text=True, timeout=60, check=False)
    monkeypatch.setenv("PATH", path)
    assert r.returncode == 0, r.stderr
    w = cloud.stackling("wait", "--timeout", "30")
    assert w.returncode == 0, (w.stderr, cloud.log())
    yield cloud
    cloud.stop()


def test_readme_first_boot_without_qemu_img(cloud_without_qemu_img, tmp_path):
    c = cloud_without_qemu_img
    disk = tmp_path / "disk.raw"
    subprocess.run(["truncate", "-s", "64M", str(disk)], check=True)   # README's command
    c.openstack_json("image", "create", "--file", str(disk), "--disk-format", "raw", "img")
    server = c.openstack_json("server", "create", "--image", "img", "--boot-from-volume", "1",
                              "--flavor", "m1.tiny", "--availability-zone", "ag1",
                              "--nic", "none", "vm1", "--wait")
    assert server["status"] == "ACTIVE"
    if shutil.which("qemu-img") is None:
        return  # nothing here to make a qcow2 image with
    qcow = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(disk),
                    str(qcow)], check=True)
    c.openstack_json("image", "create", "--file", str(qcow), "--disk-format", "qcow2", "imgq")
    server = c.openstack_json("server", "create", "--image", "imgq", "--boot-from-volume",
                              "1", "--flavor", "m1.tiny", "--availability-zone", "ag1",
                              "--nic", "none", "vm2", "--wait")
    assert server["status"] == "ACTIVE"
    assert "(python)" in c.log()   # converted by the pure-Python readers
