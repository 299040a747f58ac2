"""IPAM: allocation pools as free ranges, one allocation row per address held.

Neutron's reference driver picks a random address among the first 1000 free ones of a
subnet's pools (``neutron/ipam/drivers/neutrondb_ipam/driver.py``, ``MAX_WIN``);
``network:dhcp`` and ``network:distributed`` ports take the lowest free address. Here the
free addresses are kept as ranges (``IpRange``), so finding a candidate reads a few
range rows instead of every allocation, and the (subnet, address) key of
``IpAllocation`` makes a double hand-out impossible on every database (a concurrent
loser gets an IntegrityError and the caller retries).
"""

from __future__ import annotations

import ipaddress
import random

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stackling.db.models_network import IpAllocation, IpRange, Subnet

WINDOW = 1000        # Neutron's MAX_WIN
RANGES_READ = 32     # enough ranges to fill the window in all but pathological cases
LOWEST_FIRST = ("network:dhcp", "network:distributed")


def to_key(ip: str | int | ipaddress._BaseAddress) -> str:
    return f"{int(ipaddress.ip_address(ip) if isinstance(ip, str) else ip):032x}"


def from_key(key: str, version: int) -> str:
    value = int(key, 16)
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def default_gateway(cidr: str) -> str:
    """IPv4: the first host; IPv6: the network address itself (Neutron's ``_gateway_ip_str``)."""
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1) if net.version == 4 else str(net.network_address)


def usable(cidr: str) -> tuple[int, int]:
    """First and last address a pool may hold (IPv4 up to /30 drops network and broadcast)."""
    net = ipaddress.ip_network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen <= 30:
        return first + 1, last - 1
    if net.version == 6:
        return first + 1, last
    return first, last


def default_pools(cidr: str, gateway: str | None) -> list[dict]:
    """The pools Neutron generates (``neutron/ipam/utils.py`` ``generate_pools``)."""
    first, last = usable(cidr)
    pools = [(first, last)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        if first <= gw <= last:
            pools = [(a, b) for a, b in ((first, gw - 1), (gw + 1, last)) if a <= b]
    version = ipaddress.ip_network(cidr).version
    return [{"start": from_key(f"{a:032x}", version), "end": from_key(f"{b:032x}", version)}
            for a, b in pools]


def pool_bounds(pool: dict) -> tuple[int, int]:
    return int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))


def in_pools(ip: str, pools: list[dict]) -> bool:
    value = int(ipaddress.ip_address(ip))
    return any(a <= value <= b for a, b in map(pool_bounds, pools))


def seed(s: Session, subnet_id: str, pools: list[dict]) -> None:
    for pool in pools:
        a, b = pool_bounds(pool)
        s.add(IpRange(subnet_id=subnet_id, first=f"{a:032x}", last=f"{b:032x}"))


def reseed(s: Session, subnet: Subnet) -> None:
    """New pools: free ranges are the pools minus what is allocated (a subnet update)."""
    s.execute(delete(IpRange).where(IpRange.subnet_id == subnet.id))
    held = sorted(int(k, 16) for k in s.scalars(
        select(IpAllocation.ip_key).where(IpAllocation.subnet_id == subnet.id)))
    for pool in subnet.allocation_pools:
        a, b = pool_bounds(pool)
        start = a
        for ip in (h for h in held if a <= h <= b):
            if start <= ip - 1:
                s.add(IpRange(subnet_id=subnet.id, first=f"{start:032x}",
                              last=f"{ip - 1:032x}"))
            start = ip + 1
        if start <= b:
            s.add(IpRange(subnet_id=subnet.id, first=f"{start:032x}", last=f"{b:032x}"))


def pick(s: Session, subnet: Subnet, lowest: bool = False) -> str | None:
    """A free address of the subnet's pools, or None when they are exhausted."""
    ranges = list(s.scalars(select(IpRange).where(IpRange.subnet_id == subnet.id)
                            .order_by(IpRange.first).limit(1 if lowest else RANGES_READ)))
    if not ranges:
        return None
    if lowest:
        return from_key(ranges[0].first, subnet.ip_version)
    spans = [(int(r.first, 16), int(r.last, 16)) for r in ranges]
    window = min(WINDOW, sum(b - a + 1 for a, b in spans))
    offset = random.randrange(window)
    for a, b in spans:
        if offset <= b - a:
            return from_key(f"{a + offset:032x}", subnet.ip_version)
        offset -= b - a + 1
    return None  # pragma: no cover - the window never exceeds the spans


class Contended(Exception):
    """A concurrent transaction changed the ranges under us: run the transaction again."""


def take(s: Session, subnet: Subnet, ip: str) -> None:
    """Remove ``ip`` from the free ranges (it may lie outside every pool: nothing to do)."""
    key = to_key(ip)
    # The range starting at or below the address, closest first: one index probe.
    row = s.scalar(select(IpRange).where(IpRange.subnet_id == subnet.id, IpRange.first <= key)
                   .order_by(IpRange.first.desc()).limit(1).with_for_update())
    if row is not None and row.last < key:
        row = None
    if row is None:
        if in_pools(ip, subnet.allocation_pools) and not is_held(s, subnet.id, ip):
            # On PostgreSQL a row locked after a concurrent split is re-checked against
            # its new bounds, and the split-off half is not in our snapshot: the address
            # is free but we cannot see its range. Start over with a fresh snapshot.
            raise Contended(ip)
        return
    value = int(key, 16)
    if row.first == row.last:
        s.delete(row)
    elif row.first == key:
        row.first = f"{value + 1:032x}"
    elif row.last == key:
        row.last = f"{value - 1:032x}"
    else:
        s.add(IpRange(subnet_id=subnet.id, first=f"{value + 1:032x}", last=row.last))
        row.last = f"{value - 1:032x}"


def give_back(s: Session, subnet: Subnet, ip: str) -> None:
    """Return ``ip`` to the free ranges if it lies in a pool, merging with its neighbours."""
    if not in_pools(ip, subnet.allocation_pools):
        return
    value = int(ipaddress.ip_address(ip))
    lo = s.scalar(select(IpRange).where(IpRange.subnet_id == subnet.id,
                                        IpRange.last == f"{value - 1:032x}"))
    hi = s.scalar(select(IpRange).where(IpRange.subnet_id == subnet.id,
                                        IpRange.first == f"{value + 1:032x}"))
    # Only merge across a pool boundary when both sides are in one pool.
    same_pool = [p for p in map(pool_bounds, subnet.allocation_pools) if p[0] <= value <= p[1]]
    a, b = same_pool[0]
    if lo is not None and int(lo.last, 16) < a:
        lo = None
    if hi is not None and int(hi.first, 16) > b:
        hi = None
    if lo is not None and hi is not None:
        lo.last = hi.last
        s.delete(hi)
    elif lo is not None:
        lo.last = f"{value:032x}"
    elif hi is not None:
        hi.first = f"{value:032x}"
    else:
        s.add(IpRange(subnet_id=subnet.id, first=f"{value:032x}", last=f"{value:032x}"))


def hold(s: Session, subnet: Subnet, ip: str, port_id: str) -> None:
    take(s, subnet, ip)
    s.add(IpAllocation(subnet_id=subnet.id, ip_key=to_key(ip), ip_address=ip,
                       port_id=port_id, network_id=subnet.network_id))


def is_held(s: Session, subnet_id: str, ip: str) -> bool:
    return s.get(IpAllocation, (subnet_id, to_key(ip))) is not None


def free_count(s: Session, subnet_id: str) -> int:
    return sum(int(r.last, 16) - int(r.first, 16) + 1 for r in s.scalars(
        select(IpRange).where(IpRange.subnet_id == subnet_id)))
