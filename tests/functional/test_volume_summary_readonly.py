"""Cinder volumes/summary (3.12, metadata from 3.36) and the readonly admin metadata flag
(cinder/api/v3/volumes.py summary, cinder/volume/api.py update_readonly_flag and attach,
cinder/api/api_utils.py add_visible_admin_metadata)."""

from __future__ import annotations

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}
SERVER = "3b8b6631-1cf7-4fd7-9afb-c01e541a3450"
CONNECTOR = {"host": "controller3", "initiator": "iqn.1993-08.org.debian:01:abc"}


def new_volume(cloud, client, **kw) -> str:
    resp = client.post("volume", "/v3/volumes", {"volume": {"size": 1, **kw}}, headers=MV)
    assert resp.status == 202, resp
    settle(cloud)
    return resp.json["volume"]["id"]


def summary(client, version="3.71", query=""):
    return client.get("volume", f"/v3/volumes/summary{query}",
                      headers={"OpenStack-API-Version": f"volume {version}"})


def test_summary_counts_sizes_and_merges_metadata(cloud, api, demo):
    new_volume(cloud, api, size=1, metadata={"env": "prod", "tier": "a"})
    new_volume(cloud, api, size=2, metadata={"env": "dev"})
    new_volume(cloud, demo, size=3, metadata={"env": "test"})
    body = summary(api).json["volume-summary"]
    assert body["total_count"] == 2 and body["total_size"] == 3
    assert sorted(body["metadata"]["env"]) == ["dev", "prod"]
    assert body["metadata"]["tier"] == ["a"]
    assert summary(api, "3.35").json == {"volume-summary": {"total_count": 2, "total_size": 3}}
    everyone = summary(api, query="?all_tenants=1").json["volume-summary"]
    assert (everyone["total_count"], everyone["total_size"]) == (3, 6)
    assert sorted(everyone["metadata"]["env"]) == ["dev", "prod", "test"]
    # all_tenants means nothing for a non-admin.
    mine = summary(demo, query="?all_tenants=1").json["volume-summary"]
    assert mine == {"total_count": 1, "total_size": 3, "metadata": {"env": ["test"]}}


def test_summary_needs_3_12(api):
    assert summary(api, "3.11").status == 404
    assert summary(api, "3.12").json == {"volume-summary": {"total_count": 0,
                                                           "total_size": 0}}


def test_readonly_flag_shows_in_metadata_and_drives_the_attach_mode(cloud, api, demo):
    vid = new_volume(cloud, demo)
    url = f"/v3/volumes/{vid}/action"
    for flag in (True, False, "true"):
        resp = demo.post("volume", url, {"os-update_readonly_flag": {"readonly": flag}})
        assert resp.status == 202, resp
        shown = demo.get("volume", f"/v3/volumes/{vid}").json["volume"]
        # tempest test_volume_readonly_update: Cinder shows str(bool).
        assert shown["metadata"]["readonly"] == ("True" if flag in (True, "true") else "False")
    listed = api.get("volume", "/v3/volumes/detail?all_tenants=1").json["volumes"]
    assert next(v for v in listed if v["id"] == vid)["metadata"] == {"readonly": "True"}
    # the user's own metadata API does not hold admin metadata
    assert demo.get("volume", f"/v3/volumes/{vid}/metadata").json == {"metadata": {}}
    resp = demo.post("volume", url, {"os-attach": {"instance_uuid": SERVER,
                                                   "mountpoint": "/dev/vdb", "mode": "rw"}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == \
        f"Invalid attaching mode 'rw' for volume {vid}."
    att = demo.post("volume", "/v3/attachments", {"attachment": {
        "volume_uuid": vid, "instance_uuid": SERVER, "connector": CONNECTOR}}, headers=MV)
    assert att.status == 200, att
    assert att.json["attachment"]["attach_mode"] == "ro"
    assert att.json["attachment"]["connection_info"]["access_mode"] == "ro"
    settle(cloud)
    resp = demo.post("volume", url, {"os-update_readonly_flag": {"readonly": False}})
    assert resp.status == 400
    status = demo.get("volume", f"/v3/volumes/{vid}").json["volume"]["status"]
    assert resp.json["badRequest"]["message"] == (
        f"Invalid volume: Volume {vid} status must be available to update readonly flag, "
        f"but current status is: {status}.")


def test_readonly_flag_validation(cloud, api):
    vid = new_volume(cloud, api)
    url = f"/v3/volumes/{vid}/action"
    resp = api.post("volume", url, {"os-update_readonly_flag": {}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == \
        "Invalid input for field/attribute os-update_readonly_flag. Value: {}. " \
        "'readonly' is a required property"
    resp = api.post("volume", url, {"os-update_readonly_flag": {"readonly": "maybe"}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"].startswith(
        "Invalid input for field/attribute readonly. Value: maybe. 'maybe' is not one of")
