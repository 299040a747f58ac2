"""Servers, scheduling, flavors, hypervisors, quotas and limits over HTTP, in-process."""

from __future__ import annotations

import pytest

from tests.helpers import wait_for

LATEST = {"OpenStack-API-Version": "compute 2.100"}


def v(version):
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture
def image(api):
    resp = api.post("image", "/v2/images", {"name": "cirros", "disk_format": "qcow2",
                                            "container_format": "bare",
                                            "visibility": "public"})
    assert resp.status == 201, resp
    image_id = resp.json["id"]
    up = api.request("image", "PUT", f"/v2/images/{image_id}/file", raw=b"\0" * 512,
                     headers={"Content-Type": "application/octet-stream"})
    assert up.status == 204, up
    return image_id


def boot(client, image, zone=None, name="vm1", flavor="1", headers=LATEST, **extra):
    server = {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none",
              **extra}
    if zone is not None:
        server["availability_zone"] = zone
    return client.post("compute", "/v2.1/servers", {"server": server}, headers=headers)


def settled(client, server_id, headers=LATEST):
    def done():
        body = client.get("compute", f"/v2.1/servers/{server_id}", headers=headers).json
        return body["server"] if body["server"]["status"] not in ("BUILD",) and \
            body["server"]["OS-EXT-STS:task_state"] is None else None
    return wait_for(done, timeout=10)


def confirmed(client, server_id, headers=LATEST):
    """Wait out a confirmResize: Nova casts it to the source host and leaves vm_state
    'resized' (and task_state None) until that host is done, so settled() cannot tell."""
    def done():
        body = client.get("compute", f"/v2.1/servers/{server_id}", headers=headers).json
        return body["server"] if body["server"]["status"] != "VERIFY_RESIZE" else None
    return wait_for(done, timeout=10)


def test_boot_into_ag1_lands_on_controller1(api, image):
    resp = boot(api, image, "ag1")
    assert resp.status == 202, resp
    body = resp.json["server"]
    assert set(body) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert resp.headers["Location"] == body["links"][0]["href"]
    server = settled(api, body["id"])
    assert server["status"] == "ACTIVE" and server["OS-EXT-STS:power_state"] == 1
    assert server["OS-EXT-SRV-ATTR:host"] == "controller1"
    assert server["OS-EXT-AZ:availability_zone"] == "ag1"
    assert server["pinned_availability_zone"] == "ag1"
    assert server["flavor"]["original_name"] == "m1.tiny"
    old = api.get("compute", f"/v2.1/servers/{body['id']}", headers=v("2.95")).json["server"]
    assert "pinned_availability_zone" not in old
    legacy = api.get("compute", f"/v2.1/servers/{body['id']}").json["server"]
    assert legacy["flavor"]["id"] == "1" and "locked" not in legacy
    assert "OS-EXT-SRV-ATTR:hostname" not in legacy


def test_unknown_zone_is_400(api, image):
    resp = boot(api, image, "ag9")
    assert resp.status == 400
    assert resp.json == {"badRequest": {"code": 400, "message":
                                        "The requested availability zone is not available"}}
    bad = boot(api, image, "a:b:c:d")
    assert bad.json["badRequest"]["message"] == (
        "Invalid input received: Unable to parse availability_zone")


def test_internal_passes_the_zone_check(api, image):
    # `internal` has enabled services, so API.create accepts it; no aggregate carries it,
    # so today's placement pre-filter restricts nothing (2016's AvailabilityZoneFilter
    # failed the build instead). The server lands on a compute host, in that host's zone.
    resp = boot(api, image, "internal")
    assert resp.status == 202
    server = settled(api, resp.json["server"]["id"])
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-AZ:availability_zone"] != "internal"
    assert server["pinned_availability_zone"] == "internal"


def test_down_host_gives_no_valid_host(api, demo, image):
    # forced down: still enabled, so ag1 stays available, but ComputeFilter fails it
    api.put("compute", "/v2.1/os-services/force-down",
            {"host": "controller1", "binary": "nova-compute", "forced_down": True},
            headers=v("2.11"))
    resp = boot(demo, image, "ag1")
    assert resp.status == 202, resp
    server = settled(demo, resp.json["server"]["id"])
    assert server["status"] == "ERROR" and server["OS-EXT-STS:vm_state"] == "error"
    assert server["fault"]["code"] == 500 and "details" not in server["fault"]
    assert server["fault"]["message"] == (
        "No valid host was found. There are not enough hosts available.")
    assert "OS-EXT-SRV-ATTR:host" not in server
    admin_view = api.get("compute", f"/v2.1/servers/{server['id']}", headers=LATEST).json
    assert "details" in admin_view["server"]["fault"]
    assert admin_view["server"]["OS-EXT-SRV-ATTR:host"] is None
    assert admin_view["server"]["OS-EXT-AZ:availability_zone"] == "ag1"


def test_disabled_host_makes_its_only_zone_unavailable(api, demo, image):
    api.put("compute", "/v2.1/os-services/disable",
            {"host": "controller1", "binary": "nova-compute"})
    index = api.get("compute", "/v2.1/os-availability-zone").json["availabilityZoneInfo"]
    assert index[-1] == {"zoneName": "ag1", "zoneState": {"available": False}, "hosts": None}
    resp = boot(demo, image, "ag1")
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        "The requested availability zone is not available")
    # a zone with another enabled service stays available, and the build skips the
    # disabled host
    plain = api.post("compute", "/v2.1/os-aggregates",
                     {"aggregate": {"name": "more-ag1"}}).json["aggregate"]
    api.post("compute", f"/v2.1/os-aggregates/{plain['id']}/action",
             {"set_metadata": {"metadata": {"availability_zone": "ag1"}}})
    api.post("compute", f"/v2.1/os-aggregates/{plain['id']}/action",
             {"add_host": {"host": "controller3"}})
    server = settled(api, boot(demo, image, "ag1").json["server"]["id"])
    assert server["OS-EXT-SRV-ATTR:host"] == "controller3"


def test_forced_host_is_admin_only(api, demo, image):
    resp = boot(demo, image, "nova:controller3")
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
    resp = boot(api, image, "nova:controller3")
    server = settled(api, resp.json["server"]["id"])
    assert server["OS-EXT-SRV-ATTR:host"] == "controller3"
    assert server["OS-EXT-AZ:availability_zone"] == "nova"


def test_asking_for_nova_restricts_nothing(api, image):
    # controller1 and controller3 are the emptiest once controller2 carries a server
    first = settled(api, boot(api, image, "ag2", name="a").json["server"]["id"])
    assert first["OS-EXT-SRV-ATTR:host"] == "controller2"
    second = settled(api, boot(api, image, "nova", name="b").json["server"]["id"])
    # the weigher picked controller1 (first of the equally free hosts): zone ag1, not nova
    assert second["OS-EXT-SRV-ATTR:host"] == "controller1"
    assert second["OS-EXT-AZ:availability_zone"] == "ag1"
    assert second["pinned_availability_zone"] == "nova"


def test_default_schedule_zone(cloud_factory, image_factory=None):
    cloud = cloud_factory(nova="[DEFAULT]\ndefault_schedule_zone = ag2\n")
    from tests.helpers import ApiClient

    api = ApiClient(cloud)
    img = api.post("image", "/v2/images", {"name": "i", "disk_format": "raw",
                                           "container_format": "bare"}).json["id"]
    api.request("image", "PUT", f"/v2/images/{img}/file", raw=b"x",
                headers={"Content-Type": "application/octet-stream"})
    server = settled(api, boot(api, img).json["server"]["id"])
    assert server["OS-EXT-SRV-ATTR:host"] == "controller2"
    assert server["pinned_availability_zone"] == "ag2"


def test_create_validation(api, image):
    resp = boot(api, image, flavor="999")
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == "Flavor 999 could not be found."
    resp = boot(api, "6bd4ee95-1111-4c2b-9d3a-000000000000")
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == "Can not find requested image"
    no_net = api.post("compute", "/v2.1/servers", {"server": {
        "name": "x", "imageRef": image, "flavorRef": "1"}}, headers=v("2.37"))
    assert no_net.status == 400
    assert "'networks' is a required property" in no_net.json["badRequest"]["message"]
    old = api.post("compute", "/v2.1/servers", {"server": {
        "name": "x", "imageRef": image, "flavorRef": "1"}}, headers=v("2.36"))
    assert old.status == 202
    extra = boot(api, image, bogus=1)
    assert extra.status == 400
    assert "Additional properties are not allowed ('bogus' was unexpected)" in \
        extra.json["badRequest"]["message"]


def test_microversion_errors(api):
    resp = api.get("compute", "/v2.1/servers", headers=v("2.102"))
    assert resp.status == 406
    assert resp.json["computeFault"]["message"] == (
        "Version 2.102 is not supported by the API. Minimum is 2.1 and maximum is 2.101.")
    bad = api.get("compute", "/v2.1/servers", headers=v("2.x"))
    assert bad.status == 400
    assert bad.json["badRequest"]["message"] == (
        "API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.")
    ok = api.get("compute", "/v2.1/servers", headers=v("latest"))
    assert ok.headers["OpenStack-API-Version"] == "compute 2.101"
    assert ok.headers["X-OpenStack-Nova-API-Version"] == "2.101"
    root = api.get("compute", "/", token=None).json["versions"][1]
    assert (root["min_version"], root["version"]) == ("2.1", "2.101")


def test_list_filters_and_pagination(api, demo, image):
    ids = []
    for i, zone in enumerate(("ag1", "ag2", "ag1")):
        ids.append(boot(demo if i < 2 else api, image, zone, name=f"web{i}").json["server"]["id"])
    for sid in ids:
        settled(api, sid)
    mine = demo.get("compute", "/v2.1/servers").json["servers"]
    assert [s["name"] for s in mine] == ["web1", "web0"]
    assert set(mine[0]) == {"id", "name", "links"}
    every = api.get("compute", "/v2.1/servers/detail?all_tenants=1", headers=LATEST).json
    assert len(every["servers"]) == 3
    by_zone = api.get("compute", "/v2.1/servers/detail?all_tenants=1&availability_zone=ag1",
                      headers=LATEST).json["servers"]
    assert {s["name"] for s in by_zone} == {"web0", "web2"}
    by_host = api.get("compute", "/v2.1/servers?all_tenants=1&host=controller2").json
    assert [s["name"] for s in by_host["servers"]] == ["web1"]
    demo_host = demo.get("compute", "/v2.1/servers?host=controller2").json["servers"]
    assert len(demo_host) == 2       # host is an admin filter: ignored for members
    assert demo.get("compute", "/v2.1/servers?name=^web0$").json["servers"][0]["id"] == ids[0]
    assert demo.get("compute", "/v2.1/servers?status=SHUTOFF").json["servers"] == []
    page = api.get("compute", "/v2.1/servers?all_tenants=1&limit=2").json
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    rest = api.get("compute", "/v2.1/servers?all_tenants=1&limit=2&marker="
                   f"{page['servers'][1]['id']}").json
    assert len(rest["servers"]) == 1
    bad = api.get("compute", "/v2.1/servers?marker=nope")
    assert bad.status == 400 and bad.json["badRequest"]["message"] == "marker [nope] not found"
    forbidden = demo.get("compute", "/v2.1/servers?all_tenants=1")
    assert forbidden.status == 403
    detail = demo.get("compute", "/v2.1/servers/detail", headers=LATEST).json["servers"][0]
    assert not any(k.startswith("OS-EXT-SRV-ATTR:") and k != "OS-EXT-SRV-ATTR:hostname"
                   for k in detail)
    assert "host_status" not in detail
    since = api.get("compute", "/v2.1/servers?all_tenants=1&changes-since=2000-01-01T00:00:00Z")
    assert len(since.json["servers"]) == 3
    # each filter on a bind parameter of the list's prebuilt statement
    assert len(demo.get("compute", "/v2.1/servers?flavor=1").json["servers"]) == 2
    assert demo.get("compute", "/v2.1/servers?flavor=2").json["servers"] == []
    assert len(demo.get("compute", f"/v2.1/servers?image={image}&flavor=1")
               .json["servers"]) == 2
    assert demo.get("compute", "/v2.1/servers?image=nope").json["servers"] == []
    rid = api.get("compute", f"/v2.1/servers/{ids[1]}", headers=LATEST).json["server"][
        "OS-EXT-SRV-ATTR:reservation_id"]
    assert [s["id"] for s in demo.get("compute", f"/v2.1/servers?reservation_id={rid}")
            .json["servers"]] == [ids[1]]
    assert demo.get("compute", "/v2.1/servers?status=ACTIVE&changes-before="
                    "2000-01-01T00:00:00Z", headers=LATEST).json["servers"] == []
    # other projects' servers are invisible to members
    other = demo.get("compute", f"/v2.1/servers/{ids[2]}")
    assert other.status == 404


def test_update_start_stop_reboot_delete(api, image):
    sid = boot(api, image, "ag1").json["server"]["id"]
    settled(api, sid)
    reduced = api.put("compute", f"/v2.1/servers/{sid}", {"server": {"name": "renamed"}},
                      headers=v("2.74")).json["server"]
    assert reduced["name"] == "renamed" and "OS-EXT-AZ:availability_zone" not in reduced
    full = api.put("compute", f"/v2.1/servers/{sid}", {"server": {"description": "d"}},
                   headers=v("2.75")).json["server"]
    assert full["description"] == "d" and full["OS-EXT-AZ:availability_zone"] == "ag1"
    conflict = api.post("compute", f"/v2.1/servers/{sid}/action", {"os-start": None})
    assert conflict.status == 409
    assert conflict.json["conflictingRequest"]["message"] == (
        f"Cannot 'start' instance {sid} while it is in vm_state active")
    assert api.post("compute", f"/v2.1/servers/{sid}/action", {"os-stop": None}).status == 202
    stopped = settled(api, sid)
    assert stopped["status"] == "SHUTOFF" and stopped["OS-EXT-STS:power_state"] == 4
    assert api.post("compute", f"/v2.1/servers/{sid}/action", {"os-start": None}).status == 202
    assert settled(api, sid)["status"] == "ACTIVE"
    assert api.post("compute", f"/v2.1/servers/{sid}/action",
                    {"reboot": {"type": "HARD"}}).status == 202
    assert settled(api, sid)["status"] == "ACTIVE"
    meta = api.put("compute", f"/v2.1/servers/{sid}/metadata/k", {"meta": {"k": "v"}})
    assert meta.json == {"meta": {"k": "v"}}
    assert api.get("compute", f"/v2.1/servers/{sid}/metadata").json == {"metadata": {"k": "v"}}
    assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204
    wait_for(lambda: api.get("compute", f"/v2.1/servers/{sid}").status == 404)
    node = api.get("compute", "/v2.1/os-hypervisors/detail").json["hypervisors"][0]
    assert node["running_vms"] == 0 and node["memory_mb_used"] == 512


def test_capacity_is_claimed(api, image):
    big = api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "huge", "ram": 20000, "vcpus": 2, "disk": 10, "id": "huge"}})
    assert big.status == 200
    api.put("compute", "/v2.1/os-quota-sets/" + api.project_id,
            {"quota_set": {"ram": -1, "instances": -1, "cores": -1}})
    hosts = []
    for i in range(4):
        sid = boot(api, image, flavor="huge", name=f"h{i}").json["server"]["id"]
        hosts.append(settled(api, sid).get("OS-EXT-SRV-ATTR:host"))
    assert sorted(h for h in hosts if h) == ["controller1", "controller2", "controller3"]
    assert hosts.count(None) == 1
    stats = api.get("compute", "/v2.1/os-hypervisors/statistics").json["hypervisor_statistics"]
    assert stats["count"] == 3 and stats["running_vms"] == 3
    assert stats["memory_mb_used"] == 3 * (20000 + 512)


def test_quota_exceeded_is_403(api, demo, image):
    api.put("compute", "/v2.1/os-quota-sets/" + demo.token and
            "/v2.1/os-quota-sets/" + demo.project_id, {"quota_set": {"instances": 1}})
    assert boot(demo, image, "ag1").status == 202
    resp = boot(demo, image, "ag1")
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == (
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances")
    api.put("compute", "/v2.1/os-quota-sets/" + demo.project_id,
            {"quota_set": {"instances": 10, "cores": 2}})
    resp = boot(demo, image, "ag1", flavor="3")
    assert resp.json["forbidden"]["message"] == (
        "Quota exceeded for cores: Requested 2, but already used 1 of 2 cores")
    limits = demo.get("compute", "/v2.1/limits").json["limits"]["absolute"]
    assert limits["maxTotalInstances"] == 10 and limits["totalInstancesUsed"] == 1
    assert limits["maxTotalCores"] == 2 and limits["totalCoresUsed"] == 1
    assert "maxTotalFloatingIps" in limits
    assert "maxTotalFloatingIps" not in demo.get("compute", "/v2.1/limits",
                                                 headers=LATEST).json["limits"]["absolute"]
    quota = api.get("compute", f"/v2.1/os-quota-sets/{demo.project_id}", headers=LATEST).json
    assert quota["quota_set"]["cores"] == 2 and "floating_ips" not in quota["quota_set"]
    denied = demo.put("compute", f"/v2.1/os-quota-sets/{demo.project_id}",
                      {"quota_set": {"instances": 100}})
    assert denied.status == 403


def test_flavors(api, demo):
    names = [f["name"] for f in demo.get("compute", "/v2.1/flavors").json["flavors"]]
    # sorted by flavorid as strings, as Nova does
    assert names == ["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.nano", "m1.xlarge"]
    nano = demo.get("compute", "/v2.1/flavors/42").json["flavor"]
    assert nano["disk"] == 0 and nano["swap"] == ""
    assert demo.get("compute", "/v2.1/flavors/42", headers=LATEST).json["flavor"]["swap"] == 0
    denied = demo.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "x", "ram": 1, "vcpus": 1, "disk": 0}})
    assert denied.status == 403
    private = api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "priv", "ram": 64, "vcpus": 1, "disk": 0, "os-flavor-access:is_public": False}},
        headers=LATEST).json["flavor"]
    assert demo.get("compute", f"/v2.1/flavors/{private['id']}").status == 404
    added = api.post("compute", f"/v2.1/flavors/{private['id']}/action",
                     {"addTenantAccess": {"tenant": demo.project_id}})
    assert added.json == {"flavor_access": [{"flavor_id": private["id"],
                                             "tenant_id": demo.project_id}]}
    assert demo.get("compute", f"/v2.1/flavors/{private['id']}").status == 200
    specs = api.post("compute", f"/v2.1/flavors/{private['id']}/os-extra_specs",
                     {"extra_specs": {"hw:cpu_policy": "dedicated"}})
    assert specs.json == {"extra_specs": {"hw:cpu_policy": "dedicated"}}
    shown = api.get("compute", f"/v2.1/flavors/{private['id']}", headers=LATEST).json
    assert shown["flavor"]["extra_specs"] == {"hw:cpu_policy": "dedicated"}
    dup = api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "priv", "ram": 64, "vcpus": 1, "disk": 0}})
    assert dup.status == 409
    assert dup.json["conflictingRequest"]["message"] == "Flavor with name priv already exists."
    public_access = api.get("compute", "/v2.1/flavors/1/os-flavor-access")
    assert public_access.status == 404
    assert api.delete("compute", f"/v2.1/flavors/{private['id']}").status == 202


def test_hypervisors(api, demo):
    listing = api.get("compute", "/v2.1/os-hypervisors").json["hypervisors"]
    assert [h["hypervisor_hostname"] for h in listing] == ["controller1", "controller2",
                                                          "controller3"]
    assert listing[0] == {"id": 1, "hypervisor_hostname": "controller1", "state": "up",
                          "status": "enabled"}
    detail = api.get("compute", "/v2.1/os-hypervisors/detail").json["hypervisors"][0]
    assert (detail["vcpus"], detail["memory_mb"], detail["local_gb"]) == (16, 32768, 500)
    assert detail["free_ram_mb"] == 32768 - 512
    new = api.get("compute", "/v2.1/os-hypervisors/detail", headers=v("2.88")).json
    assert "vcpus" not in new["hypervisors"][0] and len(new["hypervisors"][0]["id"]) == 36
    one = api.get("compute", f"/v2.1/os-hypervisors/{new['hypervisors'][0]['id']}",
                  headers=v("2.88"))
    assert one.json["hypervisor"]["hypervisor_hostname"] == "controller1"
    assert api.get("compute", "/v2.1/os-hypervisors/statistics", headers=v("2.88")).status == 404
    assert demo.get("compute", "/v2.1/os-hypervisors").status == 403


def test_access_ips_are_validated_and_ipv6_compressed(api, image):
    resp = boot(api, image, accessIPv4="1.1.1.1",
                accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2")
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    server = api.get("compute", f"/v2.1/servers/{sid}").json["server"]
    assert (server["accessIPv4"], server["accessIPv6"]) == ("1.1.1.1", "::babe:dc0c:1602")
    upd = api.put("compute", f"/v2.1/servers/{sid}",
                  {"server": {"accessIPv6": "2001:0db8:0000:0000:0000:0000:0000:0001"}})
    assert upd.status == 200 and upd.json["server"]["accessIPv6"] == "2001:db8::1"
    bad = boot(api, image, accessIPv6="1.1.1.1")
    assert bad.status == 400
    assert api.put("compute", f"/v2.1/servers/{sid}",
                   {"server": {"accessIPv4": "not-an-ip"}}).status == 400


def test_reset_state_and_restore(api, demo, image):
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    url = f"/v2.1/servers/{sid}/action"
    for state in ("invalid", 1):
        assert api.post("compute", url, {"os-resetState": {"state": state}}).status == 400
    assert demo.post("compute", url, {"os-resetState": {"state": "error"}}).status == 404
    assert api.post("compute", url, {"os-resetState": {"state": "error"}}).status == 202
    server = api.get("compute", f"/v2.1/servers/{sid}", headers=LATEST).json["server"]
    assert server["status"] == "ERROR" and server["OS-EXT-STS:task_state"] is None
    assert api.post("compute", url, {"os-resetState": {"state": "active"}}).status == 202
    restore = api.post("compute", url, {"restore": None})
    assert restore.status == 409, restore


def test_image_min_ram_larger_than_flavor_is_refused(api):
    made = api.post("image", "/v2/images", {"name": "big", "disk_format": "raw",
                                            "container_format": "bare", "min_ram": 513})
    image_id = made.json["id"]
    api.request("image", "PUT", f"/v2/images/{image_id}/file", raw=b"\0" * 512,
                headers={"Content-Type": "application/octet-stream"})
    resp = boot(api, image_id, flavor="1")
    assert resp.status == 400, resp
    assert resp.json["badRequest"]["message"] == (
        "Flavor's memory is too small for requested image.")


def test_unknown_server_action_is_400(api, image):
    # An action Nova itself does not know (nova/api/openstack/wsgi.py: KeyError of the
    # action table); not one Nova serves and stackling does not yet.
    sid = boot(api, image).json["server"]["id"]
    resp = api.post("compute", f"/v2.1/servers/{sid}/action", {"makeCoffee": {"sugar": 2}})
    assert resp.status == 400, resp
    assert resp.json["badRequest"]["message"] == "There is no such action: makeCoffee"


def test_nova_action_on_missing_server_is_404(api):
    missing = "/v2.1/servers/5f9a0b43-0000-4000-8000-000000000000/action"
    assert api.post("compute", missing, {"migrate": None}).status == 404
    assert api.post("compute", missing, {"noSuchThing": None}).status == 400


def test_delete_on_a_down_host_is_a_local_delete(api, cloud, image):
    """Nova's servicegroup check: no terminate cast to a host whose nova-compute is down."""
    resp = boot(api, image, "ag1")
    server = settled(api, resp.json["server"]["id"])
    assert server["OS-EXT-SRV-ATTR:host"] == "controller1"
    api.put("compute", "/v2.1/os-services/force-down",
            {"host": "controller1", "binary": "nova-compute", "forced_down": True},
            headers=v("2.11"))
    casts = []
    real_cast = cloud.rpc.cast
    cloud.rpc.cast = lambda topic, method, **kw: casts.append((topic, method))
    try:
        assert api.delete("compute", f"/v2.1/servers/{server['id']}").status == 204
    finally:
        cloud.rpc.cast = real_cast
    assert casts == []
    assert api.get("compute", f"/v2.1/servers/{server['id']}").status == 404


def _usage(api) -> int:
    stats = api.get("compute", "/v2.1/os-hypervisors/statistics").json["hypervisor_statistics"]
    return stats["memory_mb_used"]


def test_scheduling_that_raises_ends_in_error_never_stays_scheduling(api, image, cloud,
                                                                     monkeypatch):
    """Any failure of the conductor (here the host selection raising, as a database
    error would) buries the server in ERROR with the exception's class name as its
    fault (Nova's exception_to_dict for a foreign exception), never BUILD/scheduling."""
    from stackling.compute import scheduler

    def broken(*_a, **_k):
        raise RuntimeError("connection to the database lost: secret details")

    monkeypatch.setattr(scheduler, "select_hosts", broken)
    before = _usage(api)
    sid = boot(api, image, name="broken").json["server"]["id"]
    server = settled(api, sid)
    assert server["status"] == "ERROR" and server["OS-EXT-STS:task_state"] is None
    assert server["fault"]["message"] == "RuntimeError", server["fault"]
    assert server["OS-EXT-SRV-ATTR:host"] is None
    events = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                     f"{server_request_id(api, sid)}").json["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in events] == [
        ("conductor_schedule_and_build_instances", "Error")]
    assert _usage(api) == before
    assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204


def server_request_id(api, sid) -> str:
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions").json
    return actions["instanceActions"][0]["request_id"]


def test_cast_to_the_compute_host_that_fails_ends_in_error_and_gives_the_claim_back(
        api, image, cloud, monkeypatch):
    """The host was chosen and claimed, then the cast to compute.<host> raised (the
    broker refused it): ERROR, off the host, its claim given back."""
    real = cloud.rpc.cast

    def cast(topic, method, **kwargs):
        if topic.startswith("compute.") and method == "build_and_run_instance":
            raise ConnectionError("broker gone")
        return real(topic, method, **kwargs)

    monkeypatch.setattr(cloud.rpc, "cast", cast)
    before = _usage(api)
    sid = boot(api, image, name="unsent").json["server"]["id"]
    server = settled(api, sid)
    assert server["status"] == "ERROR", server
    assert server["fault"]["message"] == "ConnectionError", server["fault"]
    assert server["OS-EXT-SRV-ATTR:host"] is None
    assert _usage(api) == before


def test_cast_to_the_scheduler_that_fails_is_500_and_the_server_in_error(
        api, image, cloud, monkeypatch):
    real = cloud.rpc.cast

    def cast(topic, method, **kwargs):
        if topic == "scheduler":
            raise ConnectionError("broker gone")
        return real(topic, method, **kwargs)

    monkeypatch.setattr(cloud.rpc, "cast", cast)
    resp = boot(api, image, name="never-cast")
    assert resp.status == 500, resp
    [server] = [s for s in api.get("compute", "/v2.1/servers/detail", headers=LATEST)
                .json["servers"] if s["name"] == "never-cast"]
    assert server["status"] == "ERROR" and server["OS-EXT-STS:task_state"] is None
    assert server["fault"]["message"] == "ConnectionError"


def test_build_that_raises_on_the_host_outside_its_handling_ends_in_error(
        api, image, cloud, monkeypatch):
    """The compute host failed before its own error handling (the database unreachable
    while loading the instance): ERROR off the host, its claim given back, not BUILD."""
    from stackling.compute.host import manager

    def broken(self, instance_uuid, caller, ev):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(manager.ComputeManager, "_build_and_run", broken)
    before = _usage(api)
    sid = boot(api, image, name="host-broken").json["server"]["id"]
    server = settled(api, sid)
    assert server["status"] == "ERROR", server
    assert server["fault"]["message"] == "RuntimeError", server["fault"]
    assert server["OS-EXT-SRV-ATTR:host"] is None
    assert _usage(api) == before


def _build_event(api, sid):
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions").json
    create = next(a for a in actions["instanceActions"] if a["action"] == "create")
    shown = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                    f"{create['request_id']}", headers=v("2.51")).json["instanceAction"]
    return create["request_id"], {e["event"]: e for e in shown["events"]}


def test_a_server_is_never_active_before_its_build_event_succeeded(api, image, monkeypatch):
    """ACTIVE and the build event's Success are one write: whoever sees the server ACTIVE
    sees the event finished (they were two, with a window between: a write of the event
    of its own, slowed down here, would be seen unfinished)."""
    import time

    from stackling.compute.objects import instance_action

    finish = instance_action._finish

    def slow_finish(*args, **kwargs):
        time.sleep(0.5)
        finish(*args, **kwargs)

    monkeypatch.setattr(instance_action, "_finish", slow_finish)
    for n in range(2):
        sid = boot(api, image, name=f"atomic-{n}").json["server"]["id"]
        assert settled(api, sid)["status"] == "ACTIVE"
        _, events = _build_event(api, sid)
        build = events["compute__do_build_and_run_instance"]
        assert (build["result"], bool(build["finish_time"])) == ("Success", True), build


def test_an_event_closed_in_a_write_that_then_fails_ends_in_error(api, image, cloud):
    """``succeeded_in`` writes Success into the caller's transaction; an error after it
    (that transaction rolled back) still ends the event in Error, as before."""
    from stackling.compute.objects import instance_action

    sid = boot(api, image, name="closed-then-failed").json["server"]["id"]
    settled(api, sid)
    request_id, _ = _build_event(api, sid)
    with pytest.raises(RuntimeError, match="refused"):
        with instance_action.event(cloud, sid, request_id, "probe_step") as ev:
            with cloud.db.writer() as s:
                ev.succeeded_in(s)
                raise RuntimeError("commit refused")
    _, events = _build_event(api, sid)
    assert events["probe_step"]["result"] == "Error", events["probe_step"]
    assert "commit refused" in events["probe_step"]["traceback"]


def test_failure_reaches_the_server_once_the_database_answers_again(
        api, image, cloud, monkeypatch):
    """The outage that failed the scheduling also fails the first writes that record
    it: they are retried, and the server still ends in ERROR."""
    import sqlalchemy as sa

    from stackling.compute import scheduler

    real_writer = cloud.db.writer
    refused = {"left": 0}

    def writer():
        if refused["left"]:
            refused["left"] -= 1
            raise sa.exc.TimeoutError("QueuePool limit of size 5 overflow 50 reached")
        return real_writer()

    def broken(*_a, **_k):
        refused["left"] = 3
        raise sa.exc.TimeoutError("QueuePool limit of size 5 overflow 50 reached")

    monkeypatch.setattr(cloud.db, "writer", writer)
    monkeypatch.setattr(scheduler, "select_hosts", broken)
    sid = boot(api, image, name="outage").json["server"]["id"]
    server = settled(api, sid)
    assert server["status"] == "ERROR", server
    assert server["fault"]["message"] == "TimeoutError", server["fault"]
    assert refused["left"] == 0


def test_metadata_in_server_views_create_and_rebuild(api, image):
    # Instance metadata is no longer loaded with every instance: the views read it for
    # all their servers at once, the metadata API and rebuild load it themselves.
    first = boot(api, image, name="m1", metadata={"b": "2", "a": "1"}).json["server"]["id"]
    second = boot(api, image, name="m2").json["server"]["id"]
    assert settled(api, first)["metadata"] == {"b": "2", "a": "1"}
    assert settled(api, second)["metadata"] == {}
    detail = {s["id"]: s["metadata"] for s in api.get(
        "compute", "/v2.1/servers/detail", headers=LATEST).json["servers"]}
    assert detail == {first: {"b": "2", "a": "1"}, second: {}}
    assert list(detail[first]) == ["b", "a"]      # in the order they were added
    rebuilt = api.post("compute", f"/v2.1/servers/{first}/action",
                       {"rebuild": {"imageRef": image, "metadata": {"c": "3"}}},
                       headers=LATEST)
    assert rebuilt.status == 202, rebuilt
    assert rebuilt.json["server"]["metadata"] == {"c": "3"}
    assert settled(api, first)["metadata"] == {"c": "3"}
    assert api.get("compute", f"/v2.1/servers/{first}/metadata").json == {
        "metadata": {"c": "3"}}
