"""Cinder v3 bodies and errors that tempest checks against real Cinder's behaviour:
services (host filter, freeze/thaw, enable/disable bodies), snapshot and volume views per
action, pagination links, private types, image metadata actions, empty ids."""

from __future__ import annotations

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}


def _volume(cloud, api, **extra) -> str:
    resp = api.post("volume", "/v3/volumes", {"volume": {"size": 1, **extra}}, headers=MV)
    assert resp.status == 202, resp
    settle(cloud)
    return resp.json["volume"]["id"]


# -- os-services -------------------------------------------------------------------------


def test_services_host_filter_matches_backends_of_the_host(cloud, api):
    rows = api.get("volume", "/v3/os-services").json["services"]
    hosts = {r["binary"]: r["host"] for r in rows}
    plain = hosts["cinder-scheduler"]
    assert hosts["cinder-volume"].startswith(plain + "@")
    got = api.get("volume", f"/v3/os-services?host={plain}").json["services"]
    assert sorted(r["binary"] for r in got) == ["cinder-scheduler", "cinder-volume"]
    got = api.get("volume", f"/v3/os-services?host={plain}&binary=cinder-volume").json
    assert [r["binary"] for r in got["services"]] == ["cinder-volume"]
    got = api.get("volume", f"/v3/os-services?host={hosts['cinder-volume']}").json
    assert [r["binary"] for r in got["services"]] == ["cinder-volume"]
    assert api.get("volume", "/v3/os-services?host=nohost").json["services"] == []


def test_service_disable_enable_bodies(cloud, api):
    host = api.get("volume", "/v3/os-services?binary=cinder-scheduler").json[
        "services"][0]["host"]
    body = {"host": host, "binary": "cinder-scheduler"}
    resp = api.put("volume", "/v3/os-services/disable", body)
    assert resp.status == 200
    assert resp.json == {"host": host, "service": "", "binary": "cinder-scheduler",
                         "status": "disabled", "disabled": True}
    resp = api.put("volume", "/v3/os-services/disable-log-reason",
                   {**body, "disabled_reason": "maintenance"})
    assert resp.json["disabled_reason"] == "maintenance" and resp.json["service"] == ""
    row = api.get("volume", "/v3/os-services?binary=cinder-scheduler").json["services"][0]
    assert row["status"] == "disabled" and row["disabled_reason"] == "maintenance"
    resp = api.put("volume", "/v3/os-services/enable", body)
    assert resp.json["status"] == "enabled" and resp.json["disabled"] is False
    # the request schema: a null reason is a 400; an unknown binary/host a 404
    assert api.put("volume", "/v3/os-services/disable-log-reason",
                   {**body, "disabled_reason": None}).status == 400
    assert api.put("volume", "/v3/os-services/disable",
                   {"host": host, "binary": "invalid_binary"}).status == 404
    assert api.put("volume", "/v3/os-services/enable",
                   {"host": "invalid_host", "binary": "cinder-scheduler"}).status == 404


def test_freeze_and_thaw(cloud, api):
    for action in ("freeze", "thaw"):
        resp = api.put("volume", f"/v3/os-services/{action}", {"host": "invalid_host"})
        assert resp.status == 400, resp
    vol = api.get("volume", "/v3/os-services?binary=cinder-volume").json["services"][0]
    plain = vol["host"].split("@")[0]
    assert api.put("volume", "/v3/os-services/freeze", {"host": plain}).status == 200
    row = api.get("volume", "/v3/os-services?binary=cinder-volume").json["services"][0]
    assert row["frozen"] is True
    assert api.put("volume", "/v3/os-services/thaw", {"host": plain}).status == 200
    row = api.get("volume", "/v3/os-services?binary=cinder-volume").json["services"][0]
    assert row["frozen"] is False


# -- views per action ----------------------------------------------------------------------


def test_snapshot_create_and_update_have_no_extended_attributes(cloud, api):
    vid = _volume(cloud, api)
    resp = api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vid}})
    assert resp.status == 202
    snap = resp.json["snapshot"]
    assert not any(k.startswith("os-extended-snapshot-attributes") for k in snap)
    settle(cloud)
    upd = api.put("volume", f"/v3/snapshots/{snap['id']}", {"snapshot": {"name": "n"}}).json
    assert not any(k.startswith("os-extended-snapshot-attributes") for k in upd["snapshot"])
    shown = api.get("volume", f"/v3/snapshots/{snap['id']}").json["snapshot"]
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == api.project_id


def test_volume_update_has_no_extension_attributes(cloud, api):
    vid = _volume(cloud, api)
    body = api.put("volume", f"/v3/volumes/{vid}", {"volume": {"name": "x"}}).json["volume"]
    assert body["name"] == "x"
    assert "os-vol-tenant-attr:tenant_id" not in body
    assert "os-vol-tenant-attr:tenant_id" in api.get("volume", f"/v3/volumes/{vid}").json[
        "volume"]


def test_snapshot_create_volume_id_rules(cloud, api):
    resp = api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": None}})
    assert resp.status == 404, resp
    resp = api.post("volume", "/v3/snapshots", {"snapshot": {"name": "x"}})
    assert resp.status == 400, resp


def test_snapshot_list_invalid_sort_key(cloud, api):
    assert api.get("volume", "/v3/snapshots?sort_key=invalid").status == 400
    assert api.get("volume", "/v3/snapshots?sort_key=created_at").status == 200


def test_full_page_gets_a_next_link(cloud, api):
    vid = _volume(cloud, api)
    page = api.get("volume", "/v3/volumes?limit=1").json
    assert [v["id"] for v in page["volumes"]] == [vid]
    nxt = page["volumes_links"][0]
    assert nxt["rel"] == "next" and f"marker={vid}" in nxt["href"]
    last = api.get("volume", f"/v3/volumes?limit=1&marker={vid}").json
    assert last["volumes"] == [] and "volumes_links" not in last


def test_empty_volume_id_is_404(cloud, api):
    _volume(cloud, api)
    assert api.get("volume", "/v3/volumes/").status == 404
    assert api.put("volume", "/v3/volumes/", {"volume": {"name": "a"}}).status == 404
    assert api.delete("volume", "/v3/volumes/").status == 404
    assert api.get("volume", "/v3/volumes").status == 200


def test_private_type_is_not_found_for_members(cloud, api, demo):
    resp = api.post("volume", "/v3/types", {"volume_type": {
        "name": "private", "os-volume-type-access:is_public": False}})
    assert resp.status == 200, resp
    tid = resp.json["volume_type"]["id"]
    resp = demo.post("volume", "/v3/volumes", {"volume": {"size": 1, "volume_type": tid}})
    assert resp.status == 404, resp
    assert demo.get("volume", f"/v3/types/{tid}").status == 404
    assert api.get("volume", f"/v3/types/{tid}").status == 200


def test_image_metadata_actions(cloud, api):
    vid = _volume(cloud, api)
    url = f"/v3/volumes/{vid}/action"
    resp = api.post("volume", url, {"os-set_image_metadata": {
        "metadata": {"kernel_id": "k", "ramdisk_id": "r"}}})
    assert resp.status == 200 and resp.json == {"metadata": {"kernel_id": "k",
                                                             "ramdisk_id": "r"}}
    assert api.post("volume", url, {"os-unset_image_metadata": {"key": "ramdisk_id"}}
                    ).status == 200
    assert api.post("volume", url, {"os-unset_image_metadata": {"key": "nope"}}
                    ).status == 404
    shown = api.post("volume", url, {"os-show_image_metadata": {}})
    assert shown.json == {"metadata": {"kernel_id": "k"}}
    vol = api.get("volume", f"/v3/volumes/{vid}").json["volume"]
    assert vol["volume_image_metadata"] == {"kernel_id": "k"}


def test_volume_type_encryption_crud(cloud, api):
    tid = api.post("volume", "/v3/types", {"volume_type": {"name": "enc"}}).json[
        "volume_type"]["id"]
    base = f"/v3/types/{tid}/encryption"
    assert api.get("volume", base).json == {}
    spec = {"provider": "luks", "key_size": 256, "cipher": "aes-xts-plain64",
            "control_location": "front-end"}
    resp = api.post("volume", base, {"encryption": spec})
    assert resp.status == 200, resp
    enc = resp.json["encryption"]
    assert set(enc) == {"volume_type_id", "encryption_id", *spec}
    assert api.post("volume", base, {"encryption": spec}).status == 400   # exists
    shown = api.get("volume", base).json
    assert shown["encryption_id"] == enc["encryption_id"] and shown["deleted"] is False
    upd = {"key_size": 128, "provider": "other", "control_location": "back-end"}
    resp = api.put("volume", f"{base}/{enc['encryption_id']}", {"encryption": upd})
    assert resp.status == 200 and resp.json == {"encryption": upd}
    assert api.get("volume", f"{base}/cipher").json == {"cipher": "aes-xts-plain64"}
    assert api.get("volume", f"{base}/key_size").json == {"key_size": 128}
    assert api.delete("volume", f"{base}/{enc['encryption_id']}").status == 202
    assert api.get("volume", base).json == {}
    missing = "/v3/types/00000000-0000-0000-0000-000000000000/encryption"
    assert api.post("volume", missing, {"encryption": spec}).status == 404


def test_update_snapshot_status(cloud, api, demo):
    vid = _volume(cloud, demo)
    sid = demo.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vid}}).json[
        "snapshot"]["id"]
    settle(cloud)
    url = f"/v3/snapshots/{sid}/action"
    # from available: not a status this action may change
    assert demo.post("volume", url, {"os-update_snapshot_status": {"status": "error"}}
                     ).status == 400
    assert api.post("volume", url, {"os-reset_status": {"status": "creating"}}).status == 202
    assert demo.post("volume", url, {"os-update_snapshot_status": {
        "status": "deleting"}}).status == 400
    resp = demo.post("volume", url, {"os-update_snapshot_status": {"status": "error",
                                                                   "progress": "80%"}})
    assert resp.status == 202, resp
    snap = api.get("volume", f"/v3/snapshots/{sid}").json["snapshot"]
    assert snap["status"] == "error"
    assert snap["os-extended-snapshot-attributes:progress"] == "80%"


def test_retype_on_the_same_backend(cloud, api):
    def new_type(name, **specs):
        return api.post("volume", "/v3/types", {"volume_type": {
            "name": name, "extra_specs": specs}}).json["volume_type"]["id"]

    t1 = new_type("t1", storage_protocol="file")
    t2 = new_type("t2", storage_protocol="file", vendor_name="stackling")
    t3 = new_type("t3", storage_protocol="iSCSI")
    vid = _volume(cloud, api, volume_type=t1)
    url = f"/v3/volumes/{vid}/action"
    assert api.post("volume", url, {"os-retype": {"new_type": t1}}).status == 400
    assert api.post("volume", url, {"os-retype": {"new_type": "nope"}}).status == 404
    assert api.post("volume", url, {"os-retype": {}}).status == 400
    assert api.post("volume", url, {"os-retype": {"new_type": t2}}).status == 202
    settle(cloud)
    vol = api.get("volume", f"/v3/volumes/{vid}", headers=MV).json["volume"]
    assert vol["volume_type"] == "t2" and vol["status"] == "available"
    quota = api.get("volume", f"/v3/os-quota-sets/{api.project_id}?usage=true").json[
        "quota_set"]
    assert quota["volumes_t2"]["in_use"] == 1 and quota["volumes_t1"]["in_use"] == 0
    # no backend offers iSCSI: accepted, unchanged, and a user message says why
    assert api.post("volume", url, {"os-retype": {"new_type": t3}}).status == 202
    settle(cloud)
    vol = api.get("volume", f"/v3/volumes/{vid}").json["volume"]
    assert vol["volume_type"] == "t2" and vol["status"] == "available"
    quota = api.get("volume", f"/v3/os-quota-sets/{api.project_id}?usage=true").json[
        "quota_set"]
    assert quota["volumes_t3"]["in_use"] == 0 and quota["volumes_t3"]["reserved"] == 0
    msgs = api.get("volume", "/v3/messages", headers=MV).json["messages"]
    assert any(m["resource_uuid"] == vid for m in msgs)


def test_volume_transfer_moves_volume_and_quota(cloud, api, demo):
    vid = _volume(cloud, demo)
    resp = demo.post("volume", "/v3/os-volume-transfer", {"transfer": {"volume_id": vid,
                                                                       "name": "t"}})
    assert resp.status == 202, resp
    tr = resp.json["transfer"]
    assert set(tr) == {"id", "name", "volume_id", "links", "created_at", "auth_key"}
    assert demo.get("volume", f"/v3/volumes/{vid}").json["volume"]["status"] == \
        "awaiting-transfer"
    listed = demo.get("volume", "/v3/os-volume-transfer").json["transfers"]
    assert [t["id"] for t in listed] == [tr["id"]] and "created_at" not in listed[0]
    url = f"/v3/os-volume-transfer/{tr['id']}/accept"
    assert api.post("volume", url, {"accept": {"auth_key": "wrong"}}).status == 400

    def used(client, project):
        return api.get("volume", f"/v3/os-quota-sets/{project}?usage=true").json[
            "quota_set"]["volumes"]["in_use"]

    before = (used(api, demo.project_id), used(api, api.project_id))
    resp = api.post("volume", url, {"accept": {"auth_key": tr["auth_key"]}})
    assert resp.status == 202, resp
    assert set(resp.json["transfer"]) == {"id", "name", "volume_id", "links"}
    vol = api.get("volume", f"/v3/volumes/{vid}").json["volume"]
    assert vol["status"] == "available"
    assert vol["os-vol-tenant-attr:tenant_id"] == api.project_id
    assert (used(api, demo.project_id), used(api, api.project_id)) == \
        (before[0] - 1, before[1] + 1)
    assert demo.get("volume", f"/v3/os-volume-transfer/{tr['id']}").status == 404


def test_volume_transfer_delete_restores_status(cloud, demo):
    vid = _volume(cloud, demo)
    tr = demo.post("volume", "/v3/os-volume-transfer", {"transfer": {"volume_id": vid}}
                   ).json["transfer"]
    assert demo.delete("volume", f"/v3/volumes/{vid}").status == 400
    assert demo.delete("volume", f"/v3/os-volume-transfer/{tr['id']}").status == 202
    assert demo.get("volume", f"/v3/volumes/{vid}").json["volume"]["status"] == "available"


def test_snapshot_metadata_crud(cloud, api):
    vid = _volume(cloud, api)
    sid = api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vid}}).json[
        "snapshot"]["id"]
    settle(cloud)
    base = f"/v3/snapshots/{sid}/metadata"
    resp = api.post("volume", base, {"metadata": {"a": "1", "b": "2"}})
    assert resp.status == 200 and resp.json == {"metadata": {"a": "1", "b": "2"}}
    assert api.put("volume", base, {"metadata": {"c": "3"}}).json == {"metadata": {"c": "3"}}
    assert api.put("volume", f"{base}/c", {"meta": {"c": "4"}}).json == {"meta": {"c": "4"}}
    assert api.put("volume", f"{base}/c", {"meta": {"d": "4"}}).status == 400
    assert api.get("volume", f"{base}/c").json == {"meta": {"c": "4"}}
    assert api.delete("volume", f"{base}/c").status == 200
    assert api.get("volume", f"{base}/c").status == 404
    assert api.get("volume", base).json == {"metadata": {}}


def test_admin_lists_one_project_with_all_tenants(cloud, api, demo):
    mine = _volume(cloud, api)
    theirs = _volume(cloud, demo)
    got = api.get("volume", f"/v3/volumes/detail?all_tenants=1&project_id={demo.project_id}"
                  ).json["volumes"]
    assert [v["id"] for v in got] == [theirs]
    got = api.get("volume", "/v3/volumes?all_tenants=1").json["volumes"]
    assert {mine, theirs} <= {v["id"] for v in got}


def test_private_type_access(cloud, api, demo):
    demo.token  # log in so that project_id is known
    tid = api.post("volume", "/v3/types", {"volume_type": {
        "name": "shared", "os-volume-type-access:is_public": False}}).json["volume_type"]["id"]
    url = f"/v3/types/{tid}/action"
    assert api.get("volume", f"/v3/types/{tid}/os-volume-type-access").json == {
        "volume_type_access": []}
    assert api.post("volume", url, {"addProjectAccess": {"project": demo.project_id}}
                    ).status == 202
    assert api.post("volume", url, {"addProjectAccess": {"project": demo.project_id}}
                    ).status == 409
    assert api.get("volume", f"/v3/types/{tid}/os-volume-type-access").json == {
        "volume_type_access": [{"volume_type_id": tid, "project_id": demo.project_id}]}
    assert tid in [t["id"] for t in demo.get("volume", "/v3/types").json["volume_types"]]
    assert demo.get("volume", f"/v3/types/{tid}").status == 200
    resp = demo.post("volume", "/v3/volumes", {"volume": {"size": 1, "volume_type": tid}})
    assert resp.status == 202, resp
    assert demo.post("volume", url, {"removeProjectAccess": {"project": "x"}}).status == 403
    assert api.post("volume", url, {"removeProjectAccess": {"project": demo.project_id}}
                    ).status == 202
    assert api.post("volume", url, {"removeProjectAccess": {"project": demo.project_id}}
                    ).status == 404
    assert demo.get("volume", f"/v3/types/{tid}").status == 404
    public = api.get("volume", "/v3/types").json["volume_types"][0]["id"]
    assert api.post("volume", f"/v3/types/{public}/action",
                    {"addProjectAccess": {"project": "p"}}).status == 400
    assert tid not in [t["id"] for t in api.get("volume", "/v3/types").json["volume_types"]]
    assert tid in [t["id"] for t in api.get("volume", "/v3/types?is_public=None").json[
        "volume_types"]]
