"""Pure compute logic: zone derivation, scheduler filters/weigher, AZ parsing, views."""

from __future__ import annotations

import datetime as dt

import pytest

from stackling import exception
from stackling.compute import scheduler as sch
from stackling.compute.api import availability_zones as az_api
from stackling.compute.api import servers, views
from stackling.compute.objects import zones as az
from stackling.web.microversion import Version


def svc(host, binary="nova-compute", zone="nova", disabled=False, up=True):
    return az.ServiceZone(id=1, uuid="u", host=host, binary=binary, zone=zone,
                          disabled=disabled, disabled_reason=None, forced_down=False, up=up,
                          updated_at=dt.datetime(2016, 8, 20, 14, 57, 7))


def test_host_zone_map_joins_distinct_zones():
    assert az.host_zone_map([("h1", "b"), ("h1", "a"), ("h1", "a"), ("h2", "z")]) == {
        "h1": "a,b", "h2": "z"}


def test_service_zone_rules():
    zones = {"c1": "ag1"}
    assert az.service_zone("nova-compute", "c1", zones, "nova", "internal") == "ag1"
    assert az.service_zone("nova-compute", "c3", zones, "nova", "internal") == "nova"
    assert az.service_zone("nova-scheduler", "c1", zones, "nova", "internal") == "internal"


def test_zone_available_if_any_service_enabled():
    services = [svc("c1", zone="ag1", disabled=True), svc("c2", zone="ag1"),
                svc("c3", zone="ag2", disabled=True), svc("c4", zone="b", up=False)]
    assert az.split_zones(services) == (["ag1", "b"], ["ag2"])
    index = az_api.index_view(services + [svc("c2", "nova-scheduler", "internal")], "internal")
    assert [z["zoneName"] for z in index] == ["ag1", "b", "ag2"]
    detail = az_api.detail_view(services)
    assert detail[0]["hosts"] == {"c2": {"nova-compute": {
        "available": True, "active": True, "updated_at": "2016-08-20T14:57:07.000000"}}}
    assert detail[1]["hosts"]["c4"]["nova-compute"]["available"] is False
    assert detail[2] == {"zoneName": "ag2", "zoneState": {"available": False}, "hosts": None}


def host(name, zones=(), ram=1000.0, vcpus=4.0, disk=10.0, enabled=True, up=True):
    return sch.HostState(host=name, node=name, zones=frozenset(zones), enabled=enabled, up=up,
                         free_vcpus=vcpus, free_ram_mb=ram, free_disk_gb=disk)


def spec(**kw):
    base = {"vcpus": 1, "memory_mb": 512, "disk_gb": 1}
    base.update(kw)
    return sch.RequestSpec(**base)


def test_zone_filter_is_placement_style():
    index = sch.HostIndex.build([host("c1", ["ag1"]), host("c2", ["ag2"], ram=3000),
                                 host("c3", ram=2000)])
    assert [h.host for h in sch.select_hosts(index, spec(availability_zone="ag1"))] == ["c1"]
    # no aggregate carries "nova": nothing is restricted, the weigher decides
    assert sch.select_hosts(index, spec(availability_zone="nova"))[0].host == "c2"
    assert [h.host for h in sch.select_hosts(index, spec())] == ["c2", "c3", "c1"]


def test_compute_filter_and_capacity():
    index = sch.HostIndex.build([host("c1", ["ag1"], enabled=False),
                                 host("c2", ["ag1"], up=False), host("c3", ["ag1"], ram=100)])
    with pytest.raises(sch.NoValidHost) as err:
        sch.select_hosts(index, spec(availability_zone="ag1"))
    assert str(err.value) == "No valid host was found. There are not enough hosts available."
    assert sch.select_hosts(index, spec(availability_zone="ag1", memory_mb=50))[0].host == "c3"


def test_forced_host_skips_filters_but_not_capacity():
    index = sch.HostIndex.build([host("c1", ["ag1"], enabled=False), host("c2")])
    assert sch.select_hosts(index, spec(force_host="c1"))[0].host == "c1"
    with pytest.raises(sch.NoValidHost):
        sch.select_hosts(index, spec(force_host="c1", memory_mb=5000))


def test_free_resources_use_allocation_ratios():
    class Node:
        vcpus, reserved_vcpus, cpu_allocation_ratio, vcpus_used = 16, 0, 4.0, 10
        memory_mb, reserved_memory_mb, ram_allocation_ratio, memory_mb_used = 32768, 512, 1.0, 1024
        local_gb, reserved_disk_gb, disk_allocation_ratio, local_gb_used = 500, 0, 1.0, 20
    assert sch.free_resources(Node) == (54, 32768 - 512 - 512, 480)


@pytest.mark.parametrize("value,expected", [
    (None, (None, None, None)), ("ag1", ("ag1", None, None)),
    ("ag1:c1", ("ag1", "c1", None)), ("ag1::n1", ("ag1", None, "n1")),
    (":c1", (None, "c1", None)), ("ag1:c1:n1", ("ag1", "c1", "n1")),
])
def test_parse_availability_zone(value, expected):
    assert servers.parse_availability_zone(value) == expected


def test_parse_availability_zone_too_many_colons():
    with pytest.raises(exception.InvalidInput) as err:
        servers.parse_availability_zone("a:b:c:d")
    assert err.value.message == "Invalid input received: Unable to parse availability_zone"


def data(**kw):
    base = dict(uuid="u1", id=1, name="vm", project_id="p", user_id="u", vm_state="active",
                task_state=None, power_state=1, host="c1", node="c1", availability_zone="ag1",
                requested_az=None, image_ref="img",
                flavor={"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1},
                metadata={}, created_at=dt.datetime(2020, 1, 1), updated_at=None)
    base.update(kw)
    return views.ServerData(**base)


def show(d, version, admin=False):
    return views.show(d, Version.parse(version), "http://h", "p", is_admin=admin,
                      show_host_status=admin, show_extra_specs=admin)


def test_views_by_microversion():
    d = data()
    v21 = show(d, "2.1")
    assert v21["flavor"]["id"] == "1" and "locked" not in v21 and "description" not in v21
    assert "OS-EXT-SRV-ATTR:host" not in v21
    assert "OS-EXT-SRV-ATTR:reservation_id" not in show(d, "2.1", admin=True)
    latest = show(d, "2.100", admin=True)
    assert latest["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                "original_name": "m1.tiny", "extra_specs": {}}
    assert latest["pinned_availability_zone"] is None and latest["host_status"] == "UP"
    assert latest["scheduler_hints"] == {} and latest["locked_reason"] is None
    assert latest["image"]["properties"] == {}
    assert "properties" not in show(d, "2.97")["image"]
    assert show(d, "2.90")["OS-EXT-SRV-ATTR:hostname"] is None
    assert "OS-EXT-SRV-ATTR:hostname" not in show(d, "2.89")
    assert "pinned_availability_zone" not in show(d, "2.95")


def test_status_and_fault():
    assert views.status_from_state("active", "rebooting_hard") == "HARD_REBOOT"
    assert views.status_from_state("stopped", None) == "SHUTOFF"
    d = data(vm_state="error", host=None, availability_zone=None,
             fault={"code": 500, "message": "No valid host was found. ", "details": "tb",
                    "created_at": dt.datetime(2020, 1, 1)})
    member = show(d, "2.1")
    assert member["status"] == "ERROR" and "details" not in member["fault"]
    assert member["OS-EXT-AZ:availability_zone"] == "" and member["hostId"] == ""
    assert show(d, "2.1", admin=True)["fault"]["details"] == "tb"
    assert "progress" not in member
