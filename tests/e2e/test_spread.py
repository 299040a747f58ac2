"""`stackling start --spread` on PostgreSQL + RabbitMQ (issue 14 acceptance), with the real
`openstack` CLI: the seed scenario over separate processes, a nova-compute killed with
SIGKILL (down, its zone's boots fail) and started again (up, boots land), and a host that
joins from 127.0.0.2 with only the transport, database and Keystone URLs.

One spread cloud for the module (a fresh database, RabbitMQ virtual host and exchange of
its own); the
heartbeat is quick (report_interval 1, service_down_time 5) so a dead host shows in seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import uuid

import pytest

from stackling.spread import SPREAD_DIR
from tests import rabbit
from tests.conftest import PG_ADMIN, _scratch_database
from tests.e2e.test_two_processes import (BACKEND_IN_AG1, _authtoken, _boot, _state,
                                          _volume_zones)
from tests.helpers import LiveCloud, unavailable, wait_for, write_config

pytestmark = pytest.mark.e2e

COMMON = """[DEFAULT]
transport_url = {rabbit}
control_exchange = {exchange}
report_interval = 1
service_down_time = 5
"""
# The seed's strict deployment; two nova-api workers on one socket.
NOVA = COMMON + """osapi_compute_workers = 2
block_device_allocate_retries = 60
block_device_allocate_retries_interval = 1
[cinder]
cross_az_attach = False
"""
CINDER = COMMON + "az_cache_duration = 1\n"
# Cinder's notifications on: each nova-compute process hears its volumes' creations end.
NOTIFICATIONS = "[oslo_messaging_notifications]\ndriver = messagingv2\n"
# Glance shows each image's store file and cinder-volume reads it (no download).
DIRECT_URL = {"cinder": "allowed_direct_url_schemes = file\n",
              "glance": "[DEFAULT]\nshow_image_direct_url = true\n"}
SERVICES = {"keystone", "nova-api", "cinder-api", "glance-api", "neutron-server",
            "nova-scheduler", "nova-conductor", "nova-novncproxy", "cinder-scheduler",
            "nova-compute", "cinder-volume"}


class Spread(LiveCloud):
    """A cloud started with `stackling start --spread -d` on a shared database."""

    def __init__(self, base, database_url: str, transport_url: str, exchange: str) -> None:
        super().__init__(base, database_url=database_url)
        self.transport_url, self.exchange = transport_url, exchange
        self.configure(backend_in_ag1=False)

    def configure(self, backend_in_ag1: bool) -> None:
        fmt = {"rabbit": self.transport_url, "exchange": self.exchange}
        cinder = CINDER.format(**fmt) + DIRECT_URL["cinder"] + \
            (BACKEND_IN_AG1 if backend_in_ag1 else "") + NOTIFICATIONS
        # Nova binds ports as the neutron user, Cinder sends Nova events as the nova user.
        write_config(self.config_dir, nova=NOVA.format(**fmt) + _authtoken(self.offset, "nova")
                     + _authtoken(self.offset, "neutron", "neutron"),
                     cinder=cinder + _authtoken(self.offset, "cinder")
                     + _authtoken(self.offset, "nova", "nova"))
        for project, file in (("glance", "glance-api.conf"), ("neutron", "neutron.conf")):
            (self.config_dir / file).write_text(_authtoken(self.offset, project))
        with open(self.config_dir / "glance-api.conf", "a") as f:
            f.write(DIRECT_URL["glance"])

    def start(self) -> None:
        r = self.stackling("start", "--spread", "-d")
        assert r.returncode == 0, r.stderr
        w = self.stackling("wait", "--timeout", "180", timeout=200)
        if w.returncode != 0:
            self.stop()
            raise AssertionError((w.stderr, self.log()))

    def processes(self) -> dict[str, dict]:
        r = self.stackling("status", "--format", "json")
        return {p["name"]: p for p in json.loads(r.stdout)["processes"]}

    def kill(self, name: str) -> int:
        pid = self.processes()[name]["pid"]
        os.kill(pid, signal.SIGKILL)
        # dead as soon as the pid is gone; its exit code once the supervisor reaped it
        # (it polls its children every 0.2 s and then writes the run state)
        wait_for(lambda: (lambda p: p["state"] == "dead" and p["exit_code"] is not None)(
            self.processes()[name]), timeout=10)
        return pid

    def start_down(self, name: str) -> None:
        """`stackling start --spread` on the running cloud starts what is down."""
        assert self.stackling("start", "--spread").returncode == 0
        wait_for(lambda: self.processes()[name]["state"] == "up", timeout=60, interval=0.5)


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    if not rabbit.running():
        unavailable("RabbitMQ is not running on 127.0.0.1:5672")
    databases = _scratch_database(PG_ADMIN, "postgresql")
    url = next(databases)
    with rabbit.vhost("spread") as transport_url:
        cloud = Spread(tmp_path_factory.mktemp("spread"), url, transport_url,
                       f"stackling-{uuid.uuid4().hex[:12]}")
        cloud.start()
        yield cloud
        pids = [p["pid"] for p in cloud.processes().values()]
        cloud.stop()
    assert not [pid for pid in pids if _alive(pid)], "stackling stop left processes"
    next(databases, None)


def _alive(pid: int) -> bool:
    from stackling.runstate import alive

    return alive(pid)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    import subprocess

    path = tmp_path_factory.mktemp("spread-disk") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


@pytest.fixture(scope="module")
def image(spread, disk) -> str:
    spread.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                          "--container-format", "bare", "img")
    return "img"


def test_spread_processes_seed_scenario_dead_host_and_restart(spread, image):
    c = spread
    procs = c.processes()
    assert {p["service"] for p in procs.values()} == SERVICES, procs
    assert all(p["state"] == "up" for p in procs.values()), procs
    assert {"nova-api-1", "nova-api-2", "nova-compute-controller1",
            "cinder-volume-controller2@file"} <= set(procs)
    assert procs["nova-compute-controller1"]["host"] == "controller1"
    assert len({p["pid"] for p in procs.values()}) == len(procs)
    services = c.openstack_json("compute", "service", "list")
    assert {(s["Binary"], s["Host"], s["State"]) for s in services} >= {
        ("nova-compute", "controller1", "up"), ("nova-compute", "controller3", "up"),
        ("nova-scheduler", "controller2", "up"), ("nova-conductor", "controller2", "up")}

    # The seed's failure: cross_az_attach = False and Cinder's only zone is nova.
    srv = _boot(c, image, "vm1")
    assert srv["status"] == "ERROR", srv
    assert "Invalid input received: Availability zone 'ag1' is invalid." in \
        srv["fault"]["message"], srv["fault"]
    assert c.openstack("server", "delete", "--wait", "vm1").returncode == 0

    # Its fix: the backend in ag1. Only the cinder-volume process restarts to read it.
    c.configure(backend_in_ag1=True)
    c.kill("cinder-volume-controller2@file")
    c.start_down("cinder-volume-controller2@file")
    wait_for(lambda: {"name": "ag1", "available": True} in _volume_zones(c), timeout=30,
             interval=0.5)
    srv = _boot(c, image, "vm2")
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["OS-EXT-SRV-ATTR:host"] == "controller1"
    [att] = c.openstack_json("server", "volume", "list", "vm2")
    vol = c.openstack_json("volume", "show", att["Volume ID"])
    assert vol["status"] == "in-use" and vol["availability_zone"] == "ag1", vol
    # The volume was filled from glance-api's store file (direct_url), not downloaded:
    # cinder-volume never made its download dir.
    # (the CLI shows direct_url among the image's properties)
    direct = c.openstack_json("image", "show", image)["properties"]["direct_url"]
    children = c.data_dir / SPREAD_DIR
    assert direct.startswith((children / "glance-api" / "images").as_uri() + "/"), direct
    assert not (children / "cinder-volume-controller2@file" / "image-downloads").exists()
    # Each compute process listens to Cinder's notifications on a queue of its own, and
    # what was sent there was taken (RabbitMQ's own account).
    queues = _queues(c)
    for host in ("controller1", "controller2", "controller3"):
        assert queues.get(f"nova-compute.{host}.volume-creations") == (0, 1), queues

    _dead_host_and_restart(c, image)


def _queues(c: Spread) -> dict[str, tuple[int, int]]:
    """name → (messages waiting, consumers) on the cloud's RabbitMQ virtual host."""
    import subprocess

    vhost = c.transport_url.rsplit("/", 1)[1]
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name",
                          "messages_ready", "consumers"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) == 3 and r[1].isdigit()}


def _dead_host_and_restart(c: Spread, image: str) -> None:
    """kill -9 of controller1's nova-compute: down, ag1 boots fail; started again: up."""
    c.kill("nova-compute-controller1")
    assert c.processes()["nova-compute-controller1"]["exit_code"] == -signal.SIGKILL
    wait_for(lambda: _state(c, "controller1") == "down", timeout=30, interval=1)
    detail = c.openstack_json("availability", "zone", "list", "--compute", "--long")
    [row] = [z for z in detail if z["Zone Name"] == "ag1" and z["Host Name"] == "controller1"]
    assert row["Service Status"].startswith("enabled XXX "), row
    srv = _boot(c, image, "vm3", bfv=False)
    assert srv["status"] == "ERROR", srv
    assert re.match(r"^No valid host was found\.", srv["fault"]["message"]), srv["fault"]
    # Only the dead process is down: the others kept running (no --restart: not restarted).
    procs = c.processes()
    assert [n for n, p in procs.items() if p["state"] != "up"] == ["nova-compute-controller1"]

    c.start_down("nova-compute-controller1")
    assert c.processes()["nova-compute-controller1"]["restarts"] == 1
    wait_for(lambda: _state(c, "controller1") == "up", timeout=30, interval=1)
    srv = _boot(c, image, "vm4", bfv=False)
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert srv["OS-EXT-SRV-ATTR:host"] == "controller1"
    # The restarted host's repair left its running server alone; nothing is stuck.
    servers = {s["Name"]: s["Status"] for s in c.openstack_json("server", "list")}
    assert servers == {"vm2": "ACTIVE", "vm3": "ERROR", "vm4": "ACTIVE"}, servers


def test_server_on_a_network_gets_a_bound_port_across_processes(spread, image):
    """nova-api checks the network and nova-compute creates and binds the port over HTTP
    (the binding as nova.conf's [neutron] user): the server has an address of the subnet
    and its port is bound to its host."""
    c = spread
    net = c.openstack_json("network", "create", "net1")
    c.openstack_json("subnet", "create", "--network", "net1", "--subnet-range",
                     "10.9.0.0/24", "sub1")
    c.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                "--network", "net1", "vm-net", "--wait")
    srv = c.openstack_json("server", "show", "vm-net")
    assert srv["status"] == "ACTIVE", srv.get("fault")
    assert list(srv["addresses"]) == ["net1"], srv["addresses"]
    [ip] = srv["addresses"]["net1"]
    assert re.fullmatch(r"10\.9\.0\.\d+", ip), ip
    [port] = c.openstack_json("port", "list", "--server", "vm-net", "--long")
    assert port["ID"] and port["Status"] in ("ACTIVE", "DOWN"), port
    shown = c.openstack_json("port", "show", port["ID"])
    assert shown["network_id"] == net["id"]
    assert shown["binding_host_id"] == srv["OS-EXT-SRV-ATTR:host"], shown
    assert shown["device_owner"] == f"compute:{srv['OS-EXT-AZ:availability_zone']}"
    assert c.openstack("server", "delete", "--wait", "vm-net").returncode == 0
    assert c.openstack_json("port", "list", "--network", "net1",
                            "--device-owner", shown["device_owner"]) == []


def test_console_tokens_shared_by_the_api_workers_and_the_proxy(spread, image):
    """A console token issued by either nova-api worker is in the database: the other
    worker answers GET /os-console-auth-tokens/{token} and nova-novncproxy, a process of
    its own, relays the fake guest's RFB handshake; the server's delete drops it."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from tests.functional.test_compute_consoles import _WebSocket

    c = spread
    assert c.processes()["nova-novncproxy"]["state"] == "up"
    c.openstack("server", "create", "--image", image, "--flavor", "m1.tiny", "--nic",
                "none", "vm-console", "--wait")
    sid = c.openstack_json("server", "show", "vm-console")["id"]
    tokens = []
    for _ in range(4):      # two workers accept from one socket: each token, either one
        url = c.openstack_json("console", "url", "show", "--novnc", "vm-console")["url"]
        token = unquote(parse_qs(urlsplit(url).query)["path"][0]).split("token=")[1]
        tokens.append(token)
        for _ in range(2):
            shown = c.openstack_json("--os-compute-api-version", "2.31", "console",
                                     "connection", "show", token)
            assert shown["instance_uuid"] == sid, shown
        ws = _WebSocket(url)
        assert ws.receive() == b"RFB 003.008\n"
        ws.sock.close()
    assert c.openstack("server", "delete", "--wait", "vm-console").returncode == 0
    for token in tokens:
        gone = c.openstack("--os-compute-api-version", "2.31", "console", "connection",
                           "show", token)
        assert gone.returncode != 0 and "Token not found" in gone.stderr, gone.stderr


def test_host_joins_from_another_address(spread, image, tmp_path):
    """A nova-compute and a cinder-volume on 127.0.0.2 with their own data dir, given only
    the transport URL, the database URL and Keystone's URL, register controller4; an
    admin puts it in an aggregate and a server lands there."""
    c = spread
    join = LiveCloud(tmp_path, database_url=c.database_url)
    common = COMMON.format(rabbit=c.transport_url, exchange=c.exchange)
    write_config(join.config_dir, nova=common + _authtoken(c.offset, "nova"),
                 cinder=common + _authtoken(c.offset, "cinder"))
    extra = ["--only", "nova-compute=controller4,cinder-volume=controller4@file",
             "--host", "127.0.0.2"]
    r = join.stackling("start", "-d", *extra)
    assert r.returncode == 0, r.stderr
    try:
        w = join.stackling("wait", "--timeout", "60", *extra)
        assert w.returncode == 0, (w.stderr, join.log())
        wait_for(lambda: _state(c, "controller4") == "up", timeout=30, interval=1)
        wait_for(lambda: ("controller4@file", "up") in {
            (s["Host"], s["State"]) for s in c.openstack_json("volume", "service", "list")},
            timeout=30, interval=1)
        aggregates = c.openstack_json("aggregate", "list", "--long")
        assert not [a for a in aggregates if "controller4" in a["Hosts"]], aggregates
        c.openstack_json("aggregate", "create", "--zone", "az4", "ag4")
        c.openstack_json("aggregate", "add", "host", "ag4", "controller4")
        c.openstack("server", "create", "--image", image, "--flavor", "m1.tiny",
                    "--availability-zone", "az4", "--nic", "none", "vm-joined", "--wait")
        srv = c.openstack_json("server", "show", "vm-joined")
        assert srv["status"] == "ACTIVE", srv.get("fault")
        assert srv["OS-EXT-SRV-ATTR:host"] == "controller4"
        assert srv["OS-EXT-AZ:availability_zone"] == "az4"
    finally:
        join.stackling("stop", *extra)
