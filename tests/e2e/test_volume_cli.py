"""The real `openstack` CLI and openstacksdk against Cinder on started clouds."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import LiveCloud, wait_for

pytestmark = pytest.mark.e2e


def status(cloud, name):
    return cloud.openstack_json("volume", "show", name)["status"]


def test_volume_from_image_downloads_then_is_available(live_cloud, tmp_path):
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(2 * 1024 * 1024)
        f.seek(4096)
        f.write(b"bootloader" * 64)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw),
                    str(disk)], check=True)
    live_cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format",
                              "qcow2", "--container-format", "bare", "vol-img")
    vol = live_cloud.openstack_json("volume", "create", "--image", "vol-img", "--size", "1",
                                    "v1")
    assert vol["status"] in ("creating", "downloading", "available")
    seen = set()

    def done():
        seen.add(status(live_cloud, "v1"))
        return "available" in seen or "error" in seen
    wait_for(done, timeout=60, interval=0.05)
    assert "available" in seen
    shown = live_cloud.openstack_json("volume", "show", "v1")
    assert shown["bootable"] in (True, "true") and shown["availability_zone"] == "nova"
    host = shown["os-vol-host-attr:host"]
    assert host == "controller2@file#file"
    path = live_cloud.data_dir / "volumes" / "controller2@file" / f"volume-{shown['id']}"
    with open(path, "rb") as f:
        assert f.read(raw.stat().st_size) == raw.read_bytes()
    assert path.stat().st_size == 1024 ** 3


def test_invalid_zone_is_400(live_cloud):
    r = live_cloud.openstack("volume", "create", "--size", "1", "--availability-zone", "ag1",
                             "v2")
    assert r.returncode != 0
    assert "Availability zone 'ag1' is invalid." in r.stderr
    assert "400" in r.stderr


def test_quota_and_delete_errors_with_sdk(live_cloud):
    conn = live_cloud.connect()
    from openstack import exceptions

    with pytest.raises(exceptions.HttpException) as err:
        conn.block_storage.create_volume(size=100000, name="huge")
    assert err.value.status_code == 413
    assert "VolumeSizeExceedsAvailableQuota" in str(err.value)
    vol = conn.block_storage.create_volume(size=1, name="sdkvol")
    vol = conn.block_storage.wait_for_status(vol, "available", wait=30, interval=0.1)
    assert vol.availability_zone == "nova"
    conn.block_storage.reset_volume_status(vol, "in-use", "attached", None)
    with pytest.raises(exceptions.BadRequestException) as err:
        conn.block_storage.delete_volume(vol)
    assert "Volume status must be available or error" in str(err.value)
    conn.block_storage.reset_volume_status(vol, "available", "detached", None)
    conn.block_storage.delete_volume(vol)
    conn.block_storage.wait_for_delete(vol, wait=30, interval=0.1)


def test_fallback_and_second_backend(tmp_path):
    cloud = LiveCloud(tmp_path, cinder="""[DEFAULT]
allow_availability_zone_fallback = True
enabled_backends = file2
[file2]
volume_backend_name = file2
backend_availability_zone = ag2
""")
    cloud.start()
    try:
        v = cloud.openstack_json("volume", "create", "--size", "1", "--availability-zone",
                                 "ag1", "fb")
        assert v["status"] == "creating"
        wait_for(lambda: status(cloud, "fb") == "available", timeout=30, interval=0.1)
        assert cloud.openstack_json("volume", "show", "fb")["availability_zone"] == "nova"
        assert "Availability zone 'ag1' not found, falling back to 'nova'." in cloud.log()
        cloud.openstack_json("volume", "create", "--size", "1", "--availability-zone", "ag2",
                             "second")
        wait_for(lambda: status(cloud, "second") == "available", timeout=30, interval=0.1)
        shown = cloud.openstack_json("volume", "show", "second")
        assert shown["availability_zone"] == "ag2"
        assert shown["os-vol-host-attr:host"].startswith("controller2@file2#")
        zones = {z["Zone Name"] for z in cloud.openstack_json("availability", "zone", "list",
                                                               "--volume")}
        assert zones == {"nova", "ag2"}
    finally:
        cloud.stop()
