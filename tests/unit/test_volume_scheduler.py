"""Scheduler filters and the capacity weigher as pure functions."""

from __future__ import annotations

from stackling.volume.scheduler import (
    BackendState,
    availability_zone_filter,
    capabilities_filter,
    capacity_filter,
    capacity_weight,
    select_backend,
)

FILTERS = ["AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter"]


def backend(name="h@b", zone="nova", total=100, free=100, provisioned=0, thin=True, ratio=20.0,
            reserved=0, **caps):
    return BackendState(name, zone, {"total_capacity_gb": total, "free_capacity_gb": free,
                                     "thin_provisioning_support": thin,
                                     "max_over_subscription_ratio": ratio,
                                     "reserved_percentage": reserved,
                                     "volume_backend_name": name.split("@")[1], **caps},
                        provisioned)


def spec(size=1, zones=None, specs=None):
    return {"volume_properties": {"size": size}, "availability_zones": zones,
            "volume_type": {"extra_specs": specs or {}}}


def test_az_filter():
    assert availability_zone_filter(backend(zone="ag1"), spec(zones=["ag1"]))
    assert not availability_zone_filter(backend(zone="nova"), spec(zones=["ag1"]))
    assert availability_zone_filter(backend(), spec())


def test_capacity_thick_and_reserved():
    assert capacity_filter(backend(thin=False, free=10), spec(10))
    assert not capacity_filter(backend(thin=False, free=10, reserved=10), spec(10))
    assert capacity_filter(backend(free="unknown"), spec(10 ** 6))


def test_capacity_thin_oversubscription():
    assert capacity_filter(backend(free=10, provisioned=500), spec(100))
    assert not capacity_filter(backend(free=10, ratio=2.0, provisioned=150), spec(100))
    assert not capacity_filter(backend(free=1, ratio=2.0), spec(3))
    assert not capacity_filter(backend(ratio=0.5), spec(1))


def test_capabilities_filter():
    assert capabilities_filter(backend(), spec(specs={"volume_backend_name": "b"}))
    assert not capabilities_filter(backend(), spec(specs={"volume_backend_name": "x"}))
    assert capabilities_filter(backend(), spec(specs={"RESKEY:availability_zones": "z"}))
    assert capabilities_filter(backend(), spec(specs={"capabilities:thin_provisioning_support":
                                                      "<is> True"}))


def test_weigher_prefers_free_virtual_capacity():
    small, big = backend("a@a", total=100), backend("b@b", total=1000)
    assert capacity_weight(big) > capacity_weight(small)
    assert select_backend([small, big], spec(), FILTERS).name == "b@b"
    assert select_backend([small, big], spec(), FILTERS, tried=["b@b"]).name == "a@a"
    assert select_backend([small], spec(zones=["ag1"]), FILTERS) is None
    pinned = {**spec(), "resource_backend": "a@a"}
    assert select_backend([small, big], pinned, FILTERS).name == "a@a"
