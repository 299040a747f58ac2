"""Cinder's admin host views in-process: os-hosts, scheduler-stats/get_pools and
capabilities/{host} (cinder/api/contrib/hosts.py, scheduler_stats.py, capabilities.py)."""

from __future__ import annotations

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}
BACKEND = "controller2@file"


def test_list_and_show_hosts(cloud, api, demo):
    hosts = api.get("volume", "/v3/os-hosts").json["hosts"]
    services = {h["service"]: h for h in hosts}
    assert set(services) == {"cinder-scheduler", "cinder-volume"}
    vol = services["cinder-volume"]
    assert (vol["host_name"], vol["service-state"], vol["service-status"], vol["zone"]) == \
        (BACKEND, "enabled", "available", "nova")
    assert api.get("volume", "/v3/os-hosts?zone=elsewhere").json["hosts"] == []
    assert demo.get("volume", "/v3/os-hosts").status == 403
    created = api.post("volume", "/v3/volumes", {"volume": {"size": 2}}).json["volume"]
    settle(cloud)
    api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": created["id"]}})
    settle(cloud)
    rows = [r["resource"] for r in api.get("volume", f"/v3/os-hosts/{BACKEND}").json["host"]]
    assert rows == [
        {"host": BACKEND, "project": "(total)", "volume_count": "1", "total_volume_gb": "2",
         "snapshot_count": "1", "total_snapshot_gb": "2"},
        {"host": BACKEND, "project": api.project_id, "volume_count": "1",
         "total_volume_gb": "2", "snapshot_count": "1", "total_snapshot_gb": "2"}]
    missing = api.get("volume", "/v3/os-hosts/nowhere@x")
    assert missing.status == 404 and missing.json["itemNotFound"]["message"] == \
        "Service cinder-volume could not be found on host nowhere@x."


def test_pools_and_capabilities(api, demo):
    pools = api.get("volume", "/v3/scheduler-stats/get_pools").json["pools"]
    assert pools == [{"name": f"{BACKEND}#file"}]
    detail = api.get("volume", "/v3/scheduler-stats/get_pools?detail=true").json["pools"]
    caps = detail[0]["capabilities"]
    assert caps["vendor_name"] == "stackling" and caps["volume_backend_name"] == "file"
    assert caps["storage_protocol"] == "file" and "timestamp" in caps
    assert demo.get("volume", "/v3/scheduler-stats/get_pools").status == 403
    # 3.28: a type whose specs no backend satisfies filters every pool out
    api.post("volume", "/v3/types", {"volume_type": {
        "name": "fast", "extra_specs": {"volume_backend_name": "other"}}})
    none = api.get("volume", "/v3/scheduler-stats/get_pools?volume_type=fast", headers=MV)
    assert none.json["pools"] == []
    # tempest sends host@backend#pool; the '#' never reaches the server
    resp = api.get("volume", f"/v3/capabilities/{BACKEND}")
    assert resp.status == 200, resp
    body = resp.json
    assert body["namespace"] == f"OS::Storage::Capabilities::{BACKEND}"
    assert (body["vendor_name"], body["volume_backend_name"], body["storage_protocol"]) == \
        (caps["vendor_name"], caps["volume_backend_name"], caps["storage_protocol"])
    assert body["properties"]["thin_provisioning"] == {
        "title": "Thin Provisioning", "description": "Sets thin provisioning.",
        "type": "boolean"}
    missing = api.get("volume", "/v3/capabilities/nowhere")
    assert missing.status == 404 and missing.json["itemNotFound"]["message"] == \
        "Can't find service: nowhere"
