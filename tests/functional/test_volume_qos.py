"""Cinder QoS specs in-process: CRUD, keys, associations with volume types and the
front-end specs in an attachment's connection info (cinder/api/contrib/qos_specs_manage.py)."""

from __future__ import annotations

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}


def _create(api, name="q", **specs):
    resp = api.post("volume", "/v3/qos-specs", {"qos_specs": {"name": name, **specs}})
    assert resp.status == 200, resp
    return resp.json


def test_qos_crud_and_keys(api, demo):
    body = _create(api, "gold", consumer="front-end", read_iops_sec="2000")
    spec = body["qos_specs"]
    assert spec == {"id": spec["id"], "name": "gold", "consumer": "front-end",
                    "specs": {"read_iops_sec": "2000"}}
    assert body["links"][0]["href"].endswith(f"/qos-specs/{spec['id']}")
    assert _create(api, "plain")["qos_specs"]["consumer"] == "back-end"
    dup = api.post("volume", "/v3/qos-specs", {"qos_specs": {"name": "gold"}})
    assert dup.status == 409, dup
    bad = api.post("volume", "/v3/qos-specs", {"qos_specs": {"name": "x", "consumer": "me"}})
    assert bad.status == 400 and bad.json["badRequest"]["message"] == \
        "Invalid qos specs: Valid consumer of QoS specs are: ['back-end', 'front-end', 'both']"
    assert demo.get("volume", "/v3/qos-specs").status == 403
    listed = api.get("volume", "/v3/qos-specs").json["qos_specs"]
    assert spec in listed and len(listed) == 2
    url = f"/v3/qos-specs/{spec['id']}"
    resp = api.put("volume", url, {"qos_specs": {"iops_bytes": "500"}})
    assert resp.status == 200 and resp.json == {"qos_specs": {"iops_bytes": "500"}}
    assert api.get("volume", url).json["qos_specs"]["specs"] == {
        "read_iops_sec": "2000", "iops_bytes": "500"}
    assert api.put("volume", f"{url}/delete_keys", {"keys": ["iops_bytes"]}).status == 202
    gone = api.put("volume", f"{url}/delete_keys", {"keys": ["iops_bytes"]})
    assert gone.status == 404 and gone.json["itemNotFound"]["message"] == \
        f"QoS spec {spec['id']} has no spec with key iops_bytes."
    assert api.delete("volume", url).status == 202
    missing = api.get("volume", url)
    assert missing.status == 404 and missing.json["itemNotFound"]["message"] == \
        f"No such QoS spec {spec['id']}."


def test_associations_and_connection_info(cloud, api):
    spec = _create(api, "fe", consumer="front-end", total_iops_sec="100")["qos_specs"]
    other = _create(api, "be")["qos_specs"]
    types = [api.post("volume", "/v3/types", {"volume_type": {"name": f"t{i}"}}
                      ).json["volume_type"] for i in range(3)]
    url = f"/v3/qos-specs/{spec['id']}"
    for t in types:
        assert api.get("volume", f"{url}/associate?vol_type_id={t['id']}").status == 202
    assert api.get("volume", f"{url}/associate").json["badRequest"]["message"] == \
        "Volume Type id must not be None."
    taken = api.get("volume", f"/v3/qos-specs/{other['id']}/associate"
                              f"?vol_type_id={types[0]['id']}")
    assert taken.status == 400 and taken.json["badRequest"]["message"] == (
        f"Invalid volume type: Type {types[0]['id']} is already associated with another qos "
        f"specs: {spec['id']}")
    assocs = api.get("volume", f"{url}/associations").json["qos_associations"]
    assert sorted(a["id"] for a in assocs) == sorted(t["id"] for t in types)
    assert assocs[0]["association_type"] == "volume_type"
    shown = api.get("volume", f"/v3/types/{types[0]['id']}").json["volume_type"]
    assert shown["qos_specs_id"] == spec["id"]
    # the front-end specs reach the attachment's connection info
    vol = api.post("volume", "/v3/volumes", {"volume": {"size": 1, "volume_type": "t0"}},
                   headers=MV).json["volume"]
    settle(cloud)
    att = api.post("volume", "/v3/attachments", {"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": "11111111-2222-3333-4444-555555555555",
        "connector": {"host": "h", "initiator": "iqn.x"}}}, headers=MV)
    assert att.status == 200, att
    assert att.json["attachment"]["connection_info"]["qos_specs"] == {"total_iops_sec": "100"}
    in_use = api.delete("volume", url)
    assert in_use.status == 400 and in_use.json["badRequest"]["message"] == \
        "Qos specs still in use."
    assert api.get("volume", f"{url}/disassociate?vol_type_id={types[0]['id']}").status == 202
    assert len(api.get("volume", f"{url}/associations").json["qos_associations"]) == 2
    assert api.get("volume", f"{url}/disassociate_all").status == 202
    assert api.get("volume", f"{url}/associations").json["qos_associations"] == []
    forced = _create(api, "forced")["qos_specs"]
    api.get("volume", f"/v3/qos-specs/{forced['id']}/associate?vol_type_id={types[1]['id']}")
    assert api.delete("volume", f"/v3/qos-specs/{forced['id']}?force=true").status == 202
    assert api.get("volume", f"/v3/types/{types[1]['id']}").json["volume_type"][
        "qos_specs_id"] is None
