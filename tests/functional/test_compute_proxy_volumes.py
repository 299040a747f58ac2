"""/os-volumes and /os-snapshots: Nova's proxies to Cinder, gone (404) from 2.36."""

from __future__ import annotations

from tests.helpers import wait_for

OLD = {"OpenStack-API-Version": "compute 2.35"}


def _wait(client, path, key, status):
    def ready():
        body = client.get("compute", path, headers=OLD).json[key]
        return body if body["status"] == status else None
    return wait_for(ready, timeout=20)


def test_volume_and_snapshot_proxies(demo):
    resp = demo.post("compute", "/v2.1/os-volumes",
                     {"volume": {"size": 1, "display_name": "v1",
                                 "metadata": {"a": "b"}}}, headers=OLD)
    assert resp.status == 200, resp
    vol = resp.json["volume"]
    assert vol["displayName"] == "v1" and vol["attachments"] == [{}]
    assert set(vol) == {"id", "status", "size", "availabilityZone", "createdAt",
                        "attachments", "displayName", "displayDescription", "volumeType",
                        "snapshotId", "metadata"}
    vol = _wait(demo, f"/v2.1/os-volumes/{vol['id']}", "volume", "available")
    assert vol["metadata"] == {"a": "b"} and vol["size"] == 1
    listed = demo.get("compute", "/v2.1/os-volumes/detail", headers=OLD).json["volumes"]
    assert [v["id"] for v in listed] == [vol["id"]]
    assert demo.get("compute", "/v2.1/os-volumes?limit=0", headers=OLD).json["volumes"] == []
    snap = demo.post("compute", "/v2.1/os-snapshots",
                     {"snapshot": {"volume_id": vol["id"], "display_name": "s1"}},
                     headers=OLD)
    assert snap.status == 200, snap
    sid = snap.json["snapshot"]["id"]
    assert snap.json["snapshot"]["volumeId"] == vol["id"]
    _wait(demo, f"/v2.1/os-snapshots/{sid}", "snapshot", "available")
    assert demo.delete("compute", f"/v2.1/os-snapshots/{sid}", headers=OLD).status == 202
    wait_for(lambda: demo.get("compute", f"/v2.1/os-snapshots/{sid}",
                              headers=OLD).status == 404, timeout=20)
    assert demo.delete("compute", f"/v2.1/os-volumes/{vol['id']}", headers=OLD).status == 202


def test_volume_proxy_errors_and_removal(demo):
    for size in (0, "", "#$%"):
        bad = demo.post("compute", "/v2.1/os-volumes", {"volume": {"size": size}},
                        headers=OLD)
        assert bad.status == 400, (size, bad)
    missing = demo.get("compute", "/v2.1/os-volumes/5f9a0b43-0000-4000-8000-000000000000",
                       headers=OLD)
    assert missing.status == 404
    gone = demo.get("compute", "/v2.1/os-volumes",
                    headers={"OpenStack-API-Version": "compute 2.36"})
    assert gone.status == 404
    assert demo.get("compute", "/v2.1/os-snapshots",
                    headers={"OpenStack-API-Version": "compute 2.36"}).status == 404


def test_empty_volume_id_is_not_found(demo):
    assert demo.get("compute", "/v2.1/os-volumes/", headers=OLD).status == 404
    assert demo.delete("compute", "/v2.1/os-volumes/", headers=OLD).status == 404
