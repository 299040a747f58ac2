"""Resize, cold and live migration across zones (nova-lifecycle reference §§3-4).

A server asked into a zone keeps it on every move (the stored request spec); a targeted
migration into another zone is accepted (202) and then fails in the conductor, leaving the
server where it was, as in current Nova.
"""

from __future__ import annotations

import pytest

from tests.functional.test_compute_servers import (  # noqa: F401
    LATEST, boot, confirmed, image, settled, v)
from tests.helpers import TWO_PER_ZONE, ApiClient, settle



def act(client, sid, body, headers=LATEST):
    """An action, and every cast it makes run to the end."""
    resp = client.post("compute", f"/v2.1/servers/{sid}/action", body, headers=headers)
    settle(client.cloud)
    return resp


def node_usage(api, host):
    nodes = api.get("compute", "/v2.1/os-hypervisors/detail", headers=v("2.52")).json
    node = next(n for n in nodes["hypervisors"] if n["hypervisor_hostname"] == host)
    return node["vcpus_used"], node["running_vms"]


@pytest.fixture
def zoned(cloud_factory):
    cloud = cloud_factory(topology=TWO_PER_ZONE)
    return ApiClient(cloud)


@pytest.fixture
def zoned_image(zoned):
    return _image(zoned)


def _image(api):
    resp = api.post("image", "/v2/images", {"name": "cirros", "disk_format": "qcow2",
                                            "container_format": "bare",
                                            "visibility": "public"})
    api.request("image", "PUT", f"/v2/images/{resp.json['id']}/file", raw=b"\0" * 512,
                headers={"Content-Type": "application/octet-stream"})
    return resp.json["id"]


def _server(api, img, zone="ag2", flavor="1"):
    sid = boot(api, img, zone, flavor=flavor).json["server"]["id"]
    server = settled(api, sid)
    assert server["status"] == "ACTIVE"
    return sid, server["OS-EXT-SRV-ATTR:host"]


def test_resize_moves_within_the_zone_and_confirm_releases_the_source(zoned, zoned_image):
    api = zoned
    sid, source = _server(api, zoned_image)
    other = {"c2a": "c2b", "c2b": "c2a"}[source]
    same = act(api, sid, {"resize": {"flavorRef": "1"}})
    assert same.status == 400 and same.json["badRequest"]["message"] == (
        "When resizing, instances must change flavor!")
    assert act(api, sid, {"resize": {"flavorRef": "2"}}).status == 202
    server = settled(api, sid)
    assert server["status"] == "VERIFY_RESIZE"
    assert server["OS-EXT-SRV-ATTR:host"] == other
    assert server["OS-EXT-AZ:availability_zone"] == "ag2"
    assert server["flavor"]["original_name"] == "m1.small"
    assert node_usage(api, source) == (1, 1)         # the source keeps its claim until...
    assert act(api, sid, {"confirmResize": None}).status == 204
    server = confirmed(api, sid)
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == other
    assert node_usage(api, source) == (0, 0)         # ...the resize is confirmed
    migrations = api.get("compute", "/v2.1/os-migrations", headers=LATEST).json["migrations"]
    assert [(m["migration_type"], m["status"]) for m in migrations] == [
        ("resize", "confirmed")]
    assert migrations[0]["source_compute"] == source and migrations[0]["dest_compute"] == other
    # the flavors' database ids, integers as in Nova (tempest's schema)
    assert isinstance(migrations[0]["old_instance_type_id"], int)
    events = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                     headers=LATEST).json["instanceActions"]
    assert [a["action"] for a in events][:2] == ["confirmResize", "resize"]


def test_resize_revert_goes_back_to_the_source_and_old_flavor(zoned, zoned_image):
    api = zoned
    sid, source = _server(api, zoned_image)
    act(api, sid, {"os-stop": None})
    settled(api, sid)
    assert act(api, sid, {"resize": {"flavorRef": "2"}}).status == 202
    assert settled(api, sid)["status"] == "VERIFY_RESIZE"
    assert act(api, sid, {"revertResize": None}).status == 202
    server = settled(api, sid)
    assert server["status"] == "SHUTOFF" and server["OS-EXT-SRV-ATTR:host"] == source
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert sum(node_usage(api, h)[1] for h in ("c2a", "c2b")) == 1
    again = act(api, sid, {"confirmResize": None})
    assert again.status == 409 and again.json["conflictingRequest"]["message"] == (
        f"Cannot 'confirmResize' instance {sid} while it is in vm_state stopped")


def test_cold_migrate_stays_in_the_zone_and_targeted_migrate_elsewhere_fails(
        zoned, zoned_image):
    api = zoned
    sid, source = _server(api, zoned_image)
    assert act(api, sid, {"migrate": None}).status == 202
    server = settled(api, sid)
    assert server["status"] == "VERIFY_RESIZE"
    assert server["OS-EXT-SRV-ATTR:host"] in ("c2a", "c2b") and \
        server["OS-EXT-SRV-ATTR:host"] != source
    assert act(api, sid, {"confirmResize": None}).status == 204
    host = confirmed(api, sid)["OS-EXT-SRV-ATTR:host"]
    here = act(api, sid, {"migrate": {"host": host}}, v("2.56"))
    assert here.status == 400 and here.json["badRequest"]["message"] == (
        "Cannot migrate to the host where the server exists.")
    nowhere = act(api, sid, {"migrate": {"host": "nope"}}, v("2.56"))
    assert nowhere.json["badRequest"]["message"] == "Compute host nope could not be found."
    # a host of another zone: accepted, then the conductor finds no valid host
    assert act(api, sid, {"migrate": {"host": "c1a"}}, v("2.56")).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == host
    migrations = api.get("compute", f"/v2.1/os-migrations?instance_uuid={sid}",
                         headers=LATEST).json["migrations"]
    assert migrations[0]["status"] == "error"
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                      headers=LATEST).json["instanceActions"]
    assert actions[0]["action"] == "migrate" and actions[0]["message"] == "Error"
    shown = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                               f"{actions[0]['request_id']}", headers=LATEST).json
    results = {e["event"]: e["result"] for e in shown["instanceAction"]["events"]}
    assert results == {"conductor_migrate_server": "Error", "cold_migrate": "Error"}


def test_resize_with_one_host_in_the_zone_ends_where_it_started(api, image):  # noqa: F811
    sid = boot(api, image, "ag1").json["server"]["id"]
    settled(api, sid)
    assert act(api, sid, {"resize": {"flavorRef": "2"}}).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "controller1"
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert "fault" not in server
    migration = api.get("compute", "/v2.1/os-migrations", headers=LATEST).json[
        "migrations"][0]
    assert migration["status"] == "error" and migration["migration_type"] == "resize"


def test_live_migration_keeps_the_zone(zoned, zoned_image):
    api = zoned
    sid, source = _server(api, zoned_image)
    console = api.post("compute", f"/v2.1/servers/{sid}/remote-consoles",
                       {"remote_console": {"protocol": "serial", "type": "serial"}},
                       headers=v("2.6")).json["remote_console"]["url"]
    token_path = f"/v2.1/os-console-auth-tokens/{console.split('token=')[1]}"
    assert api.get("compute", token_path, headers=v("2.31")).status == 200
    body = {"os-migrateLive": {"block_migration": "auto", "host": None}}
    assert act(api, sid, body).status == 202
    server = settled(api, sid)
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] in ("c2a", "c2b") and \
        server["OS-EXT-SRV-ATTR:host"] != source
    # the source's console tokens went with the guest (_post_live_migration)
    assert api.get("compute", token_path, headers=v("2.31")).status == 404
    migration = api.get("compute", "/v2.1/os-migrations", headers=LATEST).json[
        "migrations"][0]
    assert migration["migration_type"] == "live-migration"
    assert migration["status"] == "completed"
    old = act(api, sid, {"os-migrateLive": {"block_migration": False, "host": "c1a"}},
              v("2.33"))
    assert old.status == 400
    assert old.json["badRequest"]["message"].startswith("No valid host was found.")
    assert settled(api, sid)["status"] == "ACTIVE"
    forced = act(api, sid, {"os-migrateLive": {"block_migration": False, "host": None,
                                               "force": True}}, v("2.30"))
    assert forced.status == 400 and forced.json["badRequest"]["message"] == (
        "Can't force to a non-provided destination")


def test_server_migrations_list_only_in_progress_live_ones(zoned, zoned_image):
    api = zoned
    sid, _ = _server(api, zoned_image)
    url = f"/v2.1/servers/{sid}/migrations"
    assert api.get("compute", url, headers=v("2.22")).status == 404
    assert api.get("compute", url, headers=LATEST).json == {"migrations": []}
    assert api.get("compute", f"{url}/1", headers=LATEST).status == 404
