"""Boot from volume across zones, attach/detach and server delete, over HTTP in-process
(issue #5, Nova side). Cinder is reached only through its public API."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ApiClient, settle, wait_for

LATEST = {"OpenStack-API-Version": "compute 2.100"}
FAST = "[DEFAULT]\nblock_device_allocate_retries = 20\nblock_device_allocate_retries_interval = 0\n"
NO_CROSS = FAST + "[cinder]\ncross_az_attach = False\n"
AG1_BACKEND = ("[DEFAULT]\nenabled_backends = ag1file\n"
               "[ag1file]\nbackend_availability_zone = ag1\nbackend_host = controller1\n")


def v(version):
    return {"OpenStack-API-Version": f"compute {version}"}


def make(cloud_factory, nova=FAST, cinder="", stackling=""):
    cloud = cloud_factory(nova=nova, cinder=cinder, stackling=stackling)
    return cloud, ApiClient(cloud)


def upload_image(api, data=b"\1" * 4096, **extra):
    resp = api.post("image", "/v2/images", {"name": "img", "disk_format": "raw",
                                            "container_format": "bare", **extra})
    assert resp.status == 201, resp
    image_id = resp.json["id"]
    up = api.request("image", "PUT", f"/v2/images/{image_id}/file", raw=data,
                     headers={"Content-Type": "application/octet-stream"})
    assert up.status == 204, up
    return image_id


def bfv(api, bdms, zone=None, name="vm1", headers=LATEST, image_ref="", **extra):
    server = {"name": name, "flavorRef": "1", "networks": "none",
              "block_device_mapping_v2": bdms, **extra}
    if image_ref is not None:
        server["imageRef"] = image_ref
    if zone:
        server["availability_zone"] = zone
    return api.post("compute", "/v2.1/servers", {"server": server}, headers=headers)


def image_bdm(image_id, size=1, dot=True, **extra):
    return {"boot_index": 0, "uuid": image_id, "source_type": "image",
            "destination_type": "volume", "volume_size": size,
            "delete_on_termination": dot, **extra}


def server(api, sid, headers=LATEST):
    return api.get("compute", f"/v2.1/servers/{sid}", headers=headers).json["server"]


def volumes(api):
    return {v["id"]: v for v in api.get("volume", f"/v3/{api.project_id}/volumes/detail",
                                        headers={"OpenStack-API-Version": "volume 3.44"}
                                        ).json["volumes"]}


def volume(api, vid):
    return api.get("volume", f"/v3/{api.project_id}/volumes/{vid}").json["volume"]


def gigabytes_in_use(api):
    body = api.get("volume", f"/v3/{api.project_id}/os-quota-sets/{api.project_id}"
                             "?usage=true").json["quota_set"]
    return body["gigabytes"]["in_use"], body["volumes"]["in_use"]


def new_volume(cloud, api, size=1, zone=None, image=None, name="data"):
    body = {"size": size, "name": name}
    if zone:
        body["availability_zone"] = zone
    if image:
        body["imageRef"] = image
    resp = api.post("volume", f"/v3/{api.project_id}/volumes", {"volume": body})
    assert resp.status == 202, resp
    settle(cloud)
    vid = resp.json["volume"]["id"]
    assert volume(api, vid)["status"] == "available"
    return vid


FAULT_ZONE = re.compile(
    r"^Build of instance [0-9a-f-]{36} aborted: Invalid input received: Availability zone "
    r"'ag1' is invalid\. \(HTTP 400\) \(Request-ID: req-[0-9a-f-]{36}\)$")


# -- the seed scenario -----------------------------------------------------------------


def test_seed_current_cross_az_false_fails_and_leaves_nothing(cloud_factory):
    cloud, api = make(cloud_factory, nova=NO_CROSS)
    image = upload_image(api)
    before = gigabytes_in_use(api)
    resp = bfv(api, [image_bdm(image)], zone="ag1")
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ERROR" and srv["OS-EXT-STS:task_state"] is None
    assert srv["OS-EXT-SRV-ATTR:host"] is None
    assert FAULT_ZONE.match(srv["fault"]["message"]), srv["fault"]
    assert srv["fault"]["code"] == 500 and "details" in srv["fault"]
    assert srv["image"] == ""
    assert volumes(api) == {}
    assert gigabytes_in_use(api) == before
    demo = ApiClient(cloud, "demo", "demo")
    # details only for admins when the code is 500
    admin_view = server(api, sid)
    assert "details" in admin_view["fault"]
    assert demo.get("compute", f"/v2.1/servers/{sid}").status == 404
    text = api.get("identity", f"/_stackling/explain/servers/{sid}?format=text").body.decode()
    assert "zone ag1" in text and "cross_az_attach = False" in text
    works = text.split("What would change the outcome")[1].split("Checked the same way")[0]
    assert "nova.conf [cinder] cross_az_attach = True" in works
    assert "backend_availability_zone = ag1" in works
    assert "allow_availability_zone_fallback" not in works
    assert "allow_availability_zone_fallback = True" in text.split("Checked the same way")[1]
    by_name = api.get("identity", "/_stackling/explain/servers/vm1").json
    assert by_name["id"] == sid and len([f for f in by_name["fixes"] if f["works"]]) >= 3


def test_fallback_then_nova_cross_az_check_fails(cloud_factory):
    cloud, api = make(cloud_factory, nova=NO_CROSS,
                      cinder="[DEFAULT]\nallow_availability_zone_fallback = True\n")
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)], zone="ag1").json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ERROR"
    vid_part = r"[0-9a-f-]{36}"
    assert re.match(rf"^Build of instance {sid} aborted: Invalid volume: Instance {sid} and "
                    rf"volume {vid_part} are not in the same availability_zone\. Instance is "
                    r"in ag1\. Volume is in nova", srv["fault"]["message"]), srv["fault"]
    assert volumes(api) == {}    # delete_on_termination: the fallback volume is gone


def test_cross_az_true_sends_no_zone_and_boots_in_ag1(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image, dot=False)], zone="ag1").json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["OS-EXT-AZ:availability_zone"] == "ag1"
    [(vid, vol)] = volumes(api).items()
    assert vol["status"] == "in-use" and vol["availability_zone"] == "nova"
    assert vol["bootable"] == "true"
    assert vol["attachments"][0]["server_id"] == sid
    assert srv["os-extended-volumes:volumes_attached"] == [
        {"id": vid, "delete_on_termination": False}]
    assert server(api, sid, v("2.1"))["os-extended-volumes:volumes_attached"] == [{"id": vid}]
    # delete_on_termination false: the volume survives the server, available
    assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204
    settle(cloud)
    assert volume(api, vid)["status"] == "available"


def test_backend_in_ag1_makes_the_seed_succeed(cloud_factory):
    cloud, api = make(cloud_factory, nova=NO_CROSS, cinder=AG1_BACKEND)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)], zone="ag1").json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ACTIVE", srv.get("fault")
    [vol] = volumes(api).values()
    assert vol["availability_zone"] == "ag1" and vol["status"] == "in-use"
    assert vol["os-vol-host-attr:host"].startswith("controller1@ag1file")
    assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204
    settle(cloud)
    assert volumes(api) == {}


def test_liberty_reproduces_the_seed_with_default_options(cloud_factory):
    cloud, api = make(cloud_factory, stackling="[stackling]\nbehaviour_release = liberty\n")
    image = upload_image(api)
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": "vm1", "flavorRef": "1", "imageRef": "", "availability_zone": "ag1",
        "block_device_mapping_v2": [image_bdm(image)]}}, headers=v("2.25"))
    sid = resp.json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ERROR"
    assert srv["fault"]["message"] == (f"Build of instance {sid} aborted: Block Device "
                                       "Mapping is Invalid.")
    chain = api.get("identity", f"/_stackling/explain/servers/{sid}").json["chain"]
    create = next(d for d in chain if d["step"] == "volume create")
    assert create["outcome"] == "failed" and "Liberty always sends" in create["summary"]
    assert "Invalid input received: Availability zone 'ag1' is invalid." in \
        create["summary"]
    assert volumes(api) == {}


def test_mitaka_sends_the_requested_zone_only_without_cross_az(cloud_factory):
    cloud, api = make(cloud_factory, stackling="[stackling]\nbehaviour_release = mitaka\n")
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)], zone="ag1").json["server"]["id"]
    settle(cloud)
    assert server(api, sid)["status"] == "ACTIVE"


# -- API validation (reference 4.2) -----------------------------------------------------


def test_bdm_validation_messages(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    missing = "6bd4ee95-1111-4c2b-9d3a-000000000000"

    def msg(resp, status=400):
        assert resp.status == status, resp
        return next(iter(resp.json.values()))["message"]

    both = api.post("compute", "/v2.1/servers", {"server": {
        "name": "x", "flavorRef": "1", "networks": "none",
        "block_device_mapping": [{"device_name": "vda", "volume_id": missing}],
        "block_device_mapping_v2": [image_bdm(image)]}}, headers=LATEST)
    assert msg(both) == ("Using different block_device_mapping syntaxes is not allowed in "
                         "the same request.")
    none = api.post("compute", "/v2.1/servers", {"server": {
        "name": "x", "flavorRef": "1", "networks": "none"}}, headers=LATEST)
    assert msg(none) == "Missing imageRef attribute"
    assert msg(bfv(api, [{"boot_index": 0, "uuid": image}])) == (
        "Block Device Mapping is Invalid: Some required fields are missing")
    assert "Additional properties are not allowed ('bogus' was unexpected)" in msg(
        bfv(api, [image_bdm(image, bogus=1)]))
    assert msg(bfv(api, [image_bdm(image), {"source_type": "blank", "uuid": image,
                                            "destination_type": "local"}])) == (
        "Block Device Mapping is Invalid: Invalid device UUID.")
    assert msg(bfv(api, [{"boot_index": 0, "source_type": "volume",
                          "destination_type": "volume"}])) == (
        "Block Device Mapping is Invalid: Missing device UUID.")
    assert msg(bfv(api, [{"boot_index": 0, "uuid": image, "source_type": "image",
                          "destination_type": "local"}])) == (
        "Block Device Mapping is Invalid: Mapping image to local is not supported.")
    assert "volume_type" in msg(bfv(api, [image_bdm(image, volume_type="x")],
                                    headers=v("2.66")))
    assert msg(bfv(api, [dict(image_bdm(image), destination_type="local",
                              volume_type="x")], image_ref=image)) == (
        "Block Device Mapping is Invalid: Specifying a volume_type with destination_type="
        "local is not supported.")
    assert msg(bfv(api, [{"boot_index": 0, "uuid": missing, "source_type": "volume",
                          "destination_type": "volume", "volume_type": "x"}])) == (
        "Block Device Mapping is Invalid: Specifying volume type to existing volume is not "
        "supported.")
    assert msg(bfv(api, [dict(image_bdm(image), boot_index=1)])) == (
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
        "device mapping combination is not valid.")
    assert msg(bfv(api, [image_bdm(missing)])) == (
        f"Block Device Mapping is Invalid: failed to get image {missing}.")
    assert msg(bfv(api, [image_bdm(image, size=None)])) == (
        "Images with destination_type 'volume' need to have a non-zero size specified")
    assert msg(bfv(api, [image_bdm(image), {"source_type": "blank",
                                            "destination_type": "volume",
                                            "boot_index": 1}])) == (
        "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
    assert msg(bfv(api, [{"boot_index": 0, "uuid": missing, "source_type": "snapshot",
                          "destination_type": "volume"}])) == (
        f"Snapshot {missing} could not be found.")
    assert msg(bfv(api, [{"boot_index": 0, "uuid": missing, "source_type": "volume",
                          "destination_type": "volume"}])) == (
        f"Block Device Mapping is Invalid: failed to get volume {missing}.")
    assert msg(bfv(api, [image_bdm(image), {"boot_index": 1, "uuid": missing,
                                            "source_type": "volume",
                                            "destination_type": "volume"}])) == (
        f"Volume {missing} could not be found.")
    data = new_volume(cloud, api)
    assert msg(bfv(api, [{"boot_index": 0, "uuid": data, "source_type": "volume",
                          "destination_type": "volume"}])) == (
        f"Block Device {data} is not bootable.")
    assert msg(bfv(api, [image_bdm(image), {"boot_index": 1, "uuid": data,
                                            "source_type": "volume",
                                            "destination_type": "volume"}],
                   min_count=2)) == "Cannot attach one or more volumes to multiple instances"
    locals_ = [image_bdm(image)] + [{"source_type": "blank", "destination_type": "local",
                                     "boot_index": -1, "volume_size": 1} for _ in range(4)]
    assert msg(bfv(api, locals_)) == (
        "Block Device Mapping is Invalid: You specified more local devices than the limit "
        "allows") or "Ephemeral" in msg(bfv(api, locals_))
    big = upload_image(api, min_disk=5)
    assert msg(bfv(api, [image_bdm(big, size=2)])) == (
        "Volume is smaller than the minimum size specified in image metadata. Volume size "
        f"is {2 * 1024 ** 3} bytes, minimum size is {5 * 1024 ** 3} bytes.")
    assert volumes(api).keys() == {data}     # nothing was reserved or created


# -- existing volumes -------------------------------------------------------------------


def _bootable(cloud, api, image, zone=None):
    return new_volume(cloud, api, image=image, zone=zone, name="boot")


def test_existing_volume_is_reserved_then_in_use_and_not_shared(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    vid = _bootable(cloud, api, image)
    bdm = [{"boot_index": 0, "uuid": vid, "source_type": "volume",
            "destination_type": "volume"}]
    resp = bfv(api, bdm, zone="ag1")
    assert resp.status == 202, resp
    assert volume(api, vid)["status"] in ("reserved", "attaching", "in-use")
    settle(cloud)
    assert volume(api, vid)["status"] == "in-use"
    second = bfv(api, bdm, name="vm2")
    assert second.status == 400
    assert re.match(rf"^Invalid volume: Invalid input received: Invalid volume: Volume {vid} "
                    r"status must be available or downloading to reserve, but the current "
                    r"status is in-use\. \(HTTP 400\) \(Request-ID: req-[0-9a-f-]{36}\)$",
                    second.json["badRequest"]["message"]), second.json
    sid = resp.json["server"]["id"]
    assert server(api, sid)["status"] == "ACTIVE"
    detach = api.delete("compute", f"/v2.1/servers/{sid}/os-volume_attachments/{vid}")
    assert detach.status == 400
    assert detach.json["badRequest"]["message"] == "Cannot detach a root device volume"
    api.delete("compute", f"/v2.1/servers/{sid}")
    settle(cloud)
    assert volume(api, vid)["status"] == "available"


def test_cross_az_false_rules_for_existing_volumes(cloud_factory):
    cloud, api = make(cloud_factory, nova=NO_CROSS, cinder=AG1_BACKEND)
    image = upload_image(api)
    in_ag1 = _bootable(cloud, api, image, zone="ag1")
    in_nova = new_volume(cloud, api, zone="nova")
    root = {"boot_index": 0, "uuid": in_ag1, "source_type": "volume",
            "destination_type": "volume"}
    other = {"boot_index": 1, "uuid": in_nova, "source_type": "volume",
             "destination_type": "volume"}
    prefix = "The availability zone between the server and its attached volumes do not match: "
    both = bfv(api, [root, other])
    assert both.json["badRequest"]["message"] == (
        prefix + "Volumes are in different availability zones: ag1,nova.")
    wrong = bfv(api, [root], zone="ag2")
    assert wrong.json["badRequest"]["message"] == (
        prefix + "Server and volumes are not in the same availability zone. Server is in: "
        "ag2. Volumes are in: ag1.")
    assert volume(api, in_ag1)["status"] == "available"
    resp = bfv(api, [root])     # no zone asked: placed into the volume's zone
    assert resp.status == 202, resp
    settle(cloud)
    srv = server(api, resp.json["server"]["id"])
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["OS-EXT-AZ:availability_zone"] == "ag1"
    assert srv["pinned_availability_zone"] == "ag1"


def test_no_valid_host_keeps_the_reservation_until_delete(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    vid = _bootable(cloud, api, image)
    for host in ("controller1", "controller2", "controller3"):
        api.put("compute", "/v2.1/os-services/disable", {"host": host,
                                                          "binary": "nova-compute"})
    svc = api.get("compute", "/v2.1/os-services?binary=nova-compute", headers=LATEST).json
    for s in svc["services"]:
        api.put("compute", f"/v2.1/os-services/{s['id']}", {"status": "disabled"},
                headers=LATEST)
    resp = bfv(api, [{"boot_index": 0, "uuid": vid, "source_type": "volume",
                      "destination_type": "volume"}])
    sid = resp.json["server"]["id"]
    settle(cloud)
    assert server(api, sid)["status"] == "ERROR"
    assert volume(api, vid)["status"] == "reserved"
    api.delete("compute", f"/v2.1/servers/{sid}")
    settle(cloud)
    assert volume(api, vid)["status"] == "available"


# -- other sources ------------------------------------------------------------------------


def test_boot_from_snapshot_and_blank_and_legacy_v1(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    vid = _bootable(cloud, api, image)
    snap = api.post("volume", f"/v3/{api.project_id}/snapshots",
                    {"snapshot": {"volume_id": vid, "name": "s"}})
    assert snap.status == 202, snap
    settle(cloud)
    snap_id = snap.json["snapshot"]["id"]
    resp = bfv(api, [{"boot_index": 0, "uuid": snap_id, "source_type": "snapshot",
                      "destination_type": "volume", "delete_on_termination": True},
                     {"boot_index": 1, "source_type": "blank", "destination_type": "volume",
                      "volume_size": 1, "delete_on_termination": True}])
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert srv["status"] == "ACTIVE", srv.get("fault")
    attached = [a["id"] for a in srv["os-extended-volumes:volumes_attached"]]
    vols = volumes(api)
    assert vols[attached[0]]["snapshot_id"] == snap_id
    assert vols[attached[1]]["name"] == f"{sid}-blank-vol"
    listing = api.get("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                      headers=v("2.89")).json["volumeAttachments"]
    assert [a["device"] for a in listing] == ["/dev/vda", "/dev/vdb"]
    assert all("id" not in a and a["attachment_id"] for a in listing)
    api.delete("compute", f"/v2.1/servers/{sid}")
    settle(cloud)
    assert set(volumes(api)) == {vid}
    # rally's legacy mapping at 2.1: delete_on_termination "0"
    legacy = api.post("compute", "/v2.1/servers", {"server": {
        "name": "legacy", "flavorRef": "1", "imageRef": "",
        "block_device_mapping": [{"device_name": "vda", "volume_id": vid,
                                  "delete_on_termination": "0"}]}})
    assert legacy.status == 202, legacy
    settle(cloud)
    srv = server(api, legacy.json["server"]["id"], v("2.3"))
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["os-extended-volumes:volumes_attached"] == [
        {"id": vid, "delete_on_termination": False}]


# -- attach / detach ----------------------------------------------------------------------


def test_attach_detach_and_delete_on_termination(cloud_factory):
    cloud, api = make(cloud_factory)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)], zone="ag1").json["server"]["id"]
    settle(cloud)
    data = new_volume(cloud, api)
    path = f"/v2.1/servers/{sid}/os-volume_attachments"
    resp = api.post("compute", path, {"volumeAttachment": {"volumeId": data}},
                    headers=v("2.79"))
    assert resp.status == 200, resp
    assert resp.json["volumeAttachment"] == {
        "id": data, "serverId": sid, "volumeId": data, "device": "/dev/vdb", "tag": None,
        "delete_on_termination": False}
    settle(cloud)
    assert volume(api, data)["status"] == "in-use"
    again = api.post("compute", path, {"volumeAttachment": {"volumeId": data}})
    assert again.status == 400
    assert again.json["badRequest"]["message"] == (
        f"Invalid volume: volume {data} is already attached to instances: {sid}")
    show = api.get("compute", f"{path}/{data}", headers=v("2.70")).json["volumeAttachment"]
    assert show == {"id": data, "volumeId": data, "serverId": sid, "device": "/dev/vdb",
                    "tag": None}
    missing = "6bd4ee95-1111-4c2b-9d3a-000000000000"
    assert api.post("compute", path, {"volumeAttachment": {"volumeId": missing}}
                    ).json["itemNotFound"]["message"] == f"Volume {missing} could not be found."
    assert api.delete("compute", f"{path}/{data}").status == 202
    settle(cloud)
    assert volume(api, data)["status"] == "available"
    gone = api.get("compute", f"{path}/{data}")
    assert gone.json["itemNotFound"]["message"] == (
        f"Instance {sid} is not attached to volume {data}")
    # attach again with delete_on_termination (2.79): server delete removes both volumes
    api.post("compute", path, {"volumeAttachment": {"volumeId": data,
                                                    "delete_on_termination": True}},
             headers=v("2.79"))
    settle(cloud)
    assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204
    settle(cloud)
    assert volumes(api) == {}


def test_attach_cross_az_refused(cloud_factory):
    cloud, api = make(cloud_factory, nova=NO_CROSS, cinder=AG1_BACKEND)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)], zone="ag1").json["server"]["id"]
    settle(cloud)
    data = new_volume(cloud, api, zone="nova")
    resp = api.post("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                    {"volumeAttachment": {"volumeId": data}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        f"Invalid volume: Instance {sid} and volume {data} are not in the same "
        "availability_zone. Instance is in ag1. Volume is in nova")


@pytest.mark.parametrize("release", ["liberty"])
def test_2016_attach_detach_use_the_legacy_actions(cloud_factory, release):
    cloud, api = make(cloud_factory, stackling=f"[stackling]\nbehaviour_release = {release}\n")
    image = upload_image(api)
    vid = _bootable(cloud, api, image)
    resp = bfv(api, [{"boot_index": 0, "uuid": vid, "source_type": "volume",
                      "destination_type": "volume"}])
    assert resp.status == 202, resp
    assert volume(api, vid)["status"] == "available"    # check_attach, no reservation
    settle(cloud)
    sid = resp.json["server"]["id"]
    assert server(api, sid)["status"] == "ACTIVE", server(api, sid).get("fault")
    assert volume(api, vid)["status"] == "in-use"
    second = bfv(api, [{"boot_index": 0, "uuid": vid, "source_type": "volume",
                        "destination_type": "volume"}], name="vm2")
    assert second.json["badRequest"]["message"] == (
        f"Invalid volume: volume '{vid}' status must be 'available'. Currently in 'in-use'")
    api.delete("compute", f"/v2.1/servers/{sid}")
    settle(cloud)
    assert volume(api, vid)["status"] == "available"


def test_fault_message_is_truncated_to_255(cloud_factory):
    # Nova keeps the first 255 characters of a fault's message (the column's size). A zone
    # name of 200 characters makes Cinder's refusal, wrapped in Nova's "Build of instance
    # ... aborted: ..." text, some 330 characters long.
    cloud, api = make(cloud_factory, nova=NO_CROSS)
    image = upload_image(api)
    zone = "z" * 200
    agg = api.post("compute", "/v2.1/os-aggregates",
                   {"aggregate": {"name": "long", "availability_zone": zone}}).json
    assert api.post("compute", f"/v2.1/os-aggregates/{agg['aggregate']['id']}/action",
                    {"add_host": {"host": "controller3"}}).status == 200
    resp = bfv(api, [image_bdm(image)], zone=zone)
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settle(cloud)
    full = (f"Build of instance {sid} aborted: Invalid input received: Availability zone "
            f"'{zone}' is invalid.")
    assert server(api, sid)["fault"]["message"] == full[:255]


def test_wait_loop_gives_up_on_error(cloud_factory):
    # no backend in nova: Cinder accepts the default zone, the scheduler errors it
    topology = """
region: RegionOne
controller: controller2
compute_hosts:
  - {name: controller1, vcpus: 16, memory_mb: 32768, local_gb: 500}
aggregates: []
volume_backends:
  - {host: controller2, backend: file, availability_zone: elsewhere}
"""
    cloud = cloud_factory(nova=FAST, topology=topology)
    api = ApiClient(cloud)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)]).json["server"]["id"]
    settle(cloud)
    srv = server(api, sid)
    assert re.match(rf"^Build of instance {sid} aborted: Volume [0-9a-f-]{{36}} did not "
                    r"finish being created even after we waited \d+ seconds or \d+ attempts\. "
                    r"And its status is error\.$", srv["fault"]["message"]), srv["fault"]
    wait_for(lambda: volumes(api) == {})
