"""/os-hosts (admin, up to 2.42) as nova's api/openstack/compute/hosts.py answers with the
fake virt driver: list, show, update (status / maintenance_mode), power actions."""

from __future__ import annotations

from tests.functional.test_compute_servers import boot, image, settled  # noqa: F401

OLD = {"OpenStack-API-Version": "compute 2.42"}
GONE = {"OpenStack-API-Version": "compute 2.43"}


def test_list_hosts(api):
    resp = api.get("compute", "/v2.1/os-hosts")
    assert resp.status == 200, resp
    assert sorted((h["host_name"], h["service"], h["zone"]) for h in resp.json["hosts"]) == [
        ("controller1", "compute", "ag1"), ("controller2", "compute", "ag2"),
        ("controller2", "conductor", "internal"), ("controller2", "scheduler", "internal"),
        ("controller3", "compute", "nova")]
    zoned = api.get("compute", "/v2.1/os-hosts?zone=ag1").json["hosts"]
    assert zoned == [{"host_name": "controller1", "service": "compute", "zone": "ag1"}]
    assert api.get("compute", "/v2.1/os-hosts?zone=nowhere").json == {"hosts": []}
    assert api.get("compute", "/v2.1/os-hosts", headers=GONE).status == 404


def test_disabled_service_is_not_listed(api):
    svc = next(s for s in api.get("compute", "/v2.1/os-services").json["services"]
               if s["host"] == "controller3" and s["binary"] == "nova-compute")
    assert api.put("compute", "/v2.1/os-services/disable",
                   {"host": "controller3", "binary": "nova-compute"}).status == 200, svc
    hosts = {h["host_name"] for h in api.get("compute", "/v2.1/os-hosts").json["hosts"]}
    assert "controller3" not in hosts


def test_show_host_resources(api, image):  # noqa: F811
    sid = boot(api, image, "ag1").json["server"]["id"]
    settled(api, sid)
    resp = api.get("compute", "/v2.1/os-hosts/controller1", headers=OLD)
    assert resp.status == 200, resp
    rows = [r["resource"] for r in resp.json["host"]]
    assert [r["project"] for r in rows] == ["(total)", "(used_now)", "(used_max)",
                                            api.project_id]
    assert rows[0] == {"host": "controller1", "project": "(total)", "cpu": 16,
                       "memory_mb": 32768, "disk_gb": 500}
    # m1.tiny: 1 vcpu, 512 MB, 1 GB
    assert (rows[2]["cpu"], rows[2]["memory_mb"], rows[2]["disk_gb"]) == (1, 512, 1)
    assert rows[3] == {**rows[2], "project": api.project_id}
    missing = api.get("compute", "/v2.1/os-hosts/nohost")
    assert missing.status == 404
    assert missing.json == {"itemNotFound": {
        "code": 404, "message": "Host 'nohost' is not mapped to any cell"}}


def test_update_and_power_actions(api, demo):
    path = "/v2.1/os-hosts/controller1"
    resp = api.put("compute", path, {"status": "enable", "maintenance_mode": "disable"})
    assert resp.status == 200, resp
    assert resp.json == {"host": "controller1", "status": "enabled",
                         "maintenance_mode": "off_maintenance"}
    resp = api.put("compute", path, {"status": "DISABLE", "maintenance_mode": "Enable"})
    assert resp.json == {"host": "controller1", "status": "disabled",
                         "maintenance_mode": "on_maintenance"}
    for body in ({}, {"status": "bad"}, {"maintenance_mode": "bad"},
                 {"status": "enable", "other": 1}):
        assert api.put("compute", path, body).status == 400, body
    missing = api.put("compute", "/v2.1/os-hosts/nohost", {"status": "enable"})
    assert missing.status == 404
    for action, answer in (("reboot", "reboot"), ("shutdown", "shutdown"),
                           ("startup", "startup")):
        resp = api.get("compute", f"{path}/{action}")
        assert resp.status == 200, resp
        assert resp.json == {"host": "controller1", "power_action": answer}
        assert api.get("compute", f"/v2.1/os-hosts/nohost/{action}").status == 404
        assert demo.get("compute", f"{path}/{action}").status == 403
    assert demo.get("compute", "/v2.1/os-hosts").status == 403
    assert demo.get("compute", path).status == 403
    assert demo.put("compute", path, {"status": "enable"}).status == 403
    assert api.put("compute", path, {"status": "enable"}, headers=GONE).status == 404
