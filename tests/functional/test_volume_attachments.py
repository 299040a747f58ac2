"""Cinder attach/detach over HTTP: the attachments API, the legacy actions, the status
machine of reference 5.4, delete refusals, decisions and explain."""

from __future__ import annotations

import uuid

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}
# Cinder's refusal of a volume delete (cinder/volume/api.py, API.delete), as it renders it.
DELETE_REFUSED = ("Invalid volume: Volume status must be available or error or "
                  "error_restoring or error_extending or error_managing and must not be "
                  "migrating, attached, belong to a group, have snapshots, awaiting a "
                  "transfer, or be disassociated from snapshots after volume transfer.")
MV44 = {"OpenStack-API-Version": "volume 3.44"}
SERVER = "3b8b6631-1cf7-4fd7-9afb-c01e541a3450"
OTHER = "9d1b4e6c-7c56-4f4a-a31c-2f1b7e0c8a11"
CONNECTOR = {"host": "controller3", "initiator": "iqn.1993-08.org.debian:01:abc",
             "ip": "192.168.1.20", "platform": "x86_64", "os_type": "linux",
             "multipath": False, "mountpoint": "/dev/vdb"}


def new_volume(cloud, api, **kw) -> str:
    resp = api.post("volume", "/v3/volumes", {"volume": {"size": 1, **kw}}, headers=MV)
    assert resp.status == 202, resp
    settle(cloud)
    return resp.json["volume"]["id"]


def vol(api, vid) -> dict:
    return api.get("volume", f"/v3/volumes/{vid}", headers=MV).json["volume"]


def create_att(api, vid, server=SERVER, headers=MV, **extra):
    return api.post("volume", "/v3/attachments",
                    {"attachment": {"volume_uuid": vid, "instance_uuid": server, **extra}},
                    headers=headers)


def action(api, vid, body, headers=MV):
    return api.post("volume", f"/v3/volumes/{vid}/action", body, headers=headers)


def error(resp) -> str:
    return next(iter(resp.json.values()))["message"]


# -- new-style attach ------------------------------------------------------------------


def test_new_style_attach_and_detach_status_machine(cloud, api):
    vid = new_volume(cloud, api)
    resp = create_att(api, vid)
    assert resp.status == 200, resp
    att = resp.json["attachment"]
    assert att == {"id": att["id"], "status": "reserved", "instance": SERVER,
                   "volume_id": vid, "attached_at": "", "detached_at": "",
                   "attach_mode": "null", "connection_info": {}}
    assert vol(api, vid)["status"] == "reserved"
    assert vol(api, vid)["attachments"] == []

    resp = api.put("volume", f"/v3/attachments/{att['id']}",
                   {"attachment": {"connector": CONNECTOR}}, headers=MV)
    assert resp.status == 200, resp
    info = resp.json["attachment"]["connection_info"]
    path = cloud.rpc.endpoint("cinder-volume.controller2@file").driver.path(vid)
    assert info["driver_volume_type"] == "local"
    assert info["device_path"] == str(path) and path.exists()
    assert info["attachment_id"] == att["id"] and info["access_mode"] == "rw"
    assert info["enforce_multipath"] is False and info["encrypted"] is False
    v = vol(api, vid)
    assert v["status"] == "attaching" and v["attachments"] == []
    shown = api.get("volume", f"/v3/attachments/{att['id']}", headers=MV).json["attachment"]
    assert shown["status"] == "attaching" and shown["attach_mode"] == "rw"
    assert shown["attached_at"] != "" and shown["connection_info"] == info

    resp = api.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
                    headers=MV44)
    assert resp.status == 204 and resp.body == b""
    v = vol(api, vid)
    assert v["status"] == "in-use"
    [a] = v["attachments"]
    assert a["id"] == vid and a["attachment_id"] == att["id"] and a["volume_id"] == vid
    assert a["server_id"] == SERVER and a["device"] == "/dev/vdb"
    assert a["host_name"] == "controller3" and a["attached_at"]

    # detach via nova: begin_detaching, then attachment delete
    assert action(api, vid, {"os-begin_detaching": {}}).status == 202
    assert vol(api, vid)["status"] == "detaching"
    assert action(api, vid, {"os-roll_detaching": {}}).status == 202
    assert vol(api, vid)["status"] == "in-use"
    assert action(api, vid, {"os-begin_detaching": {}}).status == 202
    resp = api.delete("volume", f"/v3/attachments/{att['id']}", headers=MV)
    assert resp.status == 200 and resp.json == {"attachments": []}
    v = vol(api, vid)
    assert v["status"] == "available" and v["attachments"] == []
    assert api.get("volume", f"/v3/attachments/{att['id']}", headers=MV).status == 404


def test_server_delete_path_goes_straight_to_available(cloud, api):
    vid = new_volume(cloud, api)
    att = create_att(api, vid, connector=CONNECTOR).json["attachment"]
    # Cinder answers with the attachment as the API held it before connecting
    assert att["status"] == "reserved" and att["connection_info"]["driver_volume_type"]
    assert vol(api, vid)["status"] == "attaching"
    api.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
             headers=MV)
    assert vol(api, vid)["status"] == "in-use"
    resp = api.delete("volume", f"/v3/attachments/{att['id']}", headers=MV)
    assert resp.json == {"attachments": []}
    assert vol(api, vid)["status"] == "available"


def test_reserved_volume_stays_reserved_and_cannot_be_deleted(cloud, api):
    vid = new_volume(cloud, api)
    att = create_att(api, vid).json["attachment"]
    resp = api.delete("volume", f"/v3/volumes/{vid}")
    assert resp.status == 400
    assert error(resp) == DELETE_REFUSED
    # deleting the reserved attachment frees the volume (failed build, server delete)
    assert api.delete("volume", f"/v3/attachments/{att['id']}", headers=MV).status == 200
    assert vol(api, vid)["status"] == "available"
    assert api.delete("volume", f"/v3/volumes/{vid}").status == 202


def test_delete_refused_while_attaching_in_use_detaching(cloud, api):
    vid = new_volume(cloud, api)
    att = create_att(api, vid, connector=CONNECTOR).json["attachment"]
    for expected in ("attaching", "in-use", "detaching"):
        if expected == "in-use":
            api.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
                     headers=MV)
        if expected == "detaching":
            action(api, vid, {"os-begin_detaching": {}})
        assert vol(api, vid)["status"] == expected
        resp = api.delete("volume", f"/v3/volumes/{vid}")
        assert resp.status == 400 and error(resp) == DELETE_REFUSED


def test_delete_refused_with_snapshots(cloud, api):
    vid = new_volume(cloud, api)
    api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vid}}, headers=MV)
    settle(cloud)
    resp = api.delete("volume", f"/v3/volumes/{vid}")
    assert resp.status == 400 and error(resp) == DELETE_REFUSED


def test_reserve_rules_and_texts(cloud, api):
    vid = new_volume(cloud, api)
    create_att(api, vid)
    # another server: refused with the status text
    resp = create_att(api, vid, server=OTHER)
    assert resp.status == 400
    assert error(resp) == (f"Invalid volume: Volume {vid} status must be available or "
                           "downloading to reserve, but the current status is reserved.")
    # the same server again: accepted (live migration), status unchanged
    again = create_att(api, vid)
    assert again.status == 200 and vol(api, vid)["status"] == "reserved"
    atts = api.get("volume", f"/v3/attachments?volume_id={vid}", headers=MV).json
    assert len(atts["attachments"]) == 2
    assert set(atts["attachments"][0]) == {"id", "status", "instance", "volume_id"}
    # deleting one reserved attachment leaves the other: volume stays reserved
    resp = api.delete("volume", f"/v3/attachments/{again.json['attachment']['id']}",
                      headers=MV)
    assert [a["status"] for a in resp.json["attachments"]] == ["reserved"]
    assert vol(api, vid)["status"] == "reserved"


def test_in_use_non_multiattach_refused_for_another_instance(cloud, api):
    vid = new_volume(cloud, api)
    att = create_att(api, vid, connector=CONNECTOR).json["attachment"]
    api.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
             headers=MV)
    resp = create_att(api, vid, server=OTHER)
    assert resp.status == 400
    assert error(resp).endswith("to reserve, but the current status is in-use.")


def test_multiattach_volume_accepts_a_second_instance(cloud, api):
    t = api.post("volume", "/v3/types", {"volume_type": {
        "name": "multi", "extra_specs": {"multiattach": "<is> True"}}}).json["volume_type"]
    vid = new_volume(cloud, api, volume_type=t["id"])
    assert vol(api, vid)["multiattach"] is True
    a1 = create_att(api, vid, connector=CONNECTOR).json["attachment"]
    api.post("volume", f"/v3/attachments/{a1['id']}/action", {"os-complete": {}},
             headers=MV)
    a2 = create_att(api, vid, server=OTHER)
    assert a2.status == 200 and vol(api, vid)["status"] == "reserved"
    api.put("volume", f"/v3/attachments/{a2.json['attachment']['id']}",
            {"attachment": {"connector": {**CONNECTOR, "host": "other"}}}, headers=MV)
    api.post("volume", f"/v3/attachments/{a2.json['attachment']['id']}/action",
             {"os-complete": {}}, headers=MV)
    assert len(vol(api, vid)["attachments"]) == 2
    resp = api.delete("volume", f"/v3/attachments/{a1['id']}", headers=MV)
    assert [a["id"] for a in resp.json["attachments"]] == [a2.json["attachment"]["id"]]
    assert vol(api, vid)["status"] == "in-use"


def test_second_connector_on_a_non_multiattach_volume_refused(cloud, api):
    """A second attachment of the same instance is accepted (bug 1694530), but it cannot
    be connected while the first one is (Cinder's duplicate connector check)."""
    vid = new_volume(cloud, api)
    a1 = create_att(api, vid).json["attachment"]
    a2 = create_att(api, vid)
    assert a2.status == 200, a2
    # the first to connect goes on (the other attachment has no connection yet)
    resp = api.put("volume", f"/v3/attachments/{a1['id']}",
                   {"attachment": {"connector": CONNECTOR}}, headers=MV)
    assert resp.status == 200, resp
    resp = api.put("volume", f"/v3/attachments/{a2.json['attachment']['id']}",
                   {"attachment": {"connector": CONNECTOR}}, headers=MV)
    assert resp.status == 409
    assert error(resp) == f"Resource conflict: duplicate connectors detected on volume {vid}"


def test_error_volume_refused(cloud, api):
    vid = new_volume(cloud, api)
    action(api, vid, {"os-reset_status": {"status": "error"}})
    resp = create_att(api, vid)
    assert resp.status == 400
    assert error(resp) == ("Invalid volume: Volume attachments can not be created if the "
                           f"volume is in an error state. The Volume {vid} currently has a "
                           "status of: error ")


def test_update_on_error_volume_is_409(cloud, api):
    vid = new_volume(cloud, api)
    att = create_att(api, vid).json["attachment"]
    action(api, vid, {"os-reset_status": {"status": "error"}})
    resp = api.put("volume", f"/v3/attachments/{att['id']}",
                   {"attachment": {"connector": CONNECTOR}}, headers=MV)
    assert resp.status == 409
    assert error(resp).startswith("Resource conflict: Volume attachments can not be updated")


def test_mode_argument_and_validation(cloud, api):
    vid = new_volume(cloud, api)
    resp = create_att(api, vid, headers={"OpenStack-API-Version": "volume 3.53"}, mode="ro")
    assert resp.status == 400
    assert "Additional properties are not allowed ('mode' was unexpected)" in error(resp)
    resp = create_att(api, vid, mode="xx")
    assert resp.status == 400
    assert error(resp) == ("Invalid input for field/attribute mode. Value: xx. 'xx' is not "
                           "one of ['rw', 'ro']")
    resp = api.post("volume", "/v3/attachments", {"attachment": {"volume_uuid": "nope"}},
                    headers=MV)
    assert error(resp) == ("Invalid input for field/attribute volume_uuid. Value: nope. "
                           "'nope' is not a 'uuid'")
    resp = api.post("volume", "/v3/attachments", {"attachment": {}}, headers=MV)
    assert "'volume_uuid' is a required property" in error(resp)
    missing = str(uuid.uuid4())
    resp = create_att(api, missing)
    assert resp.status == 404 and error(resp) == f"Volume {missing} could not be found."
    att = create_att(api, vid, mode="ro").json["attachment"]
    assert att["attach_mode"] == "ro"
    api.put("volume", f"/v3/attachments/{att['id']}",
            {"attachment": {"connector": CONNECTOR}}, headers=MV)
    shown = api.get("volume", f"/v3/attachments/{att['id']}", headers=MV).json["attachment"]
    assert shown["attach_mode"] == "ro"
    resp = api.put("volume", f"/v3/attachments/{att['id']}",
                   {"attachment": {"connector": {}}}, headers=MV)
    assert resp.status == 400


def test_microversions_and_not_found(cloud, api):
    vid = new_volume(cloud, api)
    old = {"OpenStack-API-Version": "volume 3.26"}
    assert create_att(api, vid, headers=old).status == 404
    assert api.get("volume", "/v3/attachments", headers=old).status == 404
    att = create_att(api, vid, headers={"OpenStack-API-Version": "volume 3.27"})
    assert att.status == 200
    aid = att.json["attachment"]["id"]
    resp = api.post("volume", f"/v3/attachments/{aid}/action", {"os-complete": {}},
                    headers={"OpenStack-API-Version": "volume 3.43"})
    assert resp.status == 404
    missing = str(uuid.uuid4())
    resp = api.get("volume", f"/v3/attachments/{missing}", headers=MV)
    assert resp.status == 404
    assert error(resp) == ("Volume attachment could not be found with filter: "
                           f"attachment_id = {missing}.")
    detail = api.get("volume", "/v3/attachments/detail", headers=MV).json["attachments"]
    assert detail[0]["attach_mode"] == "null" and detail[0]["detached_at"] == ""


def test_other_project_cannot_see_attachments(cloud, api, demo):
    vid = new_volume(cloud, api)
    aid = create_att(api, vid).json["attachment"]["id"]
    assert demo.get("volume", f"/v3/attachments/{aid}", headers=MV).status == 404
    assert demo.get("volume", "/v3/attachments", headers=MV).json == {"attachments": []}
    assert create_att(demo, vid).status == 404


def test_member_sees_no_host_name(cloud, api, demo):
    vid = new_volume(cloud, demo)
    att = create_att(demo, vid, connector=CONNECTOR).json["attachment"]
    demo.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
              headers=MV)
    assert vol(demo, vid)["attachments"][0]["host_name"] is None
    assert vol(api, vid)["attachments"][0]["host_name"] == "controller3"
    listed = demo.get("volume", "/v3/volumes/detail", headers=MV).json["volumes"]
    assert listed[0]["attachments"][0]["attachment_id"] == att["id"]


# -- legacy actions --------------------------------------------------------------------


def test_legacy_2016_attach_and_detach(cloud, api):
    vid = new_volume(cloud, api)
    assert action(api, vid, {"os-reserve": {}}).status == 202
    assert vol(api, vid)["status"] == "attaching"
    resp = action(api, vid, {"os-reserve": {}})
    assert resp.status == 400
    assert error(resp) == ("Invalid volume: Volume status must be available to reserve, "
                           "but the status is attaching.")
    resp = action(api, vid, {"os-initialize_connection": {"connector": CONNECTOR}})
    assert resp.status == 200
    info = resp.json["connection_info"]
    assert info["driver_volume_type"] == "local"
    assert info["data"]["device_path"].endswith(f"volume-{vid}")
    assert info["data"]["access_mode"] == "rw" and info["enforce_multipath"] is False
    resp = action(api, vid, {"os-attach": {"instance_uuid": SERVER,
                                           "mountpoint": "/dev/vdb", "mode": "rw"}})
    assert resp.status == 202 and resp.body == b""
    v = vol(api, vid)
    assert v["status"] == "in-use" and v["attachments"][0]["server_id"] == SERVER
    aid = v["attachments"][0]["attachment_id"]
    # the legacy attachment is visible through the attachments API too
    shown = api.get("volume", f"/v3/attachments/{aid}", headers=MV).json["attachment"]
    assert shown["status"] == "attached" and shown["attach_mode"] == "rw"
    # a second instance on a non-multiattach volume
    resp = action(api, vid, {"os-attach": {"instance_uuid": OTHER, "mountpoint": "/dev/vdc"}})
    assert resp.status == 400
    assert error(resp) == ("Error attaching volume - InvalidVolume: Invalid volume: volume "
                           "is already attached and multiple attachments are not enabled")
    # 2016 detach: begin_detaching, terminate_connection, os-detach
    assert action(api, vid, {"os-begin_detaching": {}}).status == 202
    assert vol(api, vid)["status"] == "detaching"
    assert action(api, vid, {"os-terminate_connection": {"connector": CONNECTOR}}).status \
        == 202
    assert vol(api, vid)["status"] == "detaching"
    assert action(api, vid, {"os-detach": {"attachment_id": aid}}).status == 202
    v = vol(api, vid)
    assert v["status"] == "available" and v["attachments"] == []


def test_legacy_unreserve_and_begin_detaching_refusal(cloud, api):
    vid = new_volume(cloud, api)
    resp = action(api, vid, {"os-begin_detaching": {}})
    assert resp.status == 400
    assert error(resp) == ("Invalid volume: Unable to detach volume. Volume status must be "
                           "'in-use' and attach_status must be 'attached' to detach.")
    action(api, vid, {"os-reserve": {}})
    assert action(api, vid, {"os-unreserve": {}}).status == 202
    assert vol(api, vid)["status"] == "available"
    # roll_detaching and unreserve outside their states change nothing
    assert action(api, vid, {"os-roll_detaching": {}}).status == 202
    assert action(api, vid, {"os-unreserve": {}}).status == 202
    assert vol(api, vid)["status"] == "available"
    resp = action(api, vid, {"os-attach": {"mountpoint": "/dev/vdb"}})
    assert resp.status == 400
    # os-detach without attachment id on a volume with none: available
    assert action(api, vid, {"os-detach": None}).status == 202
    assert vol(api, vid)["status"] == "available"


def test_legacy_detach_needs_id_with_two_attachments(cloud, api):
    t = api.post("volume", "/v3/types", {"volume_type": {
        "name": "multi2", "extra_specs": {"multiattach": "<is> True"}}}).json["volume_type"]
    vid = new_volume(cloud, api, volume_type=t["id"])
    for server, dev in ((SERVER, "/dev/vdb"), (OTHER, "/dev/vdc")):
        assert action(api, vid, {"os-reserve": {}}).status == 202
        assert action(api, vid, {"os-attach": {"instance_uuid": server,
                                               "mountpoint": dev}}).status == 202
    assert len(vol(api, vid)["attachments"]) == 2
    resp = action(api, vid, {"os-detach": {}})
    assert resp.status == 400
    assert error(resp) == ("Error detaching volume - InvalidVolume: Invalid volume: Detach "
                           "volume failed: More than one attachment, but no attachment_id "
                           "provided.")
    first = vol(api, vid)["attachments"][0]["attachment_id"]
    action(api, vid, {"os-detach": {"attachment_id": first}})
    assert vol(api, vid)["status"] == "in-use"


def test_force_detach_is_admin_only(cloud, api, demo):
    vid = new_volume(cloud, demo)
    att = create_att(demo, vid, connector=CONNECTOR).json["attachment"]
    demo.post("volume", f"/v3/attachments/{att['id']}/action", {"os-complete": {}},
              headers=MV)
    body = {"os-force_detach": {"attachment_id": att["id"], "connector": CONNECTOR}}
    assert action(demo, vid, body).status == 403
    assert action(api, vid, body).status == 202
    assert vol(api, vid)["status"] == "available"


def test_reset_status_detached_drops_attachments(cloud, api):
    vid = new_volume(cloud, api)
    aid = create_att(api, vid).json["attachment"]["id"]
    action(api, vid, {"os-reset_status": {"status": "available",
                                          "attach_status": "detached"}})
    assert api.get("volume", f"/v3/attachments/{aid}", headers=MV).status == 404


def test_volume_delete_removes_attachment_rows(cloud, api):
    vid = new_volume(cloud, api)
    aid = create_att(api, vid).json["attachment"]["id"]
    assert action(api, vid, {"os-force_delete": {}}).status == 202
    settle(cloud)
    assert api.get("volume", f"/v3/attachments/{aid}", headers=MV).status == 404



def test_a_status_changed_while_connecting_is_not_overwritten(cloud, api, monkeypatch):
    """An admin's reset to ``error`` lands while cinder-volume exports the volume: the
    attachment update's compare-and-swap loses, answers 400 and leaves ``error``."""
    from stackling.volume.objects import volume as vol_obj

    vid = new_volume(cloud, api)
    att_id = create_att(api, vid).json["attachment"]["id"]
    real_call = cloud.rpc.call

    def call_then_reset(topic, method, **kwargs):
        result = real_call(topic, method, **kwargs)
        if method == "initialize_connection":
            vol_obj.set_status(cloud, vid, None, status="error")
        return result

    monkeypatch.setattr(cloud.rpc, "call", call_then_reset)
    resp = api.put("volume", f"/v3/attachments/{att_id}",
                   {"attachment": {"connector": CONNECTOR}}, headers=MV)
    assert resp.status == 400, resp
    assert error(resp) == f"Invalid volume: Volume {vid} status changed to error meanwhile."
    assert vol(api, vid)["status"] == "error"
