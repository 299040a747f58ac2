"""/os-server-groups and the ``group`` scheduler hint (affinity / anti-affinity)."""

from __future__ import annotations

from tests.functional.test_compute_servers import LATEST, image, settled  # noqa: F401


def _group(api, policy):
    resp = api.post("compute", "/v2.1/os-server-groups",
                    {"server_group": {"name": f"g-{policy}", "policies": [policy]}})
    assert resp.status == 200, resp
    body = resp.json["server_group"]
    assert set(body) == {"id", "name", "policies", "members", "metadata"}
    return body["id"]


def _boot_two(api, image, group):  # noqa: F811
    resp = api.post("compute", "/v2.1/servers", {
        "server": {"name": "grp", "imageRef": image, "flavorRef": "1", "networks": "none",
                   "min_count": 2, "return_reservation_id": True},
        "os:scheduler_hints": {"group": group}}, headers=LATEST)
    assert resp.status == 202, resp
    rid = resp.json["reservation_id"]
    servers = api.get("compute", f"/v2.1/servers/detail?reservation_id={rid}",
                      headers=LATEST).json["servers"]
    assert len(servers) == 2
    return [settled(api, s["id"]) for s in servers]


def test_anti_affinity_and_affinity(api, image):  # noqa: F811
    anti = _group(api, "anti-affinity")
    servers = _boot_two(api, image, anti)
    assert servers[0]["OS-EXT-SRV-ATTR:host"] != servers[1]["OS-EXT-SRV-ATTR:host"]
    assert servers[0]["server_groups"] == [anti]
    shown = api.get("compute", f"/v2.1/os-server-groups/{anti}").json["server_group"]
    assert sorted(shown["members"]) == sorted(s["id"] for s in servers)
    same = _group(api, "affinity")
    servers = _boot_two(api, image, same)
    assert servers[0]["OS-EXT-SRV-ATTR:host"] == servers[1]["OS-EXT-SRV-ATTR:host"]
    listed = api.get("compute", "/v2.1/os-server-groups").json["server_groups"]
    assert {g["id"] for g in listed} == {anti, same}
    new = api.get("compute", f"/v2.1/os-server-groups/{same}",
                  headers=LATEST).json["server_group"]
    assert new["policy"] == "affinity" and new["rules"] == {} and "policies" not in new
    assert api.delete("compute", f"/v2.1/os-server-groups/{same}").status == 204
    assert api.get("compute", f"/v2.1/os-server-groups/{same}").status == 404


def test_bad_group_hint_and_policy(api, image):  # noqa: F811
    bad = api.post("compute", "/v2.1/servers", {
        "server": {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": {"group": "5f9a0b43-0000-4000-8000-000000000000"}},
        headers=LATEST)
    assert bad.status == 400
    assert api.post("compute", "/v2.1/os-server-groups",
                    {"server_group": {"name": "g", "policies": ["nope"]}}).status == 400


def test_a_scheduler_that_did_not_see_a_member_is_corrected_by_the_host(
        api, image, monkeypatch):  # noqa: F811
    """Two schedulers (processes) may place group members at once: the compute host's late
    check moves the later member, as Nova's RescheduledException does; no lock needed."""
    from stackling.compute import conductor

    group = _group(api, "anti-affinity")
    first = api.post("compute", "/v2.1/servers", {
        "server": {"name": "a", "imageRef": image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": {"group": group}}, headers=LATEST).json["server"]["id"]
    taken = settled(api, first)["OS-EXT-SRV-ATTR:host"]
    calls = []

    def stale(states, policy, hosts, max_per_host):
        # The first placement of the second member sees an old world: only the host the
        # first member already took.
        calls.append(policy)
        return [h for h in states if h.host == taken] if len(calls) == 1 else \
            [h for h in states if h.host not in hosts]

    monkeypatch.setattr(conductor, "_group_filter", stale)
    second = api.post("compute", "/v2.1/servers", {
        "server": {"name": "b", "imageRef": image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": {"group": group}}, headers=LATEST).json["server"]["id"]
    server = settled(api, second)
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] != taken
    assert len(calls) == 2          # scheduled twice: the host sent it back once
    node = {n["hypervisor_hostname"]: n for n in api.get(
        "compute", "/v2.1/os-hypervisors/detail").json["hypervisors"]}[taken]
    assert node["running_vms"] == 1     # the rescheduled claim was given back


def test_anti_affinity_max_server_per_host(api, image):  # noqa: F811
    """2.64 rules: a host takes up to ``max_server_per_host`` members, then no more."""
    resp = api.post("compute", "/v2.1/os-server-groups", {"server_group": {
        "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}},
        headers=LATEST)
    assert resp.status == 200 and resp.json["server_group"]["rules"] == {
        "max_server_per_host": 2}
    group = resp.json["server_group"]["id"]

    def member(name):
        sid = api.post("compute", "/v2.1/servers", {
            "server": {"name": name, "imageRef": image, "flavorRef": "1",
                       "networks": "none"},
            "os:scheduler_hints": {"group": group}}, headers=LATEST).json["server"]["id"]
        return settled(api, sid)

    first = member("a")
    host = first["OS-EXT-SRV-ATTR:host"]
    for svc in api.get("compute", "/v2.1/os-services?binary=nova-compute",
                       headers=LATEST).json["services"]:
        if svc["host"] != host:
            api.put("compute", f"/v2.1/os-services/{svc['id']}", {"status": "disabled"},
                    headers=LATEST)
    second = member("b")
    assert second["status"] == "ACTIVE" and second["OS-EXT-SRV-ATTR:host"] == host
    third = member("c")
    assert third["status"] == "ERROR"
    assert third["fault"]["message"].startswith("No valid host was found.")


def test_max_server_per_host_must_be_a_positive_integer(api):
    for bad in (0, "x", 1.5, True):
        resp = api.post("compute", "/v2.1/os-server-groups", {"server_group": {
            "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": bad}}},
            headers=LATEST)
        assert resp.status == 400, bad
