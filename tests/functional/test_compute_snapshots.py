"""createImage of image-backed and volume-backed servers, and booting the snapshots
(nova-lifecycle reference §1), over HTTP in-process."""

from __future__ import annotations

import json
import re
import time

import pytest

from stackling.compute.host import manager
from tests.functional.test_bfv import FAST, bfv, image_bdm, make, server, upload_image, v
from tests.helpers import settle

DISK = bytes(range(256)) * 16


def _action(api, sid, body, headers):
    return api.post("compute", f"/v2.1/servers/{sid}/action", body, headers=headers)


def _boot_image_backed(cloud, api, image):
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": "web", "imageRef": image, "flavorRef": "1", "networks": "none"}},
        headers=v("2.100"))
    sid = resp.json["server"]["id"]
    settle(cloud)
    assert server(api, sid)["status"] == "ACTIVE"
    return sid


@pytest.fixture
def task_states(monkeypatch):
    """Every task state a compute host writes, in order (what a poller can see)."""
    seen: list = []
    finish = manager.ComputeManager._finish

    def recording(self, instance_uuid, **values):
        if "task_state" in values:
            seen.append(values["task_state"])
        return finish(self, instance_uuid, **values)
    monkeypatch.setattr(manager.ComputeManager, "_finish", recording)
    return seen


def test_image_backed_snapshot_has_the_disk_bytes_and_novas_properties(cloud_factory,
                                                                       task_states):
    cloud, api = make(cloud_factory)
    boot_image = upload_image(api, DISK, min_ram=64, os_distro="cirros")
    sid = _boot_image_backed(cloud, api, boot_image)
    resp = _action(api, sid, {"createImage": {"name": "snap1", "metadata": {"k": "v"}}},
                   v("2.45"))
    assert resp.status == 202, resp
    image_id = resp.json["image_id"]
    assert "Location" not in resp.headers
    task_states.clear()
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ACTIVE" and srv["OS-EXT-STS:task_state"] is None
    # The libvirt driver's order (nova/compute/manager.py snapshot_instance).
    assert task_states == ["image_snapshot", "image_pending_upload", "image_uploading", None]
    image = api.get("image", f"/v2/images/{image_id}").json
    assert image["status"] == "active" and image["name"] == "snap1"
    assert image["visibility"] == "private"
    assert image["image_type"] == "snapshot" and image["instance_uuid"] == sid
    assert image["base_image_ref"] == boot_image and image["os_distro"] == "cirros"
    assert image["image_location"] == "snapshot" and image["image_state"] == "available"
    assert image["k"] == "v" and image["min_ram"] == 64
    assert image["disk_format"] == "raw" and image["container_format"] == "bare"
    data = api.request("image", "GET", f"/v2/images/{image_id}/file")
    assert data.status == 200 and data.body == DISK
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions").json
    assert actions["instanceActions"][0]["action"] == "createImage"
    events = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                                f"{actions['instanceActions'][0]['request_id']}").json
    assert [e["event"] for e in events["instanceAction"]["events"]] == [
        "compute_snapshot_instance"]
    assert events["instanceAction"]["events"][0]["result"] == "Success"
    # The snapshot boots.
    assert server(api, _boot_image_backed(cloud, api, image_id))["image"]["id"] == image_id


def test_create_image_answers_by_microversion_and_checks_state(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api, DISK))
    old = _action(api, sid, {"createImage": {"name": "old"}}, v("2.44"))
    assert old.status == 202 and old.body == b""
    assert "/images/" in old.headers["Location"]
    image_id = old.headers["Location"].rsplit("/", 1)[-1]
    busy = _action(api, sid, {"createImage": {"name": "again"}}, v("2.44"))
    assert busy.status == 409
    assert re.fullmatch(f"Cannot 'createImage' instance {sid} while it is in task_state "
                        "image_(snapshot_pending|snapshot|pending_upload|uploading)",
                        busy.json["conflictingRequest"]["message"])
    settle(cloud)
    assert api.get("image", f"/v2/images/{image_id}").json["status"] == "active"
    bad = _action(api, sid, {"createImage": {"name": "x", "bogus": 1}}, v("2.45"))
    assert bad.status == 400
    # A lock does not stop a snapshot (nova/compute/api.py snapshot checks no lock).
    assert _action(api, sid, {"lock": None}, v("2.45")).status == 202
    assert _action(api, sid, {"createImage": {"name": "locked"}}, v("2.45")).status == 202
    settle(cloud)


def test_volume_backed_snapshot_makes_cinder_snapshots_and_boots_new_volumes(cloud_factory):
    cloud, api = make(cloud_factory, nova=FAST)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image, dot=False)], zone="ag1").json["server"]["id"]
    settle(cloud)
    assert server(api, sid)["status"] == "ACTIVE"
    resp = _action(api, sid, {"createImage": {"name": "bfvsnap"}}, v("2.45"))
    assert resp.status == 202, resp
    # Synchronous: no task state was set, the image is already active.
    assert server(api, sid)["OS-EXT-STS:task_state"] is None
    img = api.get("image", f"/v2/images/{resp.json['image_id']}").json
    assert img["status"] == "active" and img["size"] == 0
    assert img["bdm_v2"] == "True" and img["root_device_name"] == "/dev/vda"
    assert "image_type" not in img and "instance_uuid" not in img
    [mapping] = json.loads(img["block_device_mapping"])
    assert len(mapping) == 19 and mapping["source_type"] == "snapshot"
    assert mapping["destination_type"] == "volume" and mapping["boot_index"] == 0
    snap = api.get("volume", f"/v3/{api.project_id}/snapshots/{mapping['snapshot_id']}").json
    assert snap["snapshot"]["name"] == "snapshot for bfvsnap"
    # Booting the image makes a new volume from the snapshot (cross_az_attach True: no
    # zone sent, so the snapshot's zone).
    new = api.post("compute", "/v2.1/servers", {"server": {
        "name": "fromsnap", "imageRef": img["id"], "flavorRef": "1", "networks": "none"}},
        headers=v("2.100"))
    assert new.status == 202, new
    nid = new.json["server"]["id"]
    settle(cloud)
    srv = server(api, nid)
    assert srv["status"] == "ACTIVE", srv.get("fault")
    [att] = srv["os-extended-volumes:volumes_attached"]
    vol = api.get("volume", f"/v3/{api.project_id}/volumes/{att['id']}").json["volume"]
    assert vol["snapshot_id"] == mapping["snapshot_id"] and vol["status"] == "in-use"


def test_a_snapshot_takes_time_and_its_image_can_be_deleted_while_saving(cloud_factory):
    """``[fake_driver] snapshot_seconds``: while the hypervisor writes the disk the image is
    SAVING, a second createImage is 409 (task_state image_snapshot), and deleting the
    image then ends the snapshot with the server ACTIVE and no image left (tempest's
    test_delete_saving_image and test_create_second_image_when_first_image_is_being_saved)."""
    cloud, api = make(cloud_factory, stackling="[fake_driver]\nsnapshot_seconds = 2\n")
    sid = _boot_image_backed(cloud, api, upload_image(api, DISK))
    resp = _action(api, sid, {"createImage": {"name": "slow"}}, v("2.1"))
    assert resp.status == 202, resp
    image_id = resp.headers["Location"].rsplit("/", 1)[1]
    time.sleep(0.3)     # far longer than an instant snapshot of these 4 KiB takes
    proxied = api.get("compute", f"/v2.1/images/{image_id}", headers=v("2.1"))
    assert proxied.json["image"]["status"] == "SAVING"
    second = _action(api, sid, {"createImage": {"name": "again"}}, v("2.1"))
    assert second.status == 409, second
    assert "task_state image_snapshot" in second.json["conflictingRequest"]["message"]
    assert api.request("image", "DELETE", f"/v2/images/{image_id}").status == 204
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ACTIVE" and srv["OS-EXT-STS:task_state"] is None
    assert api.get("image", f"/v2/images/{image_id}").status == 404
