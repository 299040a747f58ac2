"""The server lifecycle through the real `openstack` CLI (issue 13 acceptance): snapshots
and boots from them, resize, migrate within a zone and a refused targeted migrate,
shelve/unshelve across zones, evacuate, lock, and the event list — on two compute hosts in
each of ag1 and ag2 and one in nova."""

from __future__ import annotations

import pytest

from tests.helpers import LiveCloud, two_per_zone, wait_for

pytestmark = pytest.mark.e2e

TOPOLOGY = two_per_zone(("controller1", "controller1b", "controller2", "controller2b",
                         "controller3"), capacity_gb=1000, region="RegionOne")
# cross_az_attach = False for the unshelve refusal; every other step is the same with True.
NOVA = ("[DEFAULT]\nblock_device_allocate_retries_interval = 0\n"
        "[cinder]\ncross_az_attach = False\n")
AG2 = ("controller2", "controller2b")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = LiveCloud(tmp_path_factory.mktemp("lifecycle"), nova=NOVA, topology=TOPOLOGY)
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "disk.img"
    path.write_bytes(bytes(range(256)) * 32)
    return cloud.openstack_json("image", "create", "--file", str(path), "--disk-format",
                                "raw", "--container-format", "bare", "--public",
                                "lifecycle-img")["id"]


def ok(cloud, *args, version=None):
    extra = ("--os-compute-api-version", version) if version else ()
    r = cloud.openstack(*extra, *args)
    assert r.returncode == 0, r.stderr
    return r


def show(cloud, name):
    return cloud.openstack_json("server", "show", name)


def settle(cloud, name, status):
    def done():
        s = show(cloud, name)
        return s if s["status"] == status and s["OS-EXT-STS:task_state"] is None else None
    return wait_for(done, timeout=60, interval=0.2)


def boot(cloud, image, name, zone="ag2", *extra):
    return cloud.openstack_json("server", "create", "--image", image, "--flavor", "m1.tiny",
                                "--availability-zone", zone, "--nic", "none", "--wait",
                                *extra, name)


def flavor(srv):
    value = srv["flavor"]
    return value.get("original_name") or value.get("name") if isinstance(value, dict) \
        else value.split(" ")[0]


def events(cloud, name):
    return [e["Action"] for e in cloud.openstack_json("server", "event", "list", name)]


def test_snapshots_of_image_and_volume_backed_servers_boot(cloud, image):
    boot(cloud, image, "snapme")
    ok(cloud, "server", "image", "create", "--name", "snap-img", "--wait", "snapme")
    snap = cloud.openstack_json("image", "show", "snap-img")
    assert snap["status"] == "active" and snap["properties"]["image_type"] == "snapshot"
    assert snap["size"] == 256 * 32
    booted = boot(cloud, snap["id"], "from-snap")
    assert show(cloud, "from-snap")["status"] == "ACTIVE" and booted["id"]
    # Volume-backed, in nova (the volumes' zone) since cross_az_attach is False.
    cloud.openstack_json("server", "create", "--image", image, "--boot-from-volume", "1",
                         "--flavor", "m1.tiny", "--availability-zone", "nova:controller3",
                         "--nic", "none", "--wait", "bfv-snapme")
    ok(cloud, "server", "image", "create", "--name", "snap-bfv", "--wait", "bfv-snapme")
    bfv = cloud.openstack_json("image", "show", "snap-bfv")
    assert bfv["properties"]["bdm_v2"] == "True" and bfv["size"] == 0
    snaps = cloud.openstack_json("volume", "snapshot", "list")
    assert [s["Name"] for s in snaps] == ["snapshot for snap-bfv"]
    boot(cloud, bfv["id"], "from-bfv-snap", "nova:controller3")
    srv = show(cloud, "from-bfv-snap")
    assert srv["status"] == "ACTIVE" and len(srv["volumes_attached"]) == 1
    assert "createImage" in events(cloud, "snapme")


def test_resize_confirm_and_revert_stay_in_ag2(cloud, image):
    before = boot(cloud, image, "resizer")
    source = show(cloud, "resizer")["OS-EXT-SRV-ATTR:host"]
    ok(cloud, "server", "resize", "--flavor", "m1.small", "--wait", "resizer")
    srv = settle(cloud, "resizer", "VERIFY_RESIZE")
    assert srv["OS-EXT-SRV-ATTR:host"] in AG2 and srv["OS-EXT-SRV-ATTR:host"] != source
    ok(cloud, "server", "resize", "confirm", "resizer")
    srv = settle(cloud, "resizer", "ACTIVE")
    assert flavor(srv) == "m1.small" and srv["OS-EXT-AZ:availability_zone"] == "ag2"
    host = srv["OS-EXT-SRV-ATTR:host"]
    ok(cloud, "server", "resize", "--flavor", "m1.medium", "--wait", "resizer")
    settle(cloud, "resizer", "VERIFY_RESIZE")
    ok(cloud, "server", "resize", "revert", "resizer")
    srv = settle(cloud, "resizer", "ACTIVE")
    assert flavor(srv) == "m1.small" and srv["OS-EXT-SRV-ATTR:host"] == host
    assert {"resize", "confirmResize", "revertResize"} <= set(events(cloud, "resizer"))
    assert before["id"] == srv["id"]


def test_migrate_within_ag2_and_targeted_migrate_to_ag1_fails(cloud, image):
    boot(cloud, image, "mover")
    source = show(cloud, "mover")["OS-EXT-SRV-ATTR:host"]
    ok(cloud, "server", "migrate", "--wait", "mover")
    srv = settle(cloud, "mover", "VERIFY_RESIZE")
    assert srv["OS-EXT-SRV-ATTR:host"] == {"controller2": "controller2b",
                                           "controller2b": "controller2"}[source]
    ok(cloud, "server", "resize", "confirm", "mover")
    host = settle(cloud, "mover", "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    ok(cloud, "server", "migrate", "--host", "controller1", "mover", version="2.56")
    srv = settle(cloud, "mover", "ACTIVE")
    assert srv["OS-EXT-SRV-ATTR:host"] == host
    actions = cloud.openstack_json("server", "event", "list", "--long", "mover")
    assert actions[0]["Action"] == "migrate" and actions[0]["Message"] == "Error"
    migrations = cloud.openstack_json("server", "migration", "list", "--server", "mover")
    assert migrations[0]["Status"] == "error"


def test_shelve_offload_and_unshelve_into_ag1(cloud, image):
    boot(cloud, image, "shelver")
    ok(cloud, "server", "shelve", "--wait", "shelver")
    srv = settle(cloud, "shelver", "SHELVED_OFFLOADED")
    assert srv["OS-EXT-AZ:availability_zone"] == ""
    ok(cloud, "server", "unshelve", "--availability-zone", "ag1", "--wait", "shelver",
       version="2.77")
    srv = settle(cloud, "shelver", "ACTIVE")
    assert srv["OS-EXT-AZ:availability_zone"] == "ag1"
    assert srv["OS-EXT-SRV-ATTR:host"] in ("controller1", "controller1b")
    assert {"shelve", "unshelve"} <= set(events(cloud, "shelver"))


def test_volume_backed_unshelve_into_another_zone_is_refused(cloud, image):
    srv = cloud.openstack_json("server", "create", "--image", image, "--boot-from-volume",
                               "1", "--flavor", "m1.tiny", "--availability-zone",
                               "nova:controller3", "--nic", "none", "--wait", "bfv-shelver")
    ok(cloud, "server", "shelve", "--wait", "bfv-shelver")
    settle(cloud, "bfv-shelver", "SHELVED_OFFLOADED")
    r = cloud.openstack("--os-compute-api-version", "2.77", "server", "unshelve",
                        "--availability-zone", "ag1", "bfv-shelver")
    assert r.returncode != 0 and "409" in r.stderr
    vol = show(cloud, "bfv-shelver")["volumes_attached"][0]["id"]
    assert ("The availability zone between the server and its attached volumes do not "
            f"match: The specified availability zone does not match the volume {vol} "
            "attached to the server. Specified availability zone is ag1. Volume is in "
            "nova..") in r.stderr
    assert srv["id"]


def test_evacuate_from_a_forced_down_host(cloud, image):
    boot(cloud, image, "evacuee")
    source = show(cloud, "evacuee")["OS-EXT-SRV-ATTR:host"]
    ok(cloud, "compute", "service", "set", "--down", source, "nova-compute", version="2.11")
    try:
        ok(cloud, "server", "evacuate", "evacuee", version="2.68")
        srv = settle(cloud, "evacuee", "ACTIVE")
        assert srv["OS-EXT-SRV-ATTR:host"] in AG2 and srv["OS-EXT-SRV-ATTR:host"] != source
        assert "evacuate" in events(cloud, "evacuee")
    finally:
        ok(cloud, "compute", "service", "set", "--up", source, "nova-compute",
           version="2.11")


def test_lock_blocks_a_member_not_admin(cloud, image):
    srv = cloud.openstack_json("server", "create", "--image", image, "--flavor", "m1.tiny",
                               "--nic", "none", "--wait", "locked-vm", cloud="stackling-demo")
    ok(cloud, "server", "lock", srv["id"])
    r = cloud.openstack("server", "stop", srv["id"], cloud="stackling-demo")
    assert r.returncode != 0 and f"Instance {srv['id']} is locked" in r.stderr
    ok(cloud, "server", "stop", srv["id"])
    settle(cloud, srv["id"], "SHUTOFF")
    assert {"create", "lock", "stop"} <= set(events(cloud, srv["id"]))
