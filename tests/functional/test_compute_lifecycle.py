"""Server state actions, locks, instance actions, tags, consoles, diagnostics and usage.

Expected texts are Nova's (nova/api/openstack/common.py, compute/api.py, server_tags.py,
instance_actions.py), as the nova-lifecycle reference quotes them.
"""

from __future__ import annotations

import pytest

from tests.functional.test_compute_servers import LATEST, boot, image, settled, v  # noqa: F401


def act(client, sid, body, headers=LATEST):
    return client.post("compute", f"/v2.1/servers/{sid}/action", body, headers=headers)


@pytest.fixture
def server(api, image):  # noqa: F811
    sid = boot(api, image, "ag1").json["server"]["id"]
    assert settled(api, sid)["status"] == "ACTIVE"
    return sid


@pytest.fixture
def demo_server(demo, image):  # noqa: F811
    sid = boot(demo, image).json["server"]["id"]
    assert settled(demo, sid)["status"] == "ACTIVE"
    return sid


@pytest.mark.parametrize("action, undo, status", [
    ("pause", "unpause", "PAUSED"),
    ("suspend", "resume", "SUSPENDED"),
])
def test_pause_and_suspend_round_trip(api, server, action, undo, status):
    assert act(api, server, {action: None}).status == 202
    done = settled(api, server)
    assert done["status"] == status
    again = act(api, server, {action: None})
    assert again.status == 409
    assert again.json["conflictingRequest"]["message"] == (
        f"Cannot '{action}' instance {server} while it is in vm_state {status.lower()}")
    assert act(api, server, {undo: None}).status == 202
    assert settled(api, server)["status"] == "ACTIVE"


def test_rescue_returns_a_password_and_unrescue_ends_it(api, server):
    resp = act(api, server, {"rescue": {"adminPass": "s3cret"}})
    assert resp.status == 200 and resp.json == {"adminPass": "s3cret"}
    assert settled(api, server)["status"] == "RESCUE"
    generated = act(api, server, {"rescue": None})
    assert generated.status == 409
    assert act(api, server, {"unrescue": None}).status == 202
    assert settled(api, server)["status"] == "ACTIVE"
    resp = act(api, server, {"rescue": None})
    assert resp.status == 200 and len(resp.json["adminPass"]) == 12


def test_hard_reboot_of_a_paused_server_soft_reboot_refused(api, server):
    act(api, server, {"pause": None})
    settled(api, server)
    soft = act(api, server, {"reboot": {"type": "SOFT"}})
    assert soft.status == 409
    assert soft.json["conflictingRequest"]["message"] == (
        f"Cannot 'reboot' instance {server} while it is in vm_state paused")
    assert act(api, server, {"reboot": {"type": "hard"}}).status == 202
    assert settled(api, server)["status"] == "ACTIVE"


def test_lock_blocks_the_member_not_the_admin(api, demo, demo_server):
    sid = demo_server
    assert act(api, sid, {"lock": {"locked_reason": "maintenance"}}, v("2.73")).status == 202
    view = demo.get("compute", f"/v2.1/servers/{sid}", headers=v("2.73")).json["server"]
    assert view["locked"] is True and view["locked_reason"] == "maintenance"
    blocked = act(demo, sid, {"os-stop": None})
    assert blocked.status == 409
    assert blocked.json["conflictingRequest"]["message"] == f"Instance {sid} is locked"
    assert demo.delete("compute", f"/v2.1/servers/{sid}").status == 409
    # the owner cannot lift the admin's lock
    unlock = act(demo, sid, {"unlock": None})
    assert unlock.status == 403
    assert unlock.json["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be "
        "performed.")
    assert act(api, sid, {"os-stop": None}).status == 202      # admin is not blocked
    settled(api, sid)
    assert act(api, sid, {"unlock": None}).status == 202
    view = demo.get("compute", f"/v2.1/servers/{sid}", headers=v("2.73")).json["server"]
    assert view["locked"] is False and view["locked_reason"] is None
    assert act(demo, sid, {"os-start": None}).status == 202


def test_locked_reason_needs_273(api, server):
    resp = act(api, server, {"lock": {"locked_reason": "x"}}, v("2.72"))
    assert resp.status == 400


def test_instance_actions_record_each_request_with_events(api, demo, server):
    act(api, server, {"os-stop": None})
    settled(api, server)
    stop_id = None
    actions = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions",
                      headers=LATEST).json["instanceActions"]
    assert [a["action"] for a in actions] == ["stop", "create"]
    stop_id = actions[0]["request_id"]
    assert actions[0]["instance_uuid"] == server and actions[0]["message"] is None
    assert "updated_at" in actions[0]
    old = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions",
                  headers=v("2.57")).json["instanceActions"]
    assert "updated_at" not in old[0]
    shown = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions/{stop_id}",
                    headers=LATEST).json["instanceAction"]
    assert [e["event"] for e in shown["events"]] == ["compute_stop_instance"]
    event = shown["events"][0]
    assert event["result"] == "Success" and event["host"] == "controller1"
    assert "traceback" in event and "hostId" in event
    missing = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions/req-nope")
    assert missing.status == 404
    assert missing.json["itemNotFound"]["message"] == "Action req-nope not found"
    page = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions?limit=1",
                   headers=LATEST).json
    assert len(page["instanceActions"]) == 1 and "marker=" in page["links"][0]["href"]
    bad = api.get("compute", f"/v2.1/servers/{server}/os-instance-actions?marker=nope",
                  headers=LATEST)
    assert bad.status == 400
    assert bad.json["badRequest"]["message"] == "Marker nope could not be found."


def test_member_sees_events_from_251_without_traceback(demo, demo_server):
    actions = demo.get("compute", f"/v2.1/servers/{demo_server}/os-instance-actions",
                       headers=LATEST).json["instanceActions"]
    rid = actions[0]["request_id"]
    old = demo.get("compute", f"/v2.1/servers/{demo_server}/os-instance-actions/{rid}",
                   headers=v("2.50")).json["instanceAction"]
    assert "events" not in old
    new = demo.get("compute", f"/v2.1/servers/{demo_server}/os-instance-actions/{rid}",
                   headers=LATEST).json["instanceAction"]
    assert new["events"] and all("traceback" not in e and "host" not in e
                                 for e in new["events"])


def test_deleted_server_actions_readable_from_221(api, server):
    assert api.delete("compute", f"/v2.1/servers/{server}").status == 204
    from tests.helpers import wait_for
    wait_for(lambda: api.get("compute", f"/v2.1/servers/{server}").status == 404)
    url = f"/v2.1/servers/{server}/os-instance-actions"
    assert api.get("compute", url, headers=v("2.20")).status == 404
    actions = api.get("compute", url, headers=v("2.21")).json["instanceActions"]
    assert [a["action"] for a in actions] == ["delete", "create"]


def test_failed_build_leaves_an_error_event(api, image):  # noqa: F811
    api.put("compute", "/v2.1/os-services/force-down",
            {"host": "controller1", "binary": "nova-compute", "forced_down": True},
            headers=v("2.11"))
    sid = boot(api, image, "ag1").json["server"]["id"]
    assert settled(api, sid)["status"] == "ERROR"
    action = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                     headers=LATEST).json["instanceActions"][0]
    assert action["action"] == "create" and action["message"] == "Error"
    shown = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                               f"{action['request_id']}", headers=LATEST).json["instanceAction"]
    event = shown["events"][0]
    assert event["event"] == "conductor_schedule_and_build_instances"
    assert event["result"] == "Error" and "No valid host" in event["traceback"]
    assert event["details"].startswith("No valid host was found.")


def test_server_tags(api, server):
    base = f"/v2.1/servers/{server}/tags"
    assert api.get("compute", base, headers=v("2.25")).status == 404
    assert api.get("compute", base, headers=LATEST).json == {"tags": []}
    created = api.put("compute", f"{base}/blue", None, headers=LATEST)
    assert created.status == 201 and created.headers["Location"].endswith(f"{base}/blue")
    assert api.put("compute", f"{base}/blue", None, headers=LATEST).status == 204
    assert api.get("compute", f"{base}/blue", headers=LATEST).status == 204
    missing = api.get("compute", f"{base}/red", headers=LATEST)
    assert missing.status == 404
    assert missing.json["itemNotFound"]["message"] == f"Server {server} has no tag 'red'"
    bad = api.put("compute", f"{base}/a,b", None, headers=LATEST)
    assert bad.status == 400 and bad.json["badRequest"]["message"].startswith(
        "Tag 'a,b' is invalid. It must be a non empty string without characters '/' and ','.")
    full = api.put("compute", base, {"tags": ["a", "b", "a"]}, headers=LATEST)
    assert full.json == {"tags": ["a", "b"]}
    view = api.get("compute", f"/v2.1/servers/{server}", headers=LATEST).json["server"]
    assert view["tags"] == ["a", "b"]
    many = api.put("compute", base, {"tags": [f"t{i}" for i in range(50)]}, headers=LATEST)
    assert many.status == 200
    over = api.put("compute", f"{base}/t0", None, headers=LATEST)
    assert over.status == 400
    assert over.json["badRequest"]["message"] == (
        "The number of tags exceeded the per-server limit 50")
    assert api.delete("compute", base, headers=LATEST).status == 204
    gone = api.delete("compute", f"{base}/t1", headers=LATEST)
    assert gone.status == 404
    assert gone.json["itemNotFound"]["message"] == f"Instance {server} has no tag 't1'"


def test_tag_filters_on_the_server_list(api, image):  # noqa: F811
    ids = {}
    for name, tags in (("one", ["a", "b"]), ("two", ["b"]), ("three", [])):
        ids[name] = boot(api, image, name=name).json["server"]["id"]
        settled(api, ids[name])
        api.put("compute", f"/v2.1/servers/{ids[name]}/tags", {"tags": tags}, headers=LATEST)

    def names(query):
        servers = api.get("compute", f"/v2.1/servers?{query}", headers=LATEST).json["servers"]
        return sorted(s["name"] for s in servers)

    assert names("tags=a,b") == ["one"]
    assert names("tags-any=a,b") == ["one", "two"]
    assert names("not-tags=a,b") == ["three", "two"]
    assert names("not-tags-any=a") == ["three", "two"]


def test_tags_refused_while_paused_is_fine_but_not_in_error(api, server):
    api.post("compute", f"/v2.1/servers/{server}/action", {"os-resetState": {"state": "error"}})
    resp = api.put("compute", f"/v2.1/servers/{server}/tags/x", None, headers=LATEST)
    assert resp.status == 409
    assert resp.json["conflictingRequest"]["message"] == (
        f"Cannot 'update tag' instance {server} while it is in vm_state error")


def test_console_shows_a_power_down_and_the_next_boot(api, server):
    act(api, server, {"os-stop": None})
    assert settled(api, server)["status"] == "SHUTOFF"
    act(api, server, {"os-start": None})
    assert settled(api, server)["status"] == "ACTIVE"
    full = act(api, server, {"os-getConsoleOutput": {}}).json["output"]
    assert full.count("Linux version") == 2 and "reboot: Power down" in full
    assert full.index("reboot: Power down") < full.rindex("Linux version")


def test_console_output_and_remote_consoles(api, server):
    out = act(api, server, {"os-getConsoleOutput": {"length": 1}})
    assert out.status == 200 and out.json["output"] == f"host-{server[:8]} login: "
    three = act(api, server, {"os-getConsoleOutput": {"length": 3}}).json["output"]
    assert len(three.split("\n")) == 3      # tempest's count after a hard reboot
    full = act(api, server, {"os-getConsoleOutput": {"length": None}}).json["output"]
    # -1 is Nova's _tail_log of -1 pieces: everything but the first line.
    most = act(api, server, {"os-getConsoleOutput": {"length": -1}}).json["output"]
    assert most == full.split("\n", 1)[1]
    # A boot log of many lines (tempest's unlimited-length check wants more than 3).
    assert f"cloud-init[412]: instance-id: {server}" in full and full.count("\n") > 3
    assert full.endswith("login: ")
    url = f"/v2.1/servers/{server}/remote-consoles"
    vnc = api.post("compute", url, {"remote_console": {"protocol": "vnc", "type": "novnc"}},
                   headers=LATEST)
    assert vnc.status == 200
    assert vnc.json["remote_console"]["protocol"] == "vnc"
    assert vnc.json["remote_console"]["type"] == "novnc"
    assert "vnc_auto.html" in vnc.json["remote_console"]["url"]
    rdp = api.post("compute", url, {"remote_console": {"protocol": "rdp", "type": "rdp-html5"}},
                   headers=LATEST)
    assert rdp.status == 400 and rdp.json["badRequest"]["message"] == (
        "Unavailable console type rdp.")
    mismatch = api.post("compute", url, {"remote_console": {"protocol": "vnc",
                                                             "type": "serial"}},
                        headers=LATEST)
    assert mismatch.json["badRequest"]["message"] == "Invalid console type serial"
    legacy = act(api, server, {"os-getVNCConsole": {"type": "novnc"}}, v("2.5"))
    assert legacy.status == 200 and legacy.json["console"]["type"] == "novnc"
    assert act(api, server, {"os-getVNCConsole": {"type": "novnc"}}).status == 400


def test_diagnostics_admin_only_with_248_shape(api, demo, demo_server):
    url = f"/v2.1/servers/{demo_server}/diagnostics"
    assert demo.get("compute", url).status == 403
    diag = api.get("compute", url, headers=LATEST).json
    assert {"state", "driver", "hypervisor", "hypervisor_os", "uptime", "config_drive",
            "num_cpus", "num_nics", "num_disks", "disk_details", "cpu_details",
            "nic_details", "memory_details"} == set(diag)
    assert diag["state"] == "running" and diag["num_cpus"] == 1


def test_change_password_trigger_crash_dump_and_server_password(api, server):
    assert act(api, server, {"changePassword": {"adminPass": "n3w"}}).status == 202
    assert settled(api, server)["status"] == "ACTIVE"
    assert act(api, server, {"changePassword": {}}).status == 400
    assert act(api, server, {"trigger_crash_dump": None}, v("2.16")).status == 400
    assert act(api, server, {"trigger_crash_dump": None}, v("2.17")).status == 202
    pw = api.get("compute", f"/v2.1/servers/{server}/os-server-password")
    assert pw.json == {"password": ""}
    assert api.delete("compute", f"/v2.1/servers/{server}/os-server-password").status == 204
    names = [a["action"] for a in api.get(
        "compute", f"/v2.1/servers/{server}/os-instance-actions",
        headers=LATEST).json["instanceActions"]]
    assert names[:2] == ["trigger_crash_dump", "changePassword"]


def test_simple_tenant_usage(api, demo, demo_server):
    usage = api.get("compute", "/v2.1/os-simple-tenant-usage?detailed=1"
                               "&start=2020-01-01T00:00:00").json["tenant_usages"]
    mine = [u for u in usage if u["tenant_id"] == demo.project_id]
    assert mine and mine[0]["server_usages"][0]["instance_id"] == demo_server
    assert demo.get("compute", "/v2.1/os-simple-tenant-usage").status == 403
    own = demo.get("compute", f"/v2.1/os-simple-tenant-usage/{demo.project_id}"
                              "?start=2020-01-01T00:00:00").json["tenant_usage"]
    assert own["tenant_id"] == demo.project_id and own["total_vcpus_usage"] >= 0
    bad = api.get("compute", "/v2.1/os-simple-tenant-usage?start=2030-01-01T00:00:00"
                             "&end=2020-01-01T00:00:00")
    assert bad.status == 400 and bad.json["badRequest"]["message"] == (
        "Invalid start time. The start time cannot occur after the end time.")
