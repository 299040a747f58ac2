"""Boot from volume across zones with the real `openstack` CLI and `stackling explain`
(issue #5 acceptance): the seed's failure, its fixes, and volume states around delete."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from tests.helpers import LiveCloud, wait_for

pytestmark = pytest.mark.e2e

FAST = "[DEFAULT]\nblock_device_allocate_retries = 30\nblock_device_allocate_retries_interval = 0\n"


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    path = tmp_path_factory.mktemp("bfv") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory):
    """The seed's deployment today: [cinder] cross_az_attach = False."""
    cloud = LiveCloud(tmp_path_factory.mktemp("strict"),
                      nova=FAST + "[cinder]\ncross_az_attach = False\n")
    cloud.start()
    yield cloud
    cloud.stop()


def _image(cloud, disk) -> str:
    name = f"img-{uuid.uuid4().hex[:6]}"
    cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                         "--container-format", "bare", name)
    return name


def _usage(cloud) -> tuple[int, int]:
    conn = cloud.connect()
    limits = conn.block_storage.get_limits().absolute
    return limits.total_gigabytes_used, limits.total_volumes_used


def test_seed_failure_and_explain(strict_cloud, disk):
    c = strict_cloud
    img = _image(c, disk)
    before_vols = c.openstack_json("volume", "list")
    before = _usage(c)
    r = c.openstack("server", "create", "--image", img, "--boot-from-volume", "1",
                    "--flavor", "m1.tiny", "--availability-zone", "ag1", "--nic", "none",
                    "vm1", "--wait")
    assert r.returncode != 0    # --wait reports the ERROR
    srv = c.openstack_json("server", "show", "vm1")
    assert srv["status"] == "ERROR"
    assert re.match(r"^Build of instance [0-9a-f-]{36} aborted: Invalid input received: "
                    r"Availability zone 'ag1' is invalid\. \(HTTP 400\) \(Request-ID: "
                    r"req-[0-9a-f-]{36}\)$", srv["fault"]["message"]), srv["fault"]
    assert c.openstack_json("volume", "list") == before_vols
    assert _usage(c) == before
    out = c.stackling("explain", "server", "vm1")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "[cinder] cross_az_attach = False: Nova sends the instance's zone" in text
    fixes = text.split("What would change the outcome")[1].split("Checked the same way")[0]
    assert fixes.count("\n  - ") >= 3, fixes
    assert "nova.conf [cinder] cross_az_attach = True" in fixes
    assert "backend_availability_zone = ag1" in fixes
    assert c.openstack("server", "delete", "--wait", "vm1").returncode == 0


def test_cross_az_default_boots_in_ag1(live_cloud, disk):
    c = live_cloud
    img = _image(c, disk)
    name = f"vm-{uuid.uuid4().hex[:6]}"
    srv = c.openstack_json("server", "create", "--image", img, "--boot-from-volume", "1",
                           "--flavor", "m1.tiny", "--availability-zone", "ag1", "--nic",
                           "none", "--wait", name)
    assert srv["status"] == "ACTIVE" and srv["OS-EXT-AZ:availability_zone"] == "ag1"
    [att] = c.openstack_json("server", "volume", "list", name)
    vol = c.openstack_json("volume", "show", att["Volume ID"])
    assert vol["status"] == "in-use" and vol["availability_zone"] == "nova"
    # --boot-from-volume sets delete_on_termination false: the volume stays, available
    assert c.openstack("server", "delete", "--wait", name).returncode == 0
    wait_for(lambda: c.openstack_json("volume", "show", vol["id"])["status"] == "available",
             timeout=60, interval=0.2)
    assert c.openstack("volume", "delete", vol["id"]).returncode == 0


def test_add_remove_volume_and_delete_on_termination(live_cloud, disk):
    c = live_cloud
    img = _image(c, disk)
    tag = uuid.uuid4().hex[:6]
    boot, data, name = f"boot-{tag}", f"data-{tag}", f"srv-{tag}"
    c.openstack_json("volume", "create", "--image", img, "--size", "1", boot)
    c.openstack_json("volume", "create", "--size", "1", data)
    for v in (boot, data):
        wait_for(lambda v=v: c.openstack_json("volume", "show", v)["status"] == "available",
                 timeout=60, interval=0.2)
    c.openstack_json("server", "create", "--volume", boot, "--flavor", "m1.tiny",
                     "--nic", "none", "--wait", name)
    try:
        _attach_detach(c, name, boot, data, tag)
    finally:
        c.openstack("server", "delete", "--wait", name)
        c.openstack("server", "delete", "--wait", f"other-{tag}")
    wait_for(lambda: c.openstack("volume", "show", data).returncode != 0, timeout=60,
             interval=0.2)
    wait_for(lambda: c.openstack_json("volume", "show", boot)["status"] == "available",
             timeout=60, interval=0.2)
    assert c.openstack("volume", "delete", boot).returncode == 0


def _attach_detach(c, name, boot, data, tag):
    assert c.openstack("server", "add", "volume", name, data).returncode == 0
    wait_for(lambda: c.openstack_json("volume", "show", data)["status"] == "in-use",
             timeout=60, interval=0.2)
    second = c.openstack("server", "create", "--volume", boot, "--flavor", "m1.tiny",
                         "--nic", "none", f"other-{tag}")
    assert second.returncode != 0 and "status must be available or downloading to " \
        "reserve" in second.stderr
    assert c.openstack("server", "remove", "volume", name, data).returncode == 0
    wait_for(lambda: c.openstack_json("volume", "show", data)["status"] == "available",
             timeout=60, interval=0.2)
    # attach again, this time to be deleted with the server (2.79)
    r = c.openstack("--os-compute-api-version", "2.79", "server", "add", "volume",
                    "--enable-delete-on-termination", name, data)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: c.openstack_json("volume", "show", data)["status"] == "in-use",
             timeout=60, interval=0.2)


def test_liberty_reproduces_the_seed(tmp_path, disk):
    cloud = LiveCloud(tmp_path, nova=FAST,
                      stackling="[stackling]\nbehaviour_release = liberty\n")
    cloud.start()
    try:
        img = _image(cloud, disk)
        cloud.openstack("server", "create", "--image", img, "--boot-from-volume", "1",
                        "--flavor", "m1.tiny", "--availability-zone", "ag1", "--nic", "none",
                        "vm1", "--wait")
        srv = cloud.openstack_json("server", "show", "vm1")
        assert srv["status"] == "ERROR"
        assert srv["fault"]["message"] == (f"Build of instance {srv['id']} aborted: Block "
                                           "Device Mapping is Invalid.")
        text = cloud.stackling("explain", "server", "vm1").stdout
        assert "Invalid input received: Availability zone 'ag1' is invalid." in text
        assert "Liberty always sends the instance's zone (ag1)" in text
    finally:
        cloud.stop()
