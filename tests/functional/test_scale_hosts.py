"""Many compute hosts in one process (issue 14): a host range in the topology and in --only.

20 hosts described by one range and spread over 4 zones by one aggregate range: each host
has its own service row, takes part in the one batched heartbeat, answers on its own RPC
topic and receives a server.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from sqlalchemy import event, select

from stackling.compute import joined_hosts
from stackling.db.models import Service
from stackling.seams import SelectionError, parse_only
from stackling.topology import Topology, TopologyError
from tests.helpers import ApiClient, settle

V260 = {"OpenStack-API-Version": "compute 2.60"}
HOSTS = [f"controller{i}" for i in range(1, 21)]
TOPOLOGY = """
controller: controller1
compute_hosts:
  - {name: "controller[1-20]", vcpus: 8, memory_mb: 8192, local_gb: 100}
aggregates:
  - {name: "agg[1-4]", availability_zone: "az[1-4]", hosts: ["controller[1-20]"]}
"""


@pytest.fixture
def scaled(cloud_factory):
    return cloud_factory(topology=TOPOLOGY)


def test_one_range_makes_twenty_hosts_in_four_zones():
    topo = Topology.from_dict(yaml.safe_load(TOPOLOGY))
    assert [h.name for h in topo.compute_hosts] == HOSTS
    assert [(a.name, a.availability_zone, a.hosts) for a in topo.aggregates] == [
        (f"agg{z}", f"az{z}", HOSTS[5 * (z - 1):5 * z]) for z in range(1, 5)]


@pytest.mark.parametrize("aggregate, message", [
    ({"name": "agg[1-4]", "hosts": ["h[1-9]"]}, "9 hosts do not split evenly over 4"),
    ({"name": "agg[1-4]", "availability_zone": "az[1-3]", "hosts": ["h[1-8]"]},
     "not one zone per aggregate"),
    ({"name": "agg[5-1]"}, "is empty"),
    ({"name": "agg[1-2", "hosts": []}, "bad host range"),
])
def test_bad_ranges_are_topology_errors(aggregate, message):
    with pytest.raises(TopologyError, match=message):
        Topology.from_dict({"compute_hosts": [{"name": "h[1-9]"}], "aggregates": [aggregate]})


def test_only_expands_ranges_and_adds_hosts_the_topology_lacks():
    sel = parse_only("nova-compute=controller[2-4],nova-compute=ctl[08-10],"
                     "cinder-volume=controller[1-2]@file")
    assert sel.compute_hosts == {"controller2", "controller3", "controller4",
                                 "ctl08", "ctl09", "ctl10"}
    assert sel.volume_backends == {"controller1@file", "controller2@file"}
    topo = Topology.from_dict({"compute_hosts": [{"name": "controller[1-3]", "vcpus": 4}]})
    # the described hosts this process runs keep their sizes; new ones join with defaults
    assert [h.name for h in topo.compute_hosts if sel.runs_host(h.name)] == [
        "controller2", "controller3"]
    joined = joined_hosts(SimpleNamespace(only=sel, topology=topo))
    assert [(h.name, h.vcpus) for h in joined] == [
        ("controller4", 16), ("ctl08", 16), ("ctl09", 16), ("ctl10", 16)]
    with pytest.raises(SelectionError, match="bad host range"):
        parse_only("nova-compute=controller[1-")


def test_each_host_has_its_service_row_and_zone(scaled):
    api = ApiClient(scaled)
    services = api.get("compute", "/v2.1/os-services?binary=nova-compute").json["services"]
    assert sorted((s["host"], s["zone"], s["state"]) for s in services) == sorted(
        (h, f"az{1 + i // 5}", "up") for i, h in enumerate(HOSTS))
    hypervisors = api.get("compute", "/v2.1/os-hypervisors").json["hypervisors"]
    assert sorted(h["hypervisor_hostname"] for h in hypervisors) == sorted(HOSTS)


def test_one_heartbeat_statement_for_all_hosts(scaled):
    def counts():
        with scaled.db.reader() as s:
            return dict(s.execute(select(Service.host, Service.report_count).where(
                Service.binary == "nova-compute")).all())

    before = counts()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])   # noqa: E731
    event.listen(scaled.db.engine, "before_cursor_execute", listener)
    try:
        scaled.heartbeat.beat()
    finally:
        event.remove(scaled.db.engine, "before_cursor_execute", listener)
    after = counts()
    assert set(after) == set(HOSTS)
    assert all(after[h] == before[h] + 1 for h in HOSTS)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    # one for every service of the process, one to rewrite the Cinder services' zone
    assert len(updates) == 2 and "report_count" in updates[0]


def test_every_host_receives_a_server(scaled):
    api = ApiClient(scaled)
    image = api.post("image", "/v2/images", {"name": "cirros", "disk_format": "raw",
                                             "container_format": "bare"}).json["id"]
    api.request("image", "PUT", f"/v2/images/{image}/file", raw=b"\0" * 512,
                headers={"Content-Type": "application/octet-stream"})
    api.put("compute", f"/v2.1/os-quota-sets/{api.project_id}",
            {"quota_set": {"instances": -1}})
    ids = {}
    for i, host in enumerate(HOSTS):
        # zone:host, the admin's way to pick a host: the build goes to compute.<host>
        resp = api.post("compute", "/v2.1/servers", {"server": {
            "name": f"s-{host}", "imageRef": image, "flavorRef": "42", "networks": "none",
            "availability_zone": f"az{1 + i // 5}:{host}"}}, headers=V260)
        assert resp.status == 202, resp
        ids[resp.json["server"]["id"]] = host
    settle(scaled)
    for sid, host in ids.items():
        server = api.get("compute", f"/v2.1/servers/{sid}",
                         headers=V260).json["server"]
        assert server["status"] == "ACTIVE", server.get("fault")
        assert server["OS-EXT-SRV-ATTR:host"] == host
        assert server["OS-EXT-AZ:availability_zone"] == f"az{1 + HOSTS.index(host) // 5}"
