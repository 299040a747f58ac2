"""Pure pieces of boot from volume: the zone Nova sends, the cross-AZ rules, the explain
simulation, and the BDM format checks."""

from __future__ import annotations

import pytest

from stackling import exception
from stackling.compute import block_device as bd
from stackling.compute import volume_zones as vz
from stackling.explain import simulation


@pytest.mark.parametrize("release,cross,instance_az,expected", [
    ("liberty", True, "ag1", "ag1"),      # the seed: always the instance's zone
    ("liberty", False, None, None),
    ("mitaka", True, "ag1", None),
    ("mitaka", False, "ag1", "ag1"),
    ("current", True, "ag1", None),
    ("current", False, "ag2", "ag2"),
])
def test_zone_to_send(release, cross, instance_az, expected):
    assert vz.zone_to_send(release, cross, instance_az)[0] == expected


def test_instance_zone_by_release():
    assert vz.instance_zone("current", None, "ag1") == "ag1"
    assert vz.instance_zone("mitaka", None, "ag1") is None
    assert vz.instance_zone("liberty", "ag2", "ag1") == "ag2"


def test_validate_vol_az_for_create():
    assert vz.validate_vol_az_for_create(True, "x", ["y"], "nova") is None
    assert vz.validate_vol_az_for_create(False, None, ["ag1"], "nova") == "ag1"
    assert vz.validate_vol_az_for_create(False, None, ["nova"], "nova") is None
    with pytest.raises(exception.BadRequest, match="different availability zones: a,b."):
        vz.validate_vol_az_for_create(False, None, ["a", "b"], "nova")
    with pytest.raises(exception.BadRequest, match="Server is in: ag2. Volumes are in: ag1."):
        vz.validate_vol_az_for_create(False, "ag2", ["ag1"], "nova")


def _seed(**kw) -> simulation.World:
    base = dict(release="current", cross_az_attach=False, requested_az="ag1",
                host_zones=["ag1"], backends=[simulation.Backend("controller2@file", "nova")])
    return simulation.World(**{**base, **kw})


def test_simulate_the_seed_and_its_fixes():
    assert not simulation.simulate(_seed()).ok
    assert simulation.simulate(_seed(cross_az_attach=True)).ok
    fallback = simulation.simulate(_seed(allow_availability_zone_fallback=True))
    assert not fallback.ok and "cross-AZ check fails" in fallback.text
    assert simulation.simulate(_seed(backends=[simulation.Backend("a@b", "nova"),
                                       simulation.Backend("c@d", "ag1")])).ok
    no_backend = simulation.simulate(_seed(storage_availability_zone="ag1"))
    assert not no_backend.ok and "no up and enabled" in no_backend.text
    # liberty sends the zone even with cross_az_attach = True
    assert not simulation.simulate(_seed(release="liberty", cross_az_attach=True)).ok
    # an unpinned request may land on any host: it must work on all of them
    anywhere = simulation.simulate(_seed(requested_az=None, host_zones=["ag1", "nova"]))
    assert not anywhere.ok and anywhere.text.startswith("works only on some hosts")


def test_possible_host_zones():
    assert simulation.possible_host_zones("ag1", {"ag1", "ag2"}, ["ag1", "ag2", "nova"]) == ["ag1"]
    assert simulation.possible_host_zones("nova", {"ag1", "ag2"}, ["ag1", "nova"]) == ["ag1", "nova"]


def test_from_api_checks_in_order():
    with pytest.raises(bd.InvalidBDMFormat, match="Invalid device UUID"):
        bd.from_api({"source_type": "blank", "uuid": "x"}, False)
    with pytest.raises(bd.InvalidBDMFormat, match="Missing device UUID"):
        bd.from_api({"source_type": "volume"}, False)
    with pytest.raises(bd.InvalidBDMFormat, match="Some required fields are missing"):
        bd.from_api({"uuid": "x"}, False)
    with pytest.raises(bd.InvalidBDMFormat, match="Mapping image to local"):
        bd.from_api({"source_type": "image", "uuid": "x", "destination_type": "local",
                     "boot_index": 0}, False)
    ok = bd.from_api({"source_type": "image", "uuid": "x", "destination_type": "local",
                      "boot_index": 0}, True)
    assert ok["image_id"] == "x" and "uuid" not in ok


def test_legacy_mapping_rally_style():
    [root] = bd.from_legacy(bd.schema_legacy([{"device_name": "vda", "volume_id": "v",
                                               "delete_on_termination": "0"}]), None)
    assert root == {"device_name": "vda", "delete_on_termination": False,
                    "volume_size": None, "boot_index": 0, "source_type": "volume",
                    "destination_type": "volume", "volume_id": "v"}


def test_boot_sequence_and_device_names():
    bd.check_boot_sequence([{"boot_index": 0}, {"boot_index": 1}, {"boot_index": None}])
    with pytest.raises(bd.InvalidBDMFormat, match="Boot sequence"):
        bd.check_boot_sequence([{"boot_index": 0}, {"boot_index": 2}])
    bdms = [{"boot_index": 1}, {"boot_index": 0}, {"boot_index": -1}]
    bd.device_names(bdms)
    assert [b["device_name"] for b in bdms] == ["/dev/vdb", "/dev/vda", "/dev/vdc"]
    assert bd.next_device_name(["/dev/vda", "/dev/vdb"]) == "/dev/vdc"
