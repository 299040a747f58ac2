"""rebuild, shelve/shelveOffload/unshelve and evacuate across zones (nova-lifecycle
reference §§2, 5, 6), over HTTP in-process on two compute hosts per zone."""

from __future__ import annotations

import pytest

from tests.functional.test_bfv import FAST, image_bdm, upload_image
from tests.functional.test_compute_moves import act
from tests.functional.test_compute_servers import LATEST, boot, settled, v
from tests.functional.test_compute_snapshots import task_states  # noqa: F401
from tests.helpers import TWO_PER_ZONE, ApiClient, settle


def _cloud(cloud_factory, nova=FAST):
    cloud = cloud_factory(topology=TWO_PER_ZONE, nova=nova)
    return cloud, ApiClient(cloud)


def _server(api, img, zone="ag2"):
    sid = boot(api, img, zone).json["server"]["id"]
    settle(api.cloud)
    server = settled(api, sid)
    assert server["status"] == "ACTIVE", server.get("fault")
    return sid, server


def _actions(api, sid):
    return api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                   headers=LATEST).json["instanceActions"]


def _events(api, sid, action):
    shown = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                               f"{action['request_id']}", headers=LATEST).json
    return {e["event"]: e["result"] for e in shown["instanceAction"]["events"]}


def test_rebuild_changes_the_image_in_libvirts_order(cloud_factory, task_states):  # noqa: F811
    cloud, api = _cloud(cloud_factory)
    first, second = upload_image(api), upload_image(api, b"\2" * 512)
    sid, before = _server(api, first)
    missing = act(api, sid, {"rebuild": {"imageRef": "5f9a0b43-0000-4000-8000-000000000000"}})
    assert missing.status == 400 and missing.json["badRequest"]["message"] == (
        "Cannot find image for rebuild")
    task_states.clear()
    resp = api.post("compute", f"/v2.1/servers/{sid}/action",
                    {"rebuild": {"imageRef": second, "name": "rebuilt"}}, headers=LATEST)
    assert resp.status == 202, resp
    body = resp.json["server"]
    assert body["id"] == sid and body["name"] == "rebuilt" and body["adminPass"]
    assert body["image"]["id"] == second and resp.headers["Location"].endswith(sid)
    assert body["OS-EXT-AZ:availability_zone"] == "ag2"     # 2.75+: the GET body
    settle(cloud)
    server = settled(api, sid)
    assert server["status"] == "ACTIVE" and server["image"]["id"] == second
    assert server["OS-EXT-SRV-ATTR:host"] == before["OS-EXT-SRV-ATTR:host"]
    assert task_states == ["rebuild_block_device_mapping", "rebuild_spawning", None]
    old = api.post("compute", f"/v2.1/servers/{sid}/action",
                   {"rebuild": {"imageRef": first}}, headers=v("2.74"))
    assert "OS-EXT-AZ:availability_zone" not in old.json["server"]
    # tempest's 2.57-2.74 rebuild schema: locked and user_data are there, no extensions.
    assert old.json["server"]["locked"] is False and "user_data" in old.json["server"]
    settle(cloud)
    assert _events(api, sid, _actions(api, sid)[0]) == {
        "rebuild_server": "Success", "compute_rebuild_instance": "Success"}
    # A stopped server is rebuilt and powered off again.
    act(api, sid, {"os-stop": None})
    assert act(api, sid, {"rebuild": {"imageRef": second}}).status == 202
    assert settled(api, sid)["status"] == "SHUTOFF"
    # preserve_ephemeral on a libvirt-like driver: accepted, then ERROR.
    act(api, sid, {"os-start": None})
    assert act(api, sid, {"rebuild": {"imageRef": second,
                                      "preserve_ephemeral": True}}).status == 202
    server = settled(api, sid)
    assert server["status"] == "ERROR"
    assert server["fault"]["message"] == ("The current driver does not support preserving "
                                          "ephemeral partitions.")


def test_volume_backed_rebuild_needs_the_same_image_before_2_93(cloud_factory):
    cloud, api = _cloud(cloud_factory)
    image, other = upload_image(api), upload_image(api)
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": "bfv", "flavorRef": "1", "networks": "none", "availability_zone": "ag2",
        "block_device_mapping_v2": [image_bdm(image)]}}, headers=LATEST)
    sid = resp.json["server"]["id"]
    settle(cloud)
    assert settled(api, sid)["status"] == "ACTIVE"
    refused = act(api, sid, {"rebuild": {"imageRef": other}}, v("2.92"))
    assert refused.status == 400 and refused.json["badRequest"]["message"] == (
        f"Image {other} is unacceptable: Unable to rebuild with a different image for a "
        "volume-backed server.")
    assert act(api, sid, {"rebuild": {"imageRef": image}}, v("2.92")).status == 202
    assert settled(api, sid)["status"] == "ACTIVE"
    assert act(api, sid, {"rebuild": {"imageRef": other}}, v("2.93")).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE" and server["image"] == ""


def test_shelve_offload_and_unshelve_into_another_zone(cloud_factory, task_states):  # noqa: F811
    _, api = _cloud(cloud_factory)
    sid, _ = _server(api, upload_image(api))
    task_states.clear()
    assert act(api, sid, {"shelve": {}}).status == 202
    server = settled(api, sid)
    # shelved_offload_time = 0: offloaded in the same action.
    assert server["status"] == "SHELVED_OFFLOADED"
    assert server["OS-EXT-AZ:availability_zone"] == "" and \
        server["OS-EXT-SRV-ATTR:host"] is None
    assert server["pinned_availability_zone"] == "ag2"
    assert task_states == ["shelving_image_pending_upload", "shelving_image_uploading",
                           "shelving_offloading"]
    images = api.get("image", "/v2/images?name=vm1-shelved").json["images"]
    assert len(images) == 1 and images[0]["status"] == "active"
    unknown = act(api, sid, {"unshelve": {"availability_zone": "nowhere"}}, v("2.77"))
    assert unknown.status == 400 and unknown.json["badRequest"]["message"] == (
        "The requested availability zone is not available")
    assert act(api, sid, {"unshelve": {}}, v("2.77")).status == 400
    assert act(api, sid, {"unshelve": {"availability_zone": "ag1"}}, v("2.77")).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] in ("c1a", "c1b")
    assert server["OS-EXT-AZ:availability_zone"] == "ag1"
    assert server["pinned_availability_zone"] == "ag1"
    assert api.get("image", "/v2/images?name=vm1-shelved").json["images"] == []
    assert _events(api, sid, _actions(api, sid)[0]) == {
        "get_image_info": "Success", "schedule_instances": "Success",
        "compute_unshelve_instance": "Success"}
    # 2.91: to a host (admin), and null unpins.
    act(api, sid, {"shelve": None})
    assert act(api, sid, {"unshelve": {"availability_zone": None, "host": "c3"}},
               v("2.91")).status == 202
    server = settled(api, sid)
    assert server["OS-EXT-SRV-ATTR:host"] == "c3" and server["pinned_availability_zone"] is None


def test_shelve_without_offload_and_the_zone_refusal(cloud_factory):
    _, api = _cloud(cloud_factory, FAST + "shelved_offload_time = -1\n")
    sid, before = _server(api, upload_image(api))
    assert act(api, sid, {"shelve": None}).status == 202
    server = settled(api, sid)
    assert server["status"] == "SHELVED"
    assert server["OS-EXT-SRV-ATTR:host"] == before["OS-EXT-SRV-ATTR:host"]
    for body, version in (({"availability_zone": "ag1"}, "2.77"),
                          ({"availability_zone": None}, "2.91")):
        refused = act(api, sid, {"unshelve": body}, v(version))
        assert refused.status == 409 and refused.json["conflictingRequest"]["message"] == (
            "Specifying an availability zone or a host when unshelving server "
            f'"{sid}" with status "shelved" is not supported. The server status must be '
            "SHELVED_OFFLOADED.")
    busy = act(api, sid, {"shelve": None})
    assert busy.json["conflictingRequest"]["message"] == (
        f"Cannot 'shelve' instance {sid} while it is in vm_state shelved")
    assert act(api, sid, {"unshelve": None}).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] == before["OS-EXT-SRV-ATTR:host"]
    act(api, sid, {"shelve": None})
    assert act(api, sid, {"shelveOffload": None}).status == 202
    assert settled(api, sid)["status"] == "SHELVED_OFFLOADED"


def test_volume_backed_unshelve_across_zones_without_cross_az_attach(cloud_factory):
    cloud, api = _cloud(cloud_factory, FAST + "[cinder]\ncross_az_attach = False\n")
    image = upload_image(api)
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": "bfv", "flavorRef": "1", "networks": "none", "availability_zone": "nova:c3",
        "block_device_mapping_v2": [image_bdm(image)]}}, headers=LATEST)
    sid = resp.json["server"]["id"]
    settle(cloud)
    server = settled(api, sid)
    assert server["status"] == "ACTIVE", server.get("fault")
    assert server["OS-EXT-AZ:availability_zone"] == "nova"
    [vol] = server["os-extended-volumes:volumes_attached"]
    assert act(api, sid, {"shelve": None}).status == 202
    assert settled(api, sid)["status"] == "SHELVED_OFFLOADED"   # volume-backed: always
    refused = act(api, sid, {"unshelve": {"availability_zone": "ag1"}}, v("2.77"))
    assert refused.status == 409
    assert refused.json["conflictingRequest"]["message"] == (
        "The availability zone between the server and its attached volumes do not match: "
        f"The specified availability zone does not match the volume {vol['id']} attached "
        "to the server. Specified availability zone is ag1. Volume is in nova..")
    # Unpinned and sent to ag1: the compute's re-attach check fails, the server stays
    # offloaded with a fault.
    assert act(api, sid, {"unshelve": {"availability_zone": None, "host": "c1a"}},
               v("2.91")).status == 202
    server = settled(api, sid, v("2.91"))
    assert server["status"] == "SHELVED_OFFLOADED"
    assert _actions(api, sid)[0]["message"] == "Error"
    assert act(api, sid, {"unshelve": {"host": "c3"}}, v("2.91")).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "c3"
    volume = api.get("volume", f"/v3/{api.project_id}/volumes/{vol['id']}").json["volume"]
    assert volume["status"] == "in-use"


def _force_down(api, host, down=True):
    services = api.get("compute", f"/v2.1/os-services?host={host}&binary=nova-compute",
                       headers=v("2.53")).json["services"]
    resp = api.put("compute", f"/v2.1/os-services/{services[0]['id']}",
                   {"forced_down": down}, headers=v("2.53"))
    assert resp.status == 200, resp


@pytest.mark.parametrize("version,final", [("2.68", "ACTIVE"), ("2.95", "SHUTOFF")])
def test_evacuate_from_a_forced_down_host_stays_in_the_zone(cloud_factory, version, final):
    _, api = _cloud(cloud_factory)
    sid, before = _server(api, upload_image(api))
    source = before["OS-EXT-SRV-ATTR:host"]
    up = act(api, sid, {"evacuate": {}}, v(version))
    assert up.status == 400 and up.json["badRequest"]["message"] == (
        f"Compute service of {source} is still in use.")
    _force_down(api, source)
    same = act(api, sid, {"evacuate": {"host": source}}, v(version))
    assert same.json["badRequest"]["message"] == "The target host can't be the same one."
    nowhere = act(api, sid, {"evacuate": {"host": "nope"}}, v(version))
    assert nowhere.status == 404
    assert act(api, sid, {"lock": None}).status == 202     # evacuate ignores the lock
    resp = act(api, sid, {"evacuate": {}}, v(version))
    assert resp.status == 200 and resp.body == b""
    server = settled(api, sid)
    assert server["status"] == final
    assert server["OS-EXT-SRV-ATTR:host"] == {"c2a": "c2b", "c2b": "c2a"}[source]
    assert server["OS-EXT-AZ:availability_zone"] == "ag2"
    migrations = api.get("compute", f"/v2.1/os-migrations?instance_uuid={sid}",
                         headers=LATEST).json["migrations"]
    assert migrations[0]["migration_type"] == "evacuation"
    assert migrations[0]["status"] == "done"
    assert _actions(api, sid)[0]["action"] == "evacuate"
    # Nowhere left in ag2: NoValidHost ends in ERROR.
    _force_down(api, server["OS-EXT-SRV-ATTR:host"])
    act(api, sid, {"evacuate": {}}, v(version))
    assert settled(api, sid)["status"] == "ERROR"
    legacy = act(api, sid, {"evacuate": {"onSharedStorage": False}}, v("2.13"))
    assert legacy.status == 200 and legacy.json["adminPass"]
