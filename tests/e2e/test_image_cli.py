"""The real `openstack` CLI creates, shows and saves an image on a started cloud."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

pytestmark = pytest.mark.e2e


def test_image_create_and_save_roundtrip(live_cloud, tmp_path):
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "32M"], check=True)
    image = live_cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format",
                                      "qcow2", "--container-format", "bare", "cli-img")
    data = disk.read_bytes()
    shown = live_cloud.openstack_json("image", "show", image["id"])
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["virtual_size"] == 32 * 1024 * 1024
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    sdk_image = live_cloud.connect().image.get_image(image["id"])
    assert sdk_image.hash_algo == "sha512"
    assert sdk_image.hash_value == hashlib.sha512(data).hexdigest()
    out = tmp_path / "saved"
    r = live_cloud.openstack("image", "save", "--file", str(out), "cli-img")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data
    names = [i["Name"] for i in live_cloud.openstack_json("image", "list")]
    assert "cli-img" in names


def test_image_sharing_with_the_cli(live_cloud):
    """openstackclient's member commands: the owner shares, the member accepts and lists."""
    demo_project = live_cloud.openstack_json("project", "show", "demo")["id"]
    image = live_cloud.openstack_json("image", "create", "--shared", "--disk-format", "raw",
                                      "--container-format", "bare", "cli-shared")
    member = live_cloud.openstack_json("image", "add", "project", image["id"], demo_project)
    assert member["status"] == "pending"
    r = live_cloud.openstack("image", "set", "--accept", "--project", demo_project,
                             image["id"], cloud="stackling-demo")
    assert r.returncode == 0, r.stderr
    members = live_cloud.openstack_json("image", "member", "list", image["id"])
    assert [(m["Member ID"], m["Status"]) for m in members] == [(demo_project, "accepted")]
    ids = [i["ID"] for i in live_cloud.openstack_json("image", "list", cloud="stackling-demo")]
    assert image["id"] in ids


def test_image_create_with_glance_direct_import(live_cloud, tmp_path):
    """`openstack image create --import` stages the file and imports it (glance-direct)."""
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\x01" * 65536)
    image = live_cloud.openstack_json("image", "create", "--import", "--file", str(disk),
                                      "--disk-format", "raw", "--container-format", "bare",
                                      "cli-imported")
    shown = {}
    for _ in range(100):   # the import task runs on its own; bounded wait
        shown = live_cloud.openstack_json("image", "show", image["id"])
        if shown["status"] == "active":
            break
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    tasks = live_cloud.connect().image.get(f"/images/{image['id']}/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
