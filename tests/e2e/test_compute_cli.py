"""The real `openstack` CLI, `nova` CLI and openstacksdk against `stackling start -d`:
zones, aggregates, services and servers on the seed topology (issue #3 acceptance)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def image(live_cloud, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "cirros.img"
    path.write_bytes(b"\0" * 4096)
    out = live_cloud.openstack_json("image", "create", "--file", str(path), "--disk-format",
                                    "qcow2", "--container-format", "bare", "--public",
                                    "e2e-cirros")
    return out["id"]


def zone_rows(live_cloud):
    rows = live_cloud.openstack_json("availability", "zone", "list", "--compute", "--long")
    return {(r["Zone Name"], r["Zone Status"], r["Host Name"], r["Service Name"]) for r in rows}


def test_zone_list_shows_the_seed(live_cloud):
    assert zone_rows(live_cloud) == {
        ("internal", "available", "controller2", "nova-scheduler"),
        ("internal", "available", "controller2", "nova-conductor"),
        ("nova", "available", "controller3", "nova-compute"),
        ("ag1", "available", "controller1", "nova-compute"),
        ("ag2", "available", "controller2", "nova-compute")}
    demo = live_cloud.openstack_json("availability", "zone", "list", "--compute",
                                     cloud="stackling-demo")
    assert [z["Zone Name"] for z in demo] == ["ag1", "ag2", "nova"]


def test_novaclient_prints_the_seed_tree(live_cloud):
    auth = yaml.safe_load((live_cloud.data_dir / "clouds.yaml").read_text())[
        "clouds"]["stackling"]["auth"]
    env = live_cloud.env
    env.pop("OS_CLOUD")
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default")
    r = subprocess.run(["nova", "availability-zone-list"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    # a row is "| <name> | <status> |", and names themselves hold "|" ("| |- nova-compute")
    lines = [[c.strip() for c in line[1:-1].rsplit("|", 1)]
             for line in r.stdout.splitlines() if line.startswith("|")][1:]
    names = [row[0] for row in lines]
    assert names[names.index("internal") + 1] == "|- controller2"
    assert {names[names.index("internal") + 2], names[names.index("internal") + 3]} == {
        "| |- nova-conductor", "| |- nova-scheduler"}
    assert names[names.index("nova") + 1:names.index("nova") + 3] == [
        "|- controller3", "| |- nova-compute"]
    assert names[names.index("ag1") + 1] == "|- controller1"
    assert all(row[1].startswith("enabled :-)") for row in lines if row[0].startswith("| |-"))


def test_aggregate_zone_conflict_and_move(live_cloud):
    agg = live_cloud.openstack_json("aggregate", "create", "--zone", "ag3", "agg3")
    assert agg["availability_zone"] == "ag3"
    try:
        r = live_cloud.openstack("aggregate", "add", "host", "agg3", "controller1")
        assert r.returncode == 1
        assert (f"Cannot add host to aggregate {agg['id']}. Reason: One or more hosts already "
                "in availability zone(s) ['ag1'].") in r.stderr
        assert "409" in r.stderr
        moved = live_cloud.openstack_json("aggregate", "add", "host", "agg3", "controller3")
        assert moved["hosts"] == ["controller3"]
        rows = zone_rows(live_cloud)
        assert ("ag3", "available", "controller3", "nova-compute") in rows
        assert not any(row[0] == "nova" for row in rows)
    finally:
        live_cloud.openstack("aggregate", "remove", "host", "agg3", "controller3")
        live_cloud.openstack("aggregate", "delete", "agg3")
    assert ("nova", "available", "controller3", "nova-compute") in zone_rows(live_cloud)


def test_server_create_in_a_zone(live_cloud, image):
    server = live_cloud.openstack_json("server", "create", "--image", image, "--flavor",
                                       "m1.tiny", "--availability-zone", "ag1", "--nic", "none",
                                       "vm1", "--wait")
    try:
        assert server["status"] == "ACTIVE"
        assert server["OS-EXT-SRV-ATTR:host"] == "controller1"
        assert server["OS-EXT-AZ:availability_zone"] == "ag1"
        listed = live_cloud.openstack_json("server", "list", "--long")
        assert [(s["Name"], s["Availability Zone"], s["Host"]) for s in listed] == [
            ("vm1", "ag1", "controller1")]
        r = live_cloud.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                                 "--availability-zone", "ag9", "--nic", "none", "vm2")
        assert r.returncode == 1
        assert "400" in r.stderr
        assert "The requested availability zone is not available" in r.stderr
    finally:
        live_cloud.openstack("server", "delete", "--wait", "vm1")
    assert live_cloud.openstack_json("server", "list") == []


def test_down_or_disabled_host(live_cloud, image):
    live_cloud.openstack("compute", "service", "set", "--down", "controller1", "nova-compute")
    try:
        r = live_cloud.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                                 "--availability-zone", "ag1", "--nic", "none", "doomed",
                                 "--wait")
        assert r.returncode == 1
        shown = live_cloud.openstack_json("server", "show", "doomed")
        assert shown["status"] == "ERROR"
        assert shown["fault"]["message"] == (
            "No valid host was found. There are not enough hosts available.")
    finally:
        live_cloud.openstack("server", "delete", "--wait", "doomed")
        live_cloud.openstack("compute", "service", "set", "--up", "controller1",
                             "nova-compute")
    live_cloud.openstack("compute", "service", "set", "--disable", "--disable-reason", "maint",
                         "controller1", "nova-compute")
    try:
        zones = live_cloud.openstack_json("availability", "zone", "list", "--compute")
        assert {"Zone Name": "ag1", "Zone Status": "not available"} in zones
        assert {"Zone Name": "ag2", "Zone Status": "available"} in zones
        r = live_cloud.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                                 "--availability-zone", "ag1", "--nic", "none", "vm3")
        assert "The requested availability zone is not available" in r.stderr
    finally:
        live_cloud.openstack("compute", "service", "set", "--enable", "controller1",
                             "nova-compute")


def test_quota_flavor_and_microversion_errors(live_cloud, image):
    live_cloud.openstack("quota", "set", "--instances", "0", "demo")
    try:
        r = live_cloud.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                                 "--nic", "none", "q1", cloud="stackling-demo")
        assert r.returncode == 1 and "403" in r.stderr
        assert ("Quota exceeded for instances: Requested 1, but already used 0 of 0 "
                "instances") in r.stderr
    finally:
        live_cloud.openstack("quota", "set", "--instances", "10", "demo")
    conn = live_cloud.connect()
    from openstack import exceptions

    with pytest.raises(exceptions.BadRequestException) as err:
        conn.compute.create_server(name="x", image_id=image, flavor_id="999", networks="none")
    assert "Flavor 999 could not be found." in str(err.value)
    token = live_cloud.openstack_json("token", "issue")["id"]
    req = urllib.request.Request(f"{live_cloud.url('compute')}/v2.1/servers", headers={
        "X-Auth-Token": token, "OpenStack-API-Version": "compute 2.999"})
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(req, timeout=10)
    assert http.value.code == 406
    # Nova has no fault name for 406, so it is a computeFault
    assert json.loads(http.value.read()) == {"computeFault": {
        "code": 406, "message": "Version 2.999 is not supported by the API. Minimum is 2.1 "
                                "and maximum is 2.101."}}
