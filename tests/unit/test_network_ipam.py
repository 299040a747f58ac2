"""The IPAM's address math and free ranges, on an in-memory SQLite database."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import select

from stackling.db.api import Database
from stackling.db.models import Base
from stackling.db.models_network import IpRange, Network, Port, Subnet
from stackling.network.objects import ipam


def test_default_gateway_and_pools():
    assert ipam.default_gateway("10.0.0.0/24") == "10.0.0.1"
    assert ipam.default_gateway("2001:db8::/64") == "2001:db8::"
    assert ipam.default_pools("10.0.0.0/24", "10.0.0.1") == [
        {"start": "10.0.0.2", "end": "10.0.0.254"}]
    # A gateway in the middle splits the pool around it.
    assert ipam.default_pools("10.0.0.0/29", "10.0.0.3") == [
        {"start": "10.0.0.1", "end": "10.0.0.2"}, {"start": "10.0.0.4", "end": "10.0.0.6"}]
    assert ipam.default_pools("10.0.0.0/31", None) == [
        {"start": "10.0.0.0", "end": "10.0.0.1"}]
    assert ipam.default_pools("2001:db8::/64", "2001:db8::") == [
        {"start": "2001:db8::1", "end": "2001:db8::ffff:ffff:ffff:ffff"}]


def test_keys_sort_numerically_for_both_versions():
    keys = [ipam.to_key(ip) for ip in ("10.0.0.9", "10.0.0.10", "2001:db8::1")]
    assert keys == sorted(keys)
    assert ipam.from_key(ipam.to_key("2001:db8::1"), 6) == "2001:db8::1"


@pytest.fixture
def session(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'ipam.db'}")
    Base.metadata.create_all(db.engine)
    with db.writer() as s:
        s.add(Network(id="n", project_id="p"))
        s.flush()
        yield s
    db.dispose()


def _subnet(s, cidr: str, pools=None) -> Subnet:
    pools = pools or ipam.default_pools(cidr, ipam.default_gateway(cidr))
    sn = Subnet(id=cidr, network_id="n", ip_version=ipaddress.ip_network(cidr).version,
                cidr=cidr, gateway_ip=ipam.default_gateway(cidr), allocation_pools=pools)
    s.add(sn)
    s.flush()
    ipam.seed(s, sn.id, pools)
    return sn


def _port(s, pid: str) -> None:
    s.add(Port(id=pid, network_id="n", mac_address=pid))
    s.flush()


def test_pick_hold_give_back_keeps_ranges_exact(session):
    sn = _subnet(session, "10.0.0.0/28")   # pool .2-.14: 13 addresses
    assert ipam.free_count(session, sn.id) == 13
    held = []
    for i in range(13):
        _port(session, f"p{i}")
        ip = ipam.pick(session, sn)
        ipam.hold(session, sn, ip, f"p{i}")
        held.append(ip)
    assert sorted(held, key=ipaddress.ip_address) == [f"10.0.0.{i}" for i in range(2, 15)]
    assert ipam.pick(session, sn) is None and ipam.free_count(session, sn.id) == 0
    for ip in ("10.0.0.5", "10.0.0.7", "10.0.0.6"):
        ipam.give_back(session, sn, ip)
    ranges = [(r.first, r.last) for r in session.scalars(
        select(IpRange).where(IpRange.subnet_id == sn.id))]
    assert ranges == [(ipam.to_key("10.0.0.5"), ipam.to_key("10.0.0.7"))]


def test_lowest_first_and_window(session):
    sn = _subnet(session, "10.1.0.0/16")
    assert ipam.pick(session, sn, lowest=True) == "10.1.0.2"
    picks = {ipam.pick(session, sn) for _ in range(200)}
    # Random among the first 1000 free addresses, never sequential-only.
    assert len(picks) > 100
    assert all(ipaddress.ip_address(p) < ipaddress.ip_address("10.1.3.234") for p in picks)


def test_give_back_outside_pools_is_ignored(session):
    sn = _subnet(session, "10.0.0.0/24", [{"start": "10.0.0.10", "end": "10.0.0.20"}])
    _port(session, "p")
    ipam.hold(session, sn, "10.0.0.50", "p")     # inside the cidr, outside the pool
    assert ipam.free_count(session, sn.id) == 11
    ipam.give_back(session, sn, "10.0.0.50")
    assert ipam.free_count(session, sn.id) == 11


def test_eui64_address():
    from stackling.network.objects.ports import eui64

    assert eui64("2001:db8::/64", "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"
