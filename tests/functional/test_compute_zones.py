"""Nova zones, aggregates and services over HTTP, in-process, on the seed topology."""

from __future__ import annotations

import pytest

from tests.helpers import wait_for

V253 = {"OpenStack-API-Version": "compute 2.53"}


def zones(api, path="/v2.1/os-availability-zone/detail"):
    resp = api.get("compute", path)
    assert resp.status == 200, resp
    return resp.json["availabilityZoneInfo"]


def aggregate_id(api, name):
    return next(a["id"] for a in api.get("compute", "/v2.1/os-aggregates").json["aggregates"]
                if a["name"] == name)


def test_index_hides_internal_and_hosts(demo):
    info = zones(demo, "/v2.1/os-availability-zone")
    assert info == [{"zoneName": z, "zoneState": {"available": True}, "hosts": None}
                    for z in ("ag1", "ag2", "nova")]


def test_detail_is_the_seed_tree(api):
    info = {z["zoneName"]: z for z in zones(api)}
    assert [z for z in info] == ["ag1", "ag2", "internal", "nova"]
    internal = info["internal"]["hosts"]
    assert set(internal) == {"controller2"}
    assert set(internal["controller2"]) == {"nova-conductor", "nova-scheduler"}
    assert set(info["nova"]["hosts"]) == {"controller3"}
    assert set(info["ag1"]["hosts"]) == {"controller1"}
    svc = info["ag2"]["hosts"]["controller2"]["nova-compute"]
    assert svc["available"] is True and svc["active"] is True
    assert len(svc["updated_at"]) == len("2016-08-20T14:57:07.000000")


def test_detail_needs_admin(demo):
    resp = demo.get("compute", "/v2.1/os-availability-zone/detail")
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:os-availability-zone:detail to be performed.")


def test_aggregate_create_answers_200_without_hosts_and_metadata(api):
    resp = api.post("compute", "/v2.1/os-aggregates",
                    {"aggregate": {"name": "agg3", "availability_zone": "ag3"}})
    assert resp.status == 200
    agg = resp.json["aggregate"]
    assert agg["availability_zone"] == "ag3" and "hosts" not in agg and "metadata" not in agg
    assert "uuid" not in agg
    shown = api.get("compute", f"/v2.1/os-aggregates/{agg['id']}", headers=V253).json
    assert shown["aggregate"]["metadata"] == {"availability_zone": "ag3"}
    assert shown["aggregate"]["hosts"] == [] and shown["aggregate"]["uuid"]
    # a zone without hosts is no zone
    assert "ag3" not in [z["zoneName"] for z in zones(api)]
    dup = api.post("compute", "/v2.1/os-aggregates", {"aggregate": {"name": "agg3"}})
    assert dup.status == 409
    assert dup.json["conflictingRequest"]["message"] == "Aggregate agg3 already exists."


@pytest.mark.parametrize("path,status,message", [
    ("/v2.1/os-aggregates/abc", 400, "Invalid input received: id must be an integer"),
    ("/v2.1/os-aggregates/99", 404, "Aggregate 99 could not be found."),
])
def test_aggregate_lookup_errors(api, path, status, message):
    resp = api.get("compute", path)
    assert resp.status == status
    assert next(iter(resp.json.values()))["message"] == message


def test_zone_name_validation(api):
    resp = api.post("compute", "/v2.1/os-aggregates",
                    {"aggregate": {"name": "x", "availability_zone": "a:b"}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"].startswith(
        "Invalid input for field/attribute availability_zone.")
    resp = api.post("compute", "/v2.1/os-aggregates", {"aggregate": {"name": " x"}})
    assert resp.status == 400


def test_one_zone_per_host(api):
    agg = api.post("compute", "/v2.1/os-aggregates",
                   {"aggregate": {"name": "agg3", "availability_zone": "ag3"}}).json["aggregate"]
    resp = api.post("compute", f"/v2.1/os-aggregates/{agg['id']}/action",
                    {"add_host": {"host": "controller1"}})
    assert resp.status == 409
    assert resp.json["conflictingRequest"]["message"] == (
        f"Cannot add host to aggregate {agg['id']}. Reason: One or more hosts already in "
        "availability zone(s) ['ag1'].")
    # set_metadata and update conflicts are 400
    ag1 = aggregate_id(api, "ag1")
    plain = api.post("compute", "/v2.1/os-aggregates",
                     {"aggregate": {"name": "plain"}}).json["aggregate"]
    assert api.post("compute", f"/v2.1/os-aggregates/{plain['id']}/action",
                    {"add_host": {"host": "controller1"}}).status == 200
    resp = api.post("compute", f"/v2.1/os-aggregates/{plain['id']}/action",
                    {"set_metadata": {"metadata": {"availability_zone": "other"}}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        f"Cannot update metadata of aggregate {plain['id']}. Reason: One or more hosts "
        "already in availability zone(s) ['ag1'].")
    resp = api.put("compute", f"/v2.1/os-aggregates/{plain['id']}",
                   {"aggregate": {"availability_zone": "other"}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"].startswith(
        f"Cannot update aggregate {plain['id']}. Reason: One or more hosts")
    # the same zone is fine; an empty one is not
    assert api.post("compute", f"/v2.1/os-aggregates/{plain['id']}/action",
                    {"set_metadata": {"metadata": {"availability_zone": "ag1"}}}).status == 200
    resp = api.post("compute", f"/v2.1/os-aggregates/{ag1}/action",
                    {"set_metadata": {"metadata": {"availability_zone": None}}})
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        f"Cannot update metadata of aggregate {ag1}. Reason: Aggregate ag1 does not support "
        "empty named availability zone.")


def test_moving_a_host_changes_its_zone(api):
    agg = api.post("compute", "/v2.1/os-aggregates",
                   {"aggregate": {"name": "agg3", "availability_zone": "ag3"}}).json["aggregate"]
    resp = api.post("compute", f"/v2.1/os-aggregates/{agg['id']}/action",
                    {"add_host": {"host": "controller3"}})
    assert resp.status == 200 and resp.json["aggregate"]["hosts"] == ["controller3"]
    names = [z["zoneName"] for z in zones(api)]
    assert names == ["ag1", "ag2", "ag3", "internal"]
    again = api.post("compute", f"/v2.1/os-aggregates/{agg['id']}/action",
                     {"add_host": {"host": "controller3"}})
    assert again.status == 409
    assert again.json["conflictingRequest"]["message"] == (
        f"Aggregate {agg['id']} already has host controller3.")
    delete = api.delete("compute", f"/v2.1/os-aggregates/{agg['id']}")
    assert delete.status == 400
    assert delete.json["badRequest"]["message"] == (
        f"Cannot remove host from aggregate {agg['id']}. Reason: Host aggregate is not empty.")
    assert api.post("compute", f"/v2.1/os-aggregates/{agg['id']}/action",
                    {"remove_host": {"host": "controller3"}}).status == 200
    missing = api.post("compute", f"/v2.1/os-aggregates/{agg['id']}/action",
                       {"remove_host": {"host": "controller3"}})
    assert missing.status == 404
    assert missing.json["itemNotFound"]["message"] == (
        f"Cannot remove host controller3 in aggregate {agg['id']}")
    assert api.delete("compute", f"/v2.1/os-aggregates/{agg['id']}").status == 200
    unknown = api.post("compute", f"/v2.1/os-aggregates/{aggregate_id(api, 'ag1')}/action",
                       {"add_host": {"host": "nohost"}})
    assert unknown.status == 404
    assert unknown.json["itemNotFound"]["message"] == "Host 'nohost' is not mapped to any cell"


MALFORMED_HOST_ACTIONS = [
    ({"add_host": {}}, ("Invalid input for field/attribute add_host. Value: {}. "
                        "'host' is a required property")),
    ({"add_host": "controller3"}, ("Invalid input for field/attribute add_host. Value: "
                                   "controller3. 'controller3' is not of type 'object'")),
    ({"add_host": {"host": 5}}, ("Invalid input for field/attribute host. Value: 5. "
                                 "5 is not of type 'string'")),
    ({"add_host": {"host": "controller3", "zone": "ag1"}},
     ("Invalid input for field/attribute add_host. Value: {'host': 'controller3', "
      "'zone': 'ag1'}. Additional properties are not allowed ('zone' was unexpected)")),
    ({"remove_host": None}, ("Invalid input for field/attribute remove_host. Value: None. "
                             "None is not of type 'object'")),
    ({"remove_host": {"name": "controller1"}},
     ("Invalid input for field/attribute remove_host. Value: {'name': 'controller1'}. "
      "'host' is a required property")),
    ({"remove_host": {"host": "a b"}}, ("Invalid input for field/attribute host. Value: a b. "
                                        "'a b' does not match '^[a-zA-Z0-9-._]*$'")),
]


@pytest.mark.parametrize("body, message", MALFORMED_HOST_ACTIONS)
def test_malformed_host_actions_are_400(api, body, message):
    # Nova's add_host / remove_host schemas (host: parameter_types.fqdn), with the
    # jsonschema message of the first error, prefixed by Nova's validator.
    resp = api.post("compute", f"/v2.1/os-aggregates/{aggregate_id(api, 'ag1')}/action", body)
    assert resp.status == 400, resp
    assert resp.json["badRequest"]["message"] == message
    assert [a["hosts"] for a in api.get("compute", "/v2.1/os-aggregates").json["aggregates"]
            if a["name"] == "ag1"] == [["controller1"]]


def test_services_list_by_microversion(api):
    old = api.get("compute", "/v2.1/os-services").json["services"]
    assert {(s["host"], s["binary"], s["zone"]) for s in old} == {
        ("controller1", "nova-compute", "ag1"), ("controller2", "nova-compute", "ag2"),
        ("controller3", "nova-compute", "nova"), ("controller2", "nova-scheduler", "internal"),
        ("controller2", "nova-conductor", "internal")}
    assert all(isinstance(s["id"], int) and "forced_down" not in s for s in old)
    assert all(s["state"] == "up" and s["status"] == "enabled" for s in old)
    new = api.get("compute", "/v2.1/os-services?binary=nova-compute&host=controller1",
                  headers=V253).json["services"]
    assert len(new) == 1 and len(new[0]["id"]) == 36 and new[0]["forced_down"] is False


def test_disable_service_and_zone_availability(api):
    svc = api.get("compute", "/v2.1/os-services?host=controller3&binary=nova-compute",
                  headers=V253).json["services"][0]
    resp = api.put("compute", f"/v2.1/os-services/{svc['id']}",
                   {"status": "disabled", "disabled_reason": "maintenance"}, headers=V253)
    assert resp.status == 200
    assert resp.json["service"]["status"] == "disabled"
    assert resp.json["service"]["disabled_reason"] == "maintenance"
    index = zones(api, "/v2.1/os-availability-zone")
    assert index[-1] == {"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}
    detail = {z["zoneName"]: z for z in zones(api)}
    assert detail["nova"]["hosts"] is None
    enable = api.put("compute", f"/v2.1/os-services/{svc['id']}",
                     {"status": "enabled", "disabled_reason": "x"}, headers=V253)
    assert enable.status == 400
    assert enable.json["badRequest"]["message"] == (
        "Specifying 'disabled_reason' with status 'enabled' is invalid.")
    sched = api.get("compute", "/v2.1/os-services?binary=nova-scheduler",
                    headers=V253).json["services"][0]
    resp = api.put("compute", f"/v2.1/os-services/{sched['id']}", {"status": "disabled"},
                   headers=V253)
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        "Updating a nova-scheduler service is not supported. Only nova-compute services can "
        "be updated.")


def test_legacy_service_actions(api):
    resp = api.put("compute", "/v2.1/os-services/disable-log-reason",
                   {"host": "controller1", "binary": "nova-compute",
                    "disabled_reason": "test"})
    assert resp.json == {"service": {"host": "controller1", "binary": "nova-compute",
                                     "status": "disabled", "disabled_reason": "test"}}
    resp = api.put("compute", "/v2.1/os-services/enable",
                   {"host": "controller1", "binary": "nova-compute"})
    assert resp.json["service"]["status"] == "enabled"
    resp = api.put("compute", "/v2.1/os-services/force-down",
                   {"host": "controller1", "binary": "nova-compute", "forced_down": True},
                   headers={"OpenStack-API-Version": "compute 2.11"})
    assert resp.json["service"]["forced_down"] is True
    down = api.get("compute", "/v2.1/os-services?host=controller1").json["services"][0]
    assert down["state"] == "down"
    resp = api.put("compute", "/v2.1/os-services/enable",
                   {"host": "nohost", "binary": "nova-compute"})
    assert resp.status == 404
    assert resp.json["itemNotFound"]["message"] == (
        "Could not find binary nova-compute on host nohost.")


def test_heartbeat_keeps_services_up(cloud_factory):
    cloud = cloud_factory(nova="[DEFAULT]\nreport_interval = 1\nservice_down_time = 1\n")
    from tests.helpers import ApiClient

    api = ApiClient(cloud)
    first = api.get("compute", "/v2.1/os-services").json["services"][0]["updated_at"]
    wait_for(lambda: api.get("compute", "/v2.1/os-services").json["services"][0][
        "updated_at"] != first, timeout=5)
    assert all(s["state"] == "up" for s in api.get("compute", "/v2.1/os-services").json[
        "services"])
