"""Many compute hosts in one process over RabbitMQ and PostgreSQL (issue 14, item 4).

The controller process runs the APIs, schedulers and conductor; a second process runs
``--only nova-compute=rack[1-20]``: twenty hosts the topology does not describe, each
registered with its own service row and compute node, heartbeating, and answering on its
own ``compute.<host>`` topic. Driven with the real `openstack` CLI.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.e2e.test_two_processes import (CONTROLLER, Part, _configure,  # noqa: F401
                                          _rabbit_running, disk, pg_url)
from tests.helpers import free_port_offset, wait_for

pytestmark = pytest.mark.e2e

RACK = [f"rack{i}" for i in range(1, 21)]


def _up_hosts(c) -> set[str]:
    return {s["Host"] for s in c.openstack_json("compute", "service", "list",
                                                "--service", "nova-compute")
            if s["State"] == "up" and s["Host"].startswith("rack")}


def test_twenty_hosts_in_one_process_each_receive_servers(tmp_path, pg_url, disk):
    if not _rabbit_running():
        if os.environ.get("CI") == "true":
            pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    offset, exchange = free_port_offset(), f"stackling-{uuid.uuid4().hex[:12]}"
    config_dir = tmp_path / "etc"
    _configure(config_dir, offset, exchange)
    controller = Part(tmp_path / "controller", config_dir, offset, pg_url, CONTROLLER)
    rack = Part(tmp_path / "rack", config_dir, offset, pg_url, "nova-compute=rack[1-20]")
    controller.start()
    try:
        rack.start()
        c = controller
        assert wait_for(lambda: _up_hosts(c) == set(RACK), timeout=30, interval=1)
        hypervisors = {h["Hypervisor Hostname"] for h in c.openstack_json(
            "hypervisor", "list")}
        assert set(RACK) <= hypervisors
        # An admin puts the new hosts into a zone; the scheduler then places there.
        c.openstack_json("aggregate", "create", "--zone", "rackzone", "racks")
        for host in RACK[:10]:
            c.openstack("aggregate", "add", "host", "racks", host)
        c.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                         "--container-format", "bare", "img")
        placed = {}
        for name, zone in (("z1", "rackzone"), ("z2", "rackzone"),
                           ("h15", "nova:rack15"), ("h20", "nova:rack20")):
            c.openstack("server", "create", "--image", "img", "--flavor", "m1.tiny",
                        "--availability-zone", zone, "--nic", "none", name, "--wait")
            srv = c.openstack_json("server", "show", name)
            assert srv["status"] == "ACTIVE", srv.get("fault")
            placed[name] = (srv["OS-EXT-SRV-ATTR:host"], srv["OS-EXT-AZ:availability_zone"])
        assert placed["z1"][0] in RACK[:10] and placed["z1"][1] == "rackzone"
        assert placed["z2"][0] in RACK[:10]
        assert placed["h15"] == ("rack15", "nova") and placed["h20"] == ("rack20", "nova")
    finally:
        rack.stop()
        controller.stop()
