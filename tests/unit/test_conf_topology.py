"""Configuration files with real option names, and the topology file."""

from __future__ import annotations

import pytest

from stackling import conf
from stackling.topology import Topology, TopologyError


def test_defaults_are_the_real_services_defaults(tmp_path):
    c = conf.load(tmp_path)
    assert c.nova.default_availability_zone == "nova"
    assert c.nova.internal_service_availability_zone == "internal"
    assert c.nova.default_schedule_zone is None
    assert c.nova.cinder.cross_az_attach is True
    assert c.cinder.storage_availability_zone == "nova"
    assert c.cinder.default_availability_zone is None
    assert c.cinder.allow_availability_zone_fallback is False
    assert c.cinder.az_cache_duration == 3600
    assert c.stackling.stackling.behaviour_release == "current"
    assert c.warnings == []


def test_unknown_options_are_ignored_with_a_warning(tmp_path, caplog):
    (tmp_path / "nova.conf").write_text(
        "[DEFAULT]\ndefault_schedule_zone = ag1\nmy_ip = 10.0.0.5\ntransport_url = rabbit://x\n"
        "[cinder]\ncross_az_attach = False\n[libvirt]\nvirt_type = kvm\n")
    (tmp_path / "cinder.conf").write_text(
        "[DEFAULT]\nenabled_backends = lvm1\nallow_availability_zone_fallback = true\n"
        "[lvm1]\nbackend_availability_zone = ag1\nvolume_backend_name = LVM\n"
        "volume_group = cinder-volumes\n")
    c = conf.load(tmp_path)
    assert c.nova.default_schedule_zone == "ag1"
    assert c.nova.cinder.cross_az_attach is False
    assert c.nova.transport_url == "rabbit://x"    # oslo.messaging's option, honoured
    assert c.cinder.allow_availability_zone_fallback is True
    assert c.cinder.lvm1.backend_availability_zone == "ag1"
    assert c.cinder.lvm1.volume_backend_name == "LVM"
    assert sorted(c.warnings) == ["cinder.conf: [lvm1] volume_group",
                                  "nova.conf: [DEFAULT] my_ip",
                                  "nova.conf: [libvirt] virt_type"]
    assert "Ignoring unknown option nova.conf: [libvirt] virt_type" in caplog.text


def test_default_topology_is_the_seed():
    topo = Topology.load()
    assert [h.name for h in topo.compute_hosts] == ["controller1", "controller2",
                                                    "controller3"]
    zones = {a.name: (a.availability_zone, a.hosts) for a in topo.aggregates}
    assert zones == {"ag1": ("ag1", ["controller1"]), "ag2": ("ag2", ["controller2"])}
    assert topo.controller == "controller2"
    assert [(b.name, b.availability_zone) for b in topo.volume_backends] == [
        ("controller2@file", "nova")]


def test_topology_rejects_unknown_hosts_and_keys(tmp_path):
    with pytest.raises(TopologyError, match="not a compute host"):
        Topology.from_dict({"compute_hosts": [{"name": "a"}],
                            "aggregates": [{"name": "x", "hosts": ["b"]}]})
    with pytest.raises(TopologyError, match="invalid topology"):
        Topology.from_dict({"compute_hosts": [{"name": "a", "cpus": 3}]})
    bad = tmp_path / "t.yaml"
    bad.write_text("compute_hosts: [")
    with pytest.raises(TopologyError, match="cannot read"):
        Topology.load(bad)
