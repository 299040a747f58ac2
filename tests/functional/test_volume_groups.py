"""Cinder generic volume groups over HTTP, in-process: group types and specs (3.11),
groups (3.13), group snapshots and groups from a source (3.14), reset status (3.19/3.20)."""

from __future__ import annotations

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}


def _type(api, name="gold"):
    return api.post("volume", "/v3/types", {"volume_type": {"name": name}}).json["volume_type"]


def _group_type(api, name="gt", **extra):
    resp = api.post("volume", "/v3/group_types", {"group_type": {"name": name, **extra}},
                    headers=MV)
    assert resp.status == 202, resp
    return resp.json["group_type"]


def _group(cloud, api, gtype, vtype, **extra):
    resp = api.post("volume", "/v3/groups", {"group": {
        "group_type": gtype["id"], "volume_types": [vtype["id"]], **extra}}, headers=MV)
    assert resp.status == 202, resp
    assert set(resp.json["group"]) == {"id", "name"}
    settle(cloud)
    return _show(api, resp.json["group"]["id"])


def _show(api, group_id):
    return api.get("volume", f"/v3/groups/{group_id}", headers=MV).json["group"]


def _volume(cloud, api, vtype, group):
    resp = api.post("volume", "/v3/volumes", {"volume": {
        "size": 1, "volume_type": vtype["id"], "group_id": group["id"]}}, headers=MV)
    assert resp.status == 202, resp
    assert resp.json["volume"]["group_id"] == group["id"]
    settle(cloud)
    return resp.json["volume"]


def test_group_types_and_specs(api, demo):
    assert api.get("volume", "/v3/group_types", headers={
        "OpenStack-API-Version": "volume 3.10"}).status == 404
    gt = _group_type(api, "a-type", description="d", is_public=True,
                     group_specs={"consistent_group_snapshot_enabled": "<is> False"})
    assert gt["group_specs"] == {"consistent_group_snapshot_enabled": "<is> False"}
    assert _group_type(api, "b-type", is_public=False)["is_public"] is False
    dup = api.post("volume", "/v3/group_types", {"group_type": {"name": "a-type"}}, headers=MV)
    assert dup.status == 409, dup
    assert next(iter(dup.json.values()))["message"] == \
        "Group Type a-type already exists."
    names = [t["name"] for t in api.get("volume", "/v3/group_types?is_public=None&sort=name:desc",
                                        headers=MV).json["group_types"]]
    assert names.index("b-type") < names.index("a-type")
    assert "default_cgsnapshot_type" in names          # seeded as Cinder's migration does
    public = [t["name"] for t in api.get("volume", "/v3/group_types?is_public=true",
                                         headers=MV).json["group_types"]]
    assert "a-type" in public and "b-type" not in public
    # non-admins see public types without their specs, and cannot create
    seen = demo.get("volume", f"/v3/group_types/{gt['id']}", headers=MV).json["group_type"]
    assert "group_specs" not in seen and seen["name"] == "a-type"
    assert demo.post("volume", "/v3/group_types", {"group_type": {"name": "x"}},
                     headers=MV).status == 403
    up = api.put("volume", f"/v3/group_types/{gt['id']}",
                 {"group_type": {"name": "renamed", "description": "new"}}, headers=MV)
    assert up.status == 200 and up.json["group_type"]["name"] == "renamed"
    assert api.put("volume", f"/v3/group_types/{gt['id']}", {"group_type": {}},
                   headers=MV).json["badRequest"]["message"] == \
        "Specify group type name, description or a combination thereof."
    default = api.get("volume", "/v3/group_types/default", headers=MV)
    assert default.status == 404 and default.json["itemNotFound"]["message"] == \
        "Default group type can not be found."
    # specs
    url = f"/v3/group_types/{gt['id']}/group_specs"
    resp = api.post("volume", url, {"group_specs": {"k1": "v1", "k2": "v2"}}, headers=MV)
    assert resp.status == 202 and resp.json == {"group_specs": {"k1": "v1", "k2": "v2"}}
    assert api.put("volume", f"{url}/k1", {"k1": "v1b"}, headers=MV).json == {"k1": "v1b"}
    mismatch = api.put("volume", f"{url}/k1", {"k2": "x"}, headers=MV)
    assert mismatch.status == 400 and mismatch.json["badRequest"]["message"] == \
        "Request body and URI mismatch"
    assert api.get("volume", f"{url}/k1", headers=MV).json == {"k1": "v1b"}
    assert api.delete("volume", f"{url}/k1", headers=MV).status == 202
    missing = api.get("volume", f"{url}/k1", headers=MV)
    assert missing.status == 404 and missing.json["itemNotFound"]["message"] == \
        f"Group Type {gt['id']} has no extra spec with key k1."
    assert api.delete("volume", f"/v3/group_types/{gt['id']}", headers=MV).status == 202
    assert api.get("volume", f"/v3/group_types/{gt['id']}", headers=MV).status == 404


def test_group_lifecycle_update_and_delete(cloud, api):
    vtype, gtype = _type(api), _group_type(api)
    group = _group(cloud, api, gtype, vtype, name=" g1 ")
    assert group["status"] == "available" and group["name"] == "g1"
    assert group["volume_types"] == [vtype["id"]] and group["group_type"] == gtype["id"]
    assert group["group_snapshot_id"] is None and "project_id" in group
    other = _type(api, "silver")
    bad = api.post("volume", "/v3/volumes", {"volume": {
        "size": 1, "volume_type": other["id"], "group_id": group["id"]}}, headers=MV)
    assert bad.status == 400 and "requested type must be supported by this group" in \
        bad.json["badRequest"]["message"]
    v1, v2 = _volume(cloud, api, vtype, group), _volume(cloud, api, vtype, group)
    listed = api.get("volume", f"/v3/groups/{group['id']}?list_volume=true",
                     headers=MV).json["group"]
    assert sorted(listed["volumes"]) == sorted([v1["id"], v2["id"]])
    # a volume in a group cannot be deleted on its own
    assert api.delete("volume", f"/v3/volumes/{v1['id']}").status == 400
    resp = api.put("volume", f"/v3/groups/{group['id']}", {"group": {
        "name": "new", "description": "d", "remove_volumes": v2["id"]}}, headers=MV)
    assert resp.status == 202, resp
    settle(cloud)
    group = _show(api, group["id"])
    assert (group["status"], group["name"], group["description"]) == ("available", "new", "d")
    vols = api.get("volume", "/v3/volumes/detail", headers=MV).json["volumes"]
    assert {v["id"]: v["group_id"] for v in vols} == {v1["id"]: group["id"], v2["id"]: None}
    again = api.put("volume", f"/v3/groups/{group['id']}",
                    {"group": {"remove_volumes": v2["id"]}}, headers=MV)
    assert again.status == 400 and again.json["badRequest"]["message"] == (
        f"Invalid volume: Cannot remove volume {v2['id']} from group {group['id']} because "
        "it is not in the group.")
    api.put("volume", f"/v3/groups/{group['id']}", {"group": {"add_volumes": v2["id"]}},
            headers=MV)
    settle(cloud)
    kept = api.post("volume", f"/v3/groups/{group['id']}/action",
                    {"delete": {"delete-volumes": False}}, headers=MV)
    assert kept.status == 400 and kept.json["badRequest"]["message"] == (
        f"Invalid Group: Group {group['id']} still contains volumes. The delete-volumes flag "
        "is required to delete it.")
    assert api.post("volume", f"/v3/groups/{group['id']}/action",
                    {"delete": {"delete-volumes": True}}, headers=MV).status == 202
    settle(cloud)
    assert api.get("volume", f"/v3/groups/{group['id']}", headers=MV).status == 404
    assert api.get("volume", "/v3/volumes", headers=MV).json["volumes"] == []
    assert api.get("volume", "/v3/groups/detail", headers=MV).json["groups"] == []


def test_group_snapshot_and_groups_from_sources(cloud, api):
    vtype, gtype = _type(api), _group_type(api)
    group = _group(cloud, api, gtype, vtype)
    vol = _volume(cloud, api, vtype, group)
    resp = api.post("volume", "/v3/group_snapshots", {"group_snapshot": {
        "group_id": group["id"], "name": "gs"}}, headers=MV)
    assert resp.status == 202, resp
    gsnap = resp.json["group_snapshot"]
    assert set(gsnap) == {"id", "name", "group_type_id"}
    settle(cloud)
    shown = api.get("volume", f"/v3/group_snapshots/{gsnap['id']}",
                    headers=MV).json["group_snapshot"]
    assert (shown["status"], shown["group_id"]) == ("available", group["id"])
    snaps = api.get("volume", "/v3/snapshots/detail", headers=MV).json["snapshots"]
    assert [(s["volume_id"], s["group_snapshot_id"], s["status"]) for s in snaps] == \
        [(vol["id"], gsnap["id"], "available")]
    # a member snapshot goes only with its group snapshot; a group with snapshots stays
    assert api.delete("volume", f"/v3/snapshots/{snaps[0]['id']}").status == 400
    busy = api.post("volume", f"/v3/groups/{group['id']}/action",
                    {"delete": {"delete-volumes": True}}, headers=MV)
    assert busy.json["badRequest"]["message"] == "Invalid Group: Group has existing snapshots."
    made = []
    for source in ({"group_snapshot_id": gsnap["id"]}, {"source_group_id": group["id"]}):
        resp = api.post("volume", "/v3/groups/action",
                        {"create-from-src": {"name": "copy", **source}}, headers=MV)
        assert resp.status == 202, resp
        settle(cloud)
        copy = _show(api, resp.json["group"]["id"])
        assert copy["status"] == "available" and copy["volume_types"] == [vtype["id"]]
        made.append(copy)
    assert made[0]["group_snapshot_id"] == gsnap["id"]
    assert made[1]["source_group_id"] == group["id"]
    vols = api.get("volume", "/v3/volumes/detail", headers=MV).json["volumes"]
    members = {v["group_id"]: v for v in vols}
    assert members[made[0]["id"]]["snapshot_id"] == snaps[0]["id"]
    assert members[made[1]["id"]]["source_volid"] == vol["id"]
    assert all(v["status"] == "available" for v in vols)
    # reset status (admin, 3.19 for group snapshots, 3.20 for groups)
    for status in ("creating", "error", "available"):
        assert api.post("volume", f"/v3/group_snapshots/{gsnap['id']}/action",
                        {"reset_status": {"status": status}}, headers=MV).status == 202
        assert api.post("volume", f"/v3/groups/{group['id']}/action",
                        {"reset_status": {"status": status}}, headers=MV).status == 202
        assert _show(api, group["id"])["status"] == status
    bad = api.post("volume", f"/v3/groups/{group['id']}/action",
                   {"reset_status": {"status": "bogus"}}, headers=MV)
    assert bad.status == 400
    assert api.delete("volume", f"/v3/group_snapshots/{gsnap['id']}", headers=MV).status == 202
    settle(cloud)
    assert api.get("volume", f"/v3/group_snapshots/{gsnap['id']}", headers=MV).status == 404
    assert api.get("volume", "/v3/snapshots", headers=MV).json["snapshots"] == []


def test_group_errors(cloud, api, demo):
    vtype, gtype = _type(api), _group_type(api)
    missing = api.post("volume", "/v3/groups", {"group": {
        "group_type": "nope", "volume_types": [vtype["id"]]}}, headers=MV)
    assert missing.status == 404 and missing.json["itemNotFound"]["message"] == \
        "Group type with name nope could not be found."
    noext = api.post("volume", "/v3/groups", {"group": {
        "group_type": gtype["id"], "volume_types": []}}, headers=MV)
    assert noext.status == 400
    cg = api.get("volume", "/v3/group_types?is_public=None", headers=MV).json["group_types"]
    cg_id = next(t["id"] for t in cg if t["name"] == "default_cgsnapshot_type")
    reserved = api.post("volume", "/v3/groups", {"group": {
        "group_type": cg_id, "volume_types": [vtype["id"]]}}, headers=MV)
    assert reserved.status == 400 and "is reserved for migrating CGs" in \
        reserved.json["badRequest"]["message"]
    group = _group(cloud, api, gtype, vtype)
    assert demo.get("volume", f"/v3/groups/{group['id']}", headers=MV).status == 404
    assert api.post("volume", f"/v3/groups/{group['id']}/action",
                    {"reset_status": {"status": "error"}},
                    headers={"OpenStack-API-Version": "volume 3.19"}).status == 404


def test_group_quota(cloud, api):
    vtype, gtype = _type(api), _group_type(api)
    api.put("volume", f"/v3/os-quota-sets/{api.project_id}", {"quota_set": {"groups": 1}})
    group = _group(cloud, api, gtype, vtype)
    over = api.post("volume", "/v3/groups", {"group": {
        "group_type": gtype["id"], "volume_types": [vtype["id"]]}}, headers=MV)
    assert over.status == 413, over
    assert over.json["overLimit"]["message"] == \
        "GroupLimitExceeded: Maximum number of groups allowed (1) exceeded"
    usage = api.get("volume", f"/v3/os-quota-sets/{api.project_id}?usage=true",
                    headers=MV).json["quota_set"]["groups"]
    assert usage["in_use"] == 1 and usage["reserved"] == 0
    api.post("volume", f"/v3/groups/{group['id']}/action", {"delete": {}}, headers=MV)
    settle(cloud)
    usage = api.get("volume", f"/v3/os-quota-sets/{api.project_id}?usage=true",
                    headers=MV).json["quota_set"]["groups"]
    assert usage["in_use"] == 0
