"""PUT /servers/{id}/os-volume_attachments/{volume_id} (swap / update, 2.85) and the
2.101 attach answer, with nova's own texts (api/openstack/compute/volume_attachments.py)."""

from __future__ import annotations

from tests.functional.test_compute_servers import boot, image, settled, v  # noqa: F401
from tests.helpers import ApiClient, settle

MISSING = "5f9a0b43-0000-4000-8000-000000000000"


def _volume(cloud, api) -> str:
    resp = api.post("volume", "/v3/volumes", {"volume": {"size": 1}})
    assert resp.status == 202, resp
    settle(cloud)
    return resp.json["volume"]["id"]


def _server_with_volume(cloud, api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    vid = _volume(cloud, api)
    resp = api.post("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                    {"volumeAttachment": {"volumeId": vid}}, headers=v("2.79"))
    assert resp.status == 200, resp
    settle(cloud)
    return sid, vid


def test_swap_answers_as_nova(cloud, api, image):  # noqa: F811
    sid, vid = _server_with_volume(cloud, api, image)
    other = _volume(cloud, api)
    path = f"/v2.1/servers/{sid}/os-volume_attachments"
    # tempest test_update_attached_volume_with_nonexistent_volume_in_uri
    missing = api.put("compute", f"{path}/{MISSING}", {"volumeAttachment": {"volumeId": vid}})
    assert missing.status == 404, missing
    assert missing.json == {"itemNotFound": {
        "code": 404, "message": f"Volume {MISSING} could not be found."}}
    # Nova swaps only for Cinder's migration or retype
    swap = api.put("compute", f"{path}/{vid}", {"volumeAttachment": {"volumeId": other}})
    assert swap.status == 409, swap
    assert swap.json["conflictingRequest"]["message"] == (
        f"volume {vid} is not migrating; this API should only be called by Cinder")
    no_server = api.put("compute", f"/v2.1/servers/{MISSING}/os-volume_attachments/{vid}",
                        {"volumeAttachment": {"volumeId": other}})
    assert no_server.status == 404
    bad = api.put("compute", f"{path}/{vid}", {"volumeAttachment": {}})
    assert bad.status == 400
    member = ApiClient(cloud, "demo", "demo")
    denied = member.put("compute", f"{path}/{vid}", {"volumeAttachment": {"volumeId": other}})
    assert denied.status == 404        # not the demo project's server


def test_update_delete_on_termination_at_285(cloud, api, image):  # noqa: F811
    sid, vid = _server_with_volume(cloud, api, image)
    path = f"/v2.1/servers/{sid}/os-volume_attachments/{vid}"
    old = api.put("compute", path, {"volumeAttachment": {"volumeId": vid,
                                                         "delete_on_termination": True}},
                  headers=v("2.84"))
    assert old.status == 400           # only volumeId before 2.85
    resp = api.put("compute", path, {"volumeAttachment": {"volumeId": vid,
                                                          "delete_on_termination": True}},
                   headers=v("2.85"))
    assert resp.status == 202, resp
    shown = api.get("compute", path, headers=v("2.85")).json["volumeAttachment"]
    assert shown["delete_on_termination"] is True
    device = api.put("compute", path, {"volumeAttachment": {"volumeId": vid,
                                                            "device": "/dev/vdz"}},
                     headers=v("2.85"))
    assert device.status == 400
    assert device.json["badRequest"]["message"] == "The device property is not mutable"


def test_attach_at_2101_is_202_without_body(cloud, api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    vid = _volume(cloud, api)
    resp = api.post("compute", f"/v2.1/servers/{sid}/os-volume_attachments",
                    {"volumeAttachment": {"volumeId": vid}}, headers=v("2.101"))
    assert resp.status == 202, resp
    assert resp.body == b""
    settle(cloud)
    assert api.get("volume", f"/v3/volumes/{vid}").json["volume"]["status"] == "in-use"
