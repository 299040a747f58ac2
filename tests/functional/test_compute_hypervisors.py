"""Legacy hypervisor routes: /uptime (below 2.88), /{pattern}/search and /servers (below 2.53)."""

from __future__ import annotations

OLD = {"OpenStack-API-Version": "compute 2.1"}


def test_uptime_search_and_servers(api, demo):
    hypers = api.get("compute", "/v2.1/os-hypervisors", headers=OLD).json["hypervisors"]
    first = hypers[0]
    up = api.get("compute", f"/v2.1/os-hypervisors/{first['id']}/uptime", headers=OLD)
    assert up.status == 200, up
    assert set(up.json["hypervisor"]) == {"id", "hypervisor_hostname", "state", "status",
                                          "uptime"}
    assert " up " in up.json["hypervisor"]["uptime"]
    assert demo.get("compute", f"/v2.1/os-hypervisors/{first['id']}/uptime",
                    headers=OLD).status == 403
    gone = api.get("compute", f"/v2.1/os-hypervisors/{first['id']}/uptime",
                   headers={"OpenStack-API-Version": "compute 2.88"})
    assert gone.status == 404
    name = first["hypervisor_hostname"]
    found = api.get("compute", f"/v2.1/os-hypervisors/{name}/search", headers=OLD).json
    assert name in [h["hypervisor_hostname"] for h in found["hypervisors"]]
    servers = api.get("compute", f"/v2.1/os-hypervisors/{name}/servers", headers=OLD)
    assert servers.status == 200
    assert all("servers" not in h or h["servers"] for h in servers.json["hypervisors"])
    assert api.get("compute", "/v2.1/os-hypervisors/nomatch/search",
                   headers=OLD).status == 404
    assert demo.get("compute", f"/v2.1/os-hypervisors/{name}/servers",
                    headers=OLD).status == 403
    assert api.get("compute", f"/v2.1/os-hypervisors/{name}/search",
                   headers={"OpenStack-API-Version": "compute 2.53"}).status == 404
