"""Two stackling processes, one PostgreSQL database, RabbitMQ between them (issue 11 acceptance).

The controller runs the APIs, the schedulers and the conductor; the other process runs
nova-compute on controller1 and cinder-volume on controller2@file. They share only the
database, the config dir and the port offset: RPC goes over oslo.messaging (a RabbitMQ
virtual host and control_exchange per test, tests/rabbit.py), tokens are checked with
GET /v3/auth/tokens, Nova reaches Cinder and Glance through the catalog over HTTP,
cinder-volume streams the image from Glance. Driven with the real `openstack` CLI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid

import pytest

from tests import rabbit
from tests.conftest import PG_ADMIN, _scratch_database
from tests.helpers import LiveCloud, free_port_offset, wait_for, write_config

pytestmark = pytest.mark.e2e

CONTROLLER = "keystone,nova-api,cinder-api,glance-api,nova-scheduler,nova-conductor," \
             "cinder-scheduler"
HOSTS = "nova-compute=controller1,cinder-volume=controller2@file"
# The seed's strict deployment, with a quick heartbeat so a dead host shows down in seconds.
NOVA = """[DEFAULT]
transport_url = {rabbit}
control_exchange = {exchange}
report_interval = 1
service_down_time = 3
block_device_allocate_retries = 60
block_device_allocate_retries_interval = 1
[cinder]
cross_az_attach = False
"""
# az_cache_duration: cinder-api's zone cache would hide the new backend's zone for an hour.
CINDER = """[DEFAULT]
transport_url = {rabbit}
control_exchange = {exchange}
report_interval = 1
service_down_time = 3
az_cache_duration = 1
"""
BACKEND_IN_AG1 = """enabled_backends = file
[file]
backend_host = controller2
backend_availability_zone = ag1
"""


def _authtoken(offset: int, user: str, section: str = "keystone_authtoken") -> str:
    """A service user's keystoneauth options: [keystone_authtoken], or nova.conf's
    [neutron] / cinder.conf's [nova] (the user it calls that service as)."""
    return (f"[{section}]\nauth_url = http://127.0.0.1:{5000 + offset}/v3\n"
            f"username = {user}\npassword = {user}-secret\nproject_name = service\n"
            "user_domain_name = Default\nproject_domain_name = Default\n")


class Part(LiveCloud):
    """One of the two processes: its own data dir, the shared config dir, offset and DB."""

    def __init__(self, base, config_dir, offset: int, database_url: str, only: str) -> None:
        self.base, self.data_dir, self.config_dir = base, base / "data", config_dir
        self.topology, self.offset, self.database_url, self.only = None, offset, \
            database_url, only

    @property
    def args(self) -> list[str]:
        return [*super().args, "--only", self.only]

    def kill(self) -> None:
        os.kill(int((self.data_dir / "stackling.pid").read_text()), signal.SIGKILL)


@pytest.fixture
def pg_url():
    yield from _scratch_database(PG_ADMIN, "postgresql")


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


def _configure(config_dir, offset: int, bus: tuple[str, str], backend_in_ag1: bool = False
               ) -> None:
    fmt = {"rabbit": bus[0], "exchange": bus[1]}
    cinder = CINDER.format(**fmt) + (BACKEND_IN_AG1 if backend_in_ag1 else "")
    write_config(config_dir, nova=NOVA.format(**fmt) + _authtoken(offset, "nova"),
                 cinder=cinder + _authtoken(offset, "cinder"), fast_hash=False)
    (config_dir / "glance-api.conf").write_text(_authtoken(offset, "glance"))


def _boot(c, image: str, name: str, bfv: bool = True) -> dict:
    args = ["--image", image, "--flavor", "m1.tiny", "--availability-zone", "ag1",
            "--nic", "none", name, "--wait"]
    if bfv:
        args = ["--boot-from-volume", "1", *args]
    c.openstack("server", "create", *args)
    return c.openstack_json("server", "show", name)


def test_two_processes_seed_scenario_and_dead_host(tmp_path, pg_url, disk):
    if not rabbit.running():
        if os.environ.get("CI") == "true":
            pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    with rabbit.vhost("two-processes") as transport_url:
        bus = (transport_url, f"stackling-{uuid.uuid4().hex[:12]}")
        offset = free_port_offset()
        config_dir = tmp_path / "etc"
        _configure(config_dir, offset, bus)
        controller = Part(tmp_path / "controller", config_dir, offset, pg_url, CONTROLLER)
        hosts = Part(tmp_path / "hosts", config_dir, offset, pg_url, HOSTS)
        controller.start()
        try:
            hosts.start()
            _scenario(controller, hosts, config_dir, offset, bus, disk)
        finally:
            hosts.stop()
            controller.stop()


def _scenario(c, hosts, config_dir, offset, bus, disk) -> None:
    services = c.openstack_json("compute", "service", "list")
    assert {(s["Binary"], s["Host"], s["State"]) for s in services} >= {
        ("nova-compute", "controller1", "up"), ("nova-scheduler", "controller2", "up"),
        ("nova-conductor", "controller2", "up")}, services
    c.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                     "--container-format", "bare", "img")

    # cross_az_attach = False and Cinder's only zone is nova: the seed's failure.
    srv = _boot(c, "img", "vm1")
    assert srv["status"] == "ERROR", srv
    assert "Invalid input received: Availability zone 'ag1' is invalid." in \
        srv["fault"]["message"], srv["fault"]
    assert c.openstack("server", "delete", "--wait", "vm1").returncode == 0

    # A cinder backend in ag1 (the hosts process restarted with it): the same boot works,
    # the volume's bytes streamed from Glance over HTTP.
    hosts.stop()
    _configure(config_dir, offset, bus, backend_in_ag1=True)
    hosts.start()
    wait_for(lambda: {"name": "ag1", "available": True} in _volume_zones(c), timeout=30,
             interval=0.5)
    srv = _boot(c, "img", "vm2")
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["OS-EXT-AZ:availability_zone"] == "ag1"
    [att] = c.openstack_json("server", "volume", "list", "vm2")
    vol = c.openstack_json("volume", "show", att["Volume ID"])
    assert vol["status"] == "in-use" and vol["availability_zone"] == "ag1", vol
    assert str(vol["bootable"]).lower() == "true"

    # Kill the hosts process: controller1's nova-compute goes down, ag1 stays listed.
    hosts.kill()
    wait_for(lambda: _state(c, "controller1") == "down", timeout=30, interval=1)
    zones = c.openstack_json("availability", "zone", "list", "--compute")
    assert {"Zone Name": "ag1", "Zone Status": "available"} in zones, zones
    detail = c.openstack_json("availability", "zone", "list", "--compute", "--long")
    [row] = [z for z in detail if z["Zone Name"] == "ag1" and z["Host Name"] == "controller1"]
    assert row["Service Name"] == "nova-compute", row
    assert row["Service Status"].startswith("enabled XXX "), row
    srv = _boot(c, "img", "vm3", bfv=False)
    assert srv["status"] == "ERROR", srv
    assert re.match(r"^No valid host was found\.", srv["fault"]["message"]), srv["fault"]
    # A server on the dead host is deleted by the API itself (Nova's local delete).
    assert c.openstack("server", "delete", "--wait", "vm2").returncode == 0


def _volume_zones(c) -> list[dict]:
    zones = c.openstack_json("availability", "zone", "list", "--volume")
    return [{"name": z["Zone Name"], "available": z["Zone Status"] == "available"}
            for z in zones]


def _state(c, host: str) -> str | None:
    for s in c.openstack_json("compute", "service", "list", "--service", "nova-compute"):
        if s["Host"] == host:
            return s["State"]
    return None
