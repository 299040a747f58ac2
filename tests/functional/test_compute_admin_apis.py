"""Nova's admin and service-facing APIs: instance usage audit log, extensions, server
external events (and Cinder sending volume-extended), assisted volume snapshots, the
diagnostics labels and routing of trailing slashes; expected texts from nova's code."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote, urlencode

from sqlalchemy import select

from stackling.compute.api.usage_audit_log import audit_period
from stackling.db.models_compute import BlockDeviceMapping
from tests.functional.test_compute_servers import boot, image, settled, v  # noqa: F401
from tests.functional.test_compute_volume_swap import _server_with_volume
from tests.helpers import settle, wait_for

MISSING = "5f9a0b43-0000-4000-8000-000000000000"
AUDIT = "/v2.1/os-instance_usage_audit_log"
EVENTS = "/v2.1/os-server-external-events"
AVS = "/v2.1/os-assisted-volume-snapshots"


# -- os-instance_usage_audit_log --------------------------------------------------------


def test_audit_periods_as_nova_computes_them():
    at = dt.datetime(2026, 12, 1, 11, 0, 0)
    assert audit_period("month", at) == (dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1))
    # the period must have ended strictly before: on the 1st at midnight, the one before
    midnight = dt.datetime(2026, 12, 1)
    assert audit_period("month", midnight) == (dt.datetime(2026, 10, 1),
                                               dt.datetime(2026, 11, 1))
    assert audit_period("month", dt.datetime(2026, 1, 5)) == (dt.datetime(2025, 12, 1),
                                                              dt.datetime(2026, 1, 1))
    assert audit_period("month@15", at) == (dt.datetime(2026, 10, 15),
                                            dt.datetime(2026, 11, 15))
    assert audit_period("day", at) == (dt.datetime(2026, 11, 30), dt.datetime(2026, 12, 1))
    assert audit_period("day@18", at) == (dt.datetime(2026, 11, 29, 18),
                                          dt.datetime(2026, 11, 30, 18))
    assert audit_period("hour", at) == (dt.datetime(2026, 12, 1, 9),
                                        dt.datetime(2026, 12, 1, 10))
    assert audit_period("year", at) == (dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1))


def test_audit_log_lists_every_compute_host_as_not_run(api, demo):
    listed = api.get("compute", AUDIT)
    assert listed.status == 200, listed
    log = listed.json["instance_usage_audit_logs"]
    hosts = sorted({s["host"] for s in api.get("compute", "/v2.1/os-services").json[
        "services"] if s["binary"] == "nova-compute"})
    assert hosts and log["hosts_not_run"] == hosts
    assert log["num_hosts"] == log["num_hosts_not_run"] == len(hosts)
    assert (log["num_hosts_done"], log["num_hosts_running"]) == (0, 0)
    assert (log["total_instances"], log["total_errors"], log["log"]) == (0, 0, {})
    assert log["overall_status"] == f"0 of {len(hosts)} hosts done. 0 errors."
    # tempest quotes "%Y-%m-%d %H:%M:%S"; str(datetime) in the answer
    shown = api.get("compute", f"{AUDIT}/{quote('2026-12-01 11:00:00')}")
    assert shown.status == 200, shown
    one = shown.json["instance_usage_audit_log"]
    assert (one["period_beginning"], one["period_ending"]) == (
        "2026-11-01 00:00:00", "2026-12-01 00:00:00")
    with_micro = api.get("compute", f"{AUDIT}/{quote('2026-12-01 00:00:00.5')}")
    assert with_micro.json["instance_usage_audit_log"]["period_ending"] == \
        "2026-12-01 00:00:00"
    bad = api.get("compute", f"{AUDIT}/invalid_time")
    assert bad.status == 400
    assert bad.json == {"badRequest": {"code": 400,
                                       "message": "Invalid timestamp for date invalid_time"}}
    for path in (AUDIT, f"{AUDIT}/{quote('2026-12-01 11:00:00')}"):
        denied = demo.get("compute", path)
        assert denied.status == 403, denied


# -- extensions --------------------------------------------------------------------------


def test_extensions_list_and_show(demo):
    listed = demo.get("compute", "/v2.1/extensions")
    assert listed.status == 200, listed
    exts = listed.json["extensions"]
    assert len(exts) == 99
    aliases = [e["alias"] for e in exts]
    assert aliases == sorted(aliases) and "os-consoles" in aliases
    assert "Hosts" in [e["name"] for e in exts]
    shown = demo.get("compute", "/v2.1/extensions/os-consoles")
    assert shown.status == 200
    assert shown.json == {"extension": {
        "alias": "os-consoles", "name": "Consoles", "links": [],
        "description": "Interactive Console support.",
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z"}}
    missing = demo.get("compute", "/v2.1/extensions/os-nothing")
    assert missing.status == 404
    assert missing.json == {"itemNotFound": {"code": 404,
                                             "message": "The resource could not be found."}}


# -- routing -----------------------------------------------------------------------------


def test_trailing_slash_is_404_as_with_python_routes(api):
    # tempest test_get_usage_tenant_with_empty_tenant_id: "os-simple-tenant-usage/?start="
    empty = api.get("compute", "/v2.1/os-simple-tenant-usage/?" + urlencode(
        {"start": "2026-11-01T00:00:00", "end": "2026-11-02T00:00:00"}))
    assert empty.status == 404, empty
    assert empty.json == {"itemNotFound": {"code": 404,
                                           "message": "The resource could not be found."}}
    assert api.get("compute", f"/v2.1/{api.project_id}/flavors/").status == 404
    # the version documents keep answering with a slash
    assert api.get("compute", "/v2.1/").status == 200


# -- os-server-external-events -----------------------------------------------------------


def test_external_events_answer_per_event(api, demo, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    resp = api.post("compute", EVENTS, {"events": [
        {"name": "network-changed", "server_uuid": sid},
        {"name": "network-vif-plugged", "server_uuid": sid, "tag": "p1",
         "status": "in-progress"}]})
    assert resp.status == 200, resp
    assert resp.json == {"events": [
        {"name": "network-changed", "server_uuid": sid, "status": "completed", "code": 200},
        {"name": "network-vif-plugged", "server_uuid": sid, "tag": "p1",
         "status": "completed", "code": 200}]}
    mixed = api.post("compute", EVENTS, {"events": [
        {"name": "network-changed", "server_uuid": MISSING},
        {"name": "volume-extended", "server_uuid": sid},
        {"name": "network-vif-deleted", "server_uuid": sid, "tag": "p1"}]},
        headers=v("2.51"))
    assert mixed.status == 207, mixed
    assert [(e["code"], e["status"]) for e in mixed.json["events"]] == [
        (404, "failed"), (400, "failed"), (200, "completed")]
    # volume-extended exists from 2.51 only; the schema's own 400
    old = api.post("compute", EVENTS, {"events": [
        {"name": "volume-extended", "server_uuid": sid, "tag": "x"}]})
    assert old.status == 400
    assert "Invalid input for field/attribute name" in old.json["badRequest"]["message"]
    assert api.post("compute", EVENTS, {"events": []}).status == 400
    assert api.post("compute", EVENTS, {"events": [
        {"name": "network-changed", "server_uuid": "nope"}]}).status == 400
    denied = demo.post("compute", EVENTS, {"events": [
        {"name": "network-changed", "server_uuid": sid}]})
    assert denied.status == 403


def test_cinder_extend_of_attached_volume_notifies_nova(cloud, api, image):  # noqa: F811
    sid, vid = _server_with_volume(cloud, api, image)
    resp = api.post("volume", f"/v3/volumes/{vid}/action", {"os-extend": {"new_size": 2}},
                    headers={"OpenStack-API-Version": "volume 3.42"})
    assert resp.status == 202, resp
    settle(cloud)
    volume = api.get("volume", f"/v3/volumes/{vid}").json["volume"]
    # extend_volume_completion: back to in-use while attached (was "available")
    assert (volume["status"], volume["size"]) == ("in-use", 2)

    def extend_action():
        actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions").json
        return next((a for a in actions["instanceActions"]
                     if a["action"] == "extend_volume"), None)
    action = wait_for(extend_action)
    shown = wait_for(lambda: api.get(
        "compute", f"/v2.1/servers/{sid}/os-instance-actions/{action['request_id']}",
        headers=v("2.51")).json["instanceAction"]["events"] or None)
    assert [(e["event"], e["result"]) for e in shown] == [("compute_extend_volume",
                                                           "Success")]
    with cloud.db.reader() as s:
        size = s.scalar(select(BlockDeviceMapping.volume_size).where(
            BlockDeviceMapping.instance_uuid == sid, BlockDeviceMapping.volume_id == vid))
    assert size == 2


def test_power_update_fails_its_event_as_with_a_non_ironic_driver(api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    bad_tag = api.post("compute", EVENTS, {"events": [
        {"name": "power-update", "server_uuid": sid, "tag": "SIDEWAYS"}]}, headers=v("2.76"))
    assert bad_tag.status == 200        # accepted, then dropped: no instance action
    resp = api.post("compute", EVENTS, {"events": [
        {"name": "power-update", "server_uuid": sid, "tag": "POWER_OFF"}]},
        headers=v("2.76"))
    assert resp.status == 200, resp
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions").json
    stop = next(a for a in actions["instanceActions"] if a["action"] == "stop")
    assert [a["action"] for a in actions["instanceActions"]].count("stop") == 1
    events = wait_for(lambda: [e for e in api.get(
        "compute", f"/v2.1/servers/{sid}/os-instance-actions/{stop['request_id']}",
        headers=v("2.51")).json["instanceAction"]["events"] if e["finish_time"]] or None)
    assert [(e["event"], e["result"]) for e in events] == [("compute_power_update", "Error")]
    assert settled(api, sid)["status"] == "ACTIVE"


# -- os-assisted-volume-snapshots --------------------------------------------------------


def test_assisted_volume_snapshots(cloud, api, demo, image):  # noqa: F811
    sid, vid = _server_with_volume(cloud, api, image)
    body = {"snapshot": {"volume_id": vid, "create_info": {
        "snapshot_id": MISSING, "type": "qcow2", "new_file": "new_file"}}}
    created = api.post("compute", AVS, body)
    assert created.status == 200, created
    assert created.json == {"snapshot": {"id": None, "volumeId": vid}}
    body["snapshot"]["create_info"]["id"] = MISSING
    assert api.post("compute", AVS, body).json["snapshot"]["id"] == MISSING
    query = urlencode({"delete_info": json.dumps({"volume_id": vid})})
    deleted = api.delete("compute", f"{AVS}/{MISSING}?{query}")
    assert deleted.status == 204, deleted
    # refusals are all 400s with nova's texts
    body["snapshot"]["volume_id"] = MISSING
    unknown = api.post("compute", AVS, body)
    assert unknown.status == 400
    assert unknown.json["badRequest"]["message"] == (
        f"No volume Block Device Mapping with id {MISSING}.")
    no_info = api.delete("compute", f"{AVS}/{MISSING}")
    assert no_info.status == 400
    assert no_info.json["badRequest"]["message"] == "'delete_info'"
    no_volume = api.delete("compute", f"{AVS}/{MISSING}?delete_info=%7B%7D")
    assert no_volume.json["badRequest"]["message"] == "'volume_id'"
    bad_type = api.post("compute", AVS, {"snapshot": {"volume_id": vid, "create_info": {
        "snapshot_id": MISSING, "type": "raw", "new_file": "f"}}})
    assert bad_type.status == 400
    assert demo.post("compute", AVS, body).status == 403
    assert demo.delete("compute", f"{AVS}/{MISSING}?{query}").status == 403


# -- diagnostics -------------------------------------------------------------------------


def test_diagnostics_at_248_are_labelled_as_nova_fake_driver(api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    diag = api.get("compute", f"/v2.1/servers/{sid}/diagnostics", headers=v("2.48"))
    assert diag.status == 200, diag
    # nova/virt/fake.py get_instance_diagnostics; the schema's driver enum has no "fake"
    assert (diag.json["driver"], diag.json["hypervisor"], diag.json["hypervisor_os"]) == (
        "libvirt", "kvm", "ubuntu")
