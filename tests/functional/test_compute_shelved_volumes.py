"""Volumes attached to and detached from a shelved-offloaded server (2.20+, nova's
``_attach_volume_shelved_offloaded`` / ``_detach_volume_shelved_offloaded``): no host,
so the API does the Cinder part; unshelve connects the volume on the new host."""

from __future__ import annotations

from tests.functional.test_bfv import make, upload_image, v
from tests.functional.test_compute_snapshots import _boot_image_backed
from tests.functional.test_volume_attachments import MV, new_volume, vol
from tests.helpers import settle


def _offloaded(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api))
    assert api.post("compute", f"/v2.1/servers/{sid}/action", {"shelve": None},
                    headers=v("2.100")).status == 202
    settle(cloud)
    shown = api.get("compute", f"/v2.1/servers/{sid}", headers=v("2.100")).json["server"]
    assert shown["status"] == "SHELVED_OFFLOADED" and shown["OS-EXT-SRV-ATTR:host"] is None
    return cloud, api, sid


def _attach(api, sid, vid, version="2.20"):
    return api.post("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                    {"volumeAttachment": {"volumeId": vid}}, headers=v(version))


def _attachment(api, sid, vid):
    return api.get("compute", f"/v2.1/servers/{sid}/os-volume_attachments/{vid}",
                   headers=v("2.20"))


def test_attach_while_offloaded_then_unshelve(cloud_factory):
    cloud, api, sid = _offloaded(cloud_factory)
    vid = new_volume(cloud, api)
    resp = _attach(api, sid, vid)
    assert resp.status == 200, resp
    assert resp.json["volumeAttachment"] == {"id": vid, "serverId": sid, "volumeId": vid,
                                             "device": None}
    volume = vol(api, vid)
    assert volume["status"] == "in-use"
    assert volume["attachments"][0]["server_id"] == sid
    assert "device" not in _attachment(api, sid, vid).json["volumeAttachment"]
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                      headers=v("2.100")).json["instanceActions"]
    assert actions[0]["action"] == "attach_volume"
    assert api.post("compute", f"/v2.1/servers/{sid}/action", {"unshelve": None},
                    headers=v("2.100")).status == 202
    settle(cloud)
    shown = api.get("compute", f"/v2.1/servers/{sid}", headers=v("2.100")).json["server"]
    assert shown["status"] == "ACTIVE"
    # Named and connected on the new host.
    assert _attachment(api, sid, vid).json["volumeAttachment"]["device"] == "/dev/vdb"
    attachments = api.get("volume", f"/v3/attachments?volume_id={vid}",
                          headers=MV).json["attachments"]
    assert [a["status"] for a in attachments] == ["attached"]
    assert vol(api, vid)["status"] == "in-use"


def test_detach_while_offloaded(cloud_factory):
    cloud, api, sid = _offloaded(cloud_factory)
    vid = new_volume(cloud, api)
    assert _attach(api, sid, vid, "2.79").status == 200
    resp = api.delete("compute", f"/v2.1/servers/{sid}/os-volume_attachments/{vid}",
                      headers=v("2.20"))
    assert resp.status == 202, resp
    assert vol(api, vid)["status"] == "available"
    assert _attachment(api, sid, vid).status == 404
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                      headers=v("2.100")).json["instanceActions"]
    assert [a["action"] for a in actions[:2]] == ["detach_volume", "attach_volume"]
    assert api.post("compute", f"/v2.1/servers/{sid}/action", {"unshelve": None},
                    headers=v("2.100")).status == 202
    settle(cloud)
    assert api.get("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                   headers=v("2.20")).json["volumeAttachments"] == []
