"""The zone decision of reference 1.5, branch by branch, and the create path's cache."""

from __future__ import annotations

import logging

import pytest

from stackling import exception
from stackling.volume import errors
from stackling.volume.zones import ZoneCache, ZoneOptions, extract_availability_zones

SAFE = {"nova", "ag1"}


def run(requested=None, safe=SAFE, **kw):
    opts = ZoneOptions(**{k: kw.pop(k) for k in list(kw) if k in ZoneOptions.__annotations__})
    return extract_availability_zones(requested, safe, opts, **kw)


def test_requested_valid_zone():
    assert run("ag1") == (["ag1"], False)


def test_default_is_storage_zone_then_default_zone():
    assert run() == (["nova"], False)
    assert run(default_availability_zone="ag1") == (["ag1"], False)


def test_invalid_zone_current_and_2016_texts():
    with pytest.raises(errors.InvalidAvailabilityZone) as err:
        run("ag2")
    assert err.value.message == "Availability zone 'ag2' is invalid." and err.value.code == 400
    with pytest.raises(exception.InvalidInput) as err:
        run("ag2", release="mitaka")
    assert err.value.message == "Invalid input received: Availability zone 'ag2' is invalid."


def test_fallback_logs_and_is_not_revalidated(caplog):
    with caplog.at_level(logging.WARNING):
        zones, refresh = run("ag2", allow_availability_zone_fallback=True,
                             default_availability_zone="elsewhere")
    assert zones == ["elsewhere"] and refresh is True
    assert "Availability zone 'ag2' not found, falling back to 'elsewhere'." in caplog.text


def test_inherit_from_snapshot_then_source():
    assert run(snapshot_az="ag1", cloned_volume_same_az=False) == (["ag1"], False)
    assert run(snapshot_az="nova", source_az="ag1", cloned_volume_same_az=False)[0] == ["ag1"]
    # 2016: the snapshot wins
    assert run(snapshot_az="nova", source_az="ag1", cloned_volume_same_az=False,
               release="liberty")[0] == ["nova"]


def test_group_zone():
    assert run(group_az="ag1") == (["ag1"], False)


def test_same_zone_as_source():
    with pytest.raises(exception.InvalidInput) as err:
        run("nova", snapshot_az="ag1")
    assert err.value.message == ("Invalid input received: Volume must be in the same "
                                 "availability zone as the snapshot")
    with pytest.raises(exception.InvalidInput) as err:
        run("nova", source_az="ag1")
    assert err.value.message.endswith("as the source volume")
    assert run("nova", source_az="ag1", cloned_volume_same_az=False) == (["nova"], False)


def test_type_restriction():
    assert run(type_zones="ag1, ag9") == (["ag1"], False)
    assert run(type_zones="nova,ag1") == (["ag1", "nova"], False)
    with pytest.raises(errors.InvalidTypeAvailabilityZones) as err:
        run(type_zones="ag9")
    assert err.value.message == ("Volume type is only supported in these availability zones: "
                                 "['ag9']")
    # cinder's extract_availability_zones_from_volume_type: present but empty is a restriction.
    with pytest.raises(errors.InvalidTypeAvailabilityZones) as err:
        run(type_zones="")
    assert err.value.message == "Volume type is only supported in these availability zones: []"
    with pytest.raises(errors.InvalidTypeAvailabilityZones) as err:
        run(type_zones="ag8, ag9")
    assert err.value.message == ("Volume type is only supported in these availability zones: "
                                 "['ag8', 'ag9']")
    with pytest.raises(errors.InvalidAvailabilityZone):
        run("nova", type_zones="ag1")


def test_cache_expires_and_refreshes():
    now = [0.0]
    loads = [[{"name": "nova"}], [{"name": "nova"}, {"name": "ag1"}]]
    cache = ZoneCache(lambda: loads[min(cache.loads, 1)], 3600, clock=lambda: now[0])
    assert cache.names() == {"nova"}
    now[0] = 3599
    assert cache.names() == {"nova"}
    now[0] = 3600
    assert cache.names() == {"nova", "ag1"} and cache.loads == 2
    assert cache.names(refresh=True) and cache.loads == 3
