"""Port rows: MAC addresses, fixed IPs through the IPAM, security group links, binding,
and the retry that settles concurrent allocations (``neutron/db/ipam_pluggable_backend.py``,
``ipam_backend_mixin.py``)."""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from stackling.db.models_network import (
    FloatingIP,
    IpAllocation,
    Network,
    Port,
    PortSecurityGroup,
    Subnet,
)
from stackling.network import errors
from stackling.network.objects import ipam
from stackling.network.objects.networks import bump, subnets_of

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)
T = TypeVar("T")
BASE_MAC = "fa:16:3e"
RETRIES = 20
STATEFUL_V6 = (None, "dhcpv6-stateful")


def in_transaction(cloud: Cloud, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a write transaction, again when a concurrent writer won a key race
    (two ports picking one address, two first uses creating one default group)."""
    for attempt in range(RETRIES):
        try:
            with cloud.db.writer() as s:
                return work(s)
        except (IntegrityError, OperationalError, ipam.Contended) as exc:
            if attempt == RETRIES - 1 or not _retriable(exc):
                raise
            LOG.debug("retrying after %s", exc.__class__.__name__)
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def _retriable(exc: Exception) -> bool:
    if isinstance(exc, (IntegrityError, ipam.Contended)):
        return True
    text = str(exc).lower()
    return "deadlock" in text or "lock wait" in text or "could not serialize" in text


def random_mac(s: Session, network_id: str) -> str:
    for _ in range(16):
        mac = BASE_MAC + "".join(f":{random.randrange(256):02x}" for _ in range(3))
        if s.scalar(select(Port.id).where(Port.network_id == network_id,
                                          Port.mac_address == mac)) is None:
            return mac
    raise errors.conflict("MacAddressGenerationFailure",
                          f"Unable to generate unique mac on network {network_id}.")


def check_mac(s: Session, network_id: str, mac: str, skip: str | None = None) -> None:
    other = s.scalar(select(Port.id).where(Port.network_id == network_id,
                                           Port.mac_address == mac))
    if other is not None and other != skip:
        raise errors.conflict(
            "MacAddressInUse", f"Unable to complete operation for network {network_id}. "
            f"The mac address {mac} is in use.")


def eui64(cidr: str, mac: str) -> str:
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + int.from_bytes(bytes(iid), "big"))


def allocations(s: Session, port_id: str) -> list[IpAllocation]:
    return list(s.scalars(select(IpAllocation).where(IpAllocation.port_id == port_id)
                          .order_by(IpAllocation.ip_key)))


def _resolve(s: Session, net: Network, requested: list[Any]) -> list[tuple[Subnet, str | None]]:
    """(subnet, ip or None) for each requested entry, checked in Neutron's order."""
    subnets = {sn.id: sn for sn in subnets_of(s, net.id)}
    if requested and not subnets:
        raise errors.invalid_input("IP allocation requires subnets for network")
    out: list[tuple[Subnet, str | None]] = []
    seen: set[str] = set()
    for entry in requested:
        if not isinstance(entry, dict) or not (entry.get("subnet_id") or
                                               entry.get("ip_address")):
            raise errors.invalid_input("IP allocation requires subnet_id or ip_address")
        sid, ip = entry.get("subnet_id"), entry.get("ip_address")
        subnet = None
        if sid:
            subnet = subnets.get(sid)
            if subnet is None:
                if s.get(Subnet, sid) is None:
                    raise errors.missing("subnet", sid)
                raise errors.invalid_input(
                    f"Failed to create port on network {net.id}, because fixed_ips "
                    f"included invalid subnet {sid}")
        if ip:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise errors.http_bad_request(
                    f"Invalid input for fixed_ips. Reason: '{ip}' is not a valid IP "
                    f"address.") from None
            ip = str(addr)
            if ip in seen:
                raise errors.http_bad_request(
                    f"Invalid input for fixed_ips. Reason: Duplicate IP address '{ip}'.")
            seen.add(ip)
            if subnet is None:
                subnet = next((sn for sn in subnets.values()
                               if addr in ipaddress.ip_network(sn.cidr)), None)
                if subnet is None:
                    raise errors.bad("InvalidIpForNetwork", f"IP address {ip} is not a valid "
                                     f"IP for any of the subnets on the specified network.")
            if not _valid_for(subnet, addr):
                raise errors.bad("InvalidIpForSubnet", f"IP address {ip} is not a valid IP "
                                 f"for the specified subnet.")
        out.append((subnet, ip))
    # Specific addresses first, as Neutron does.
    return sorted(out, key=lambda e: e[1] is None)


def _valid_for(subnet: Subnet, addr: ipaddress._BaseAddress) -> bool:
    net = ipaddress.ip_network(subnet.cidr)
    if addr not in net:
        return False
    if net.version == 4 and net.prefixlen <= 30:
        return addr not in (net.network_address, net.broadcast_address)
    return True


def _hold_specific(s: Session, subnet: Subnet, ip: str, port_id: str) -> None:
    if ipam.is_held(s, subnet.id, ip):
        raise errors.conflict("IpAddressAlreadyAllocated",
                              f"IP address {ip} already allocated in subnet {subnet.id}")
    ipam.hold(s, subnet, ip, port_id)


def _hold_any(s: Session, subnet: Subnet, port: Port) -> str | None:
    if subnet.ip_version == 6 and subnet.ipv6_address_mode in ("slaac", "dhcpv6-stateless"):
        ip = eui64(subnet.cidr, port.mac_address)
        if ipam.is_held(s, subnet.id, ip):
            raise errors.conflict("IpAddressAlreadyAllocated",
                                  f"IP address {ip} already allocated in subnet {subnet.id}")
        ipam.hold(s, subnet, ip, port.id)
        return ip
    ip = ipam.pick(s, subnet, lowest=port.device_owner in ipam.LOWEST_FIRST)
    if ip is not None:
        ipam.hold(s, subnet, ip, port.id)
    return ip


def allocate(s: Session, net: Network, port: Port, requested: list | None) -> None:
    """Give ``port`` its addresses: the requested ones, or Neutron's defaults."""
    if requested is not None:
        for subnet, ip in _resolve(s, net, requested):
            if ip is not None:
                _hold_specific(s, subnet, ip, port.id)
            elif _hold_any(s, subnet, port) is None:
                raise errors.conflict("IpAddressGenerationFailure",
                                      f"No more IP addresses available for subnet "
                                      f"{subnet.id}.")
        return
    subnets = subnets_of(s, net.id)
    router_port = port.device_owner.startswith("network:router")
    groups = [[sn for sn in subnets if sn.ip_version == 4],
              [sn for sn in subnets if sn.ip_version == 6
               and sn.ipv6_address_mode in STATEFUL_V6]]
    for group in groups:
        if group and not any(_hold_any(s, sn, port) for sn in group):
            raise errors.conflict("IpAddressGenerationFailure",
                                  f"No more IP addresses available on network {net.id}.")
    if not router_port:
        for sn in subnets:
            if sn.ip_version == 6 and sn.ipv6_address_mode not in STATEFUL_V6:
                _hold_any(s, sn, port)


def release(s: Session, port_id: str, keep: Callable[[IpAllocation], bool] = lambda a: False
            ) -> None:
    for alloc in allocations(s, port_id):
        if keep(alloc):
            continue
        subnet = s.get(Subnet, alloc.subnet_id)
        s.delete(alloc)
        if subnet is not None:
            ipam.give_back(s, subnet, alloc.ip_address)
    s.flush()


def replace_ips(s: Session, net: Network, port: Port, requested: list) -> None:
    """A PUT of ``fixed_ips``: keep what is asked again, release the rest, hold the new."""
    current = allocations(s, port.id)
    resolved = _resolve(s, net, requested)
    keep: set[tuple[str, str]] = set()
    todo = []
    for subnet, ip in resolved:
        match = next((a for a in current if a.subnet_id == subnet.id
                      and (ip is None or a.ip_address == ip)
                      and (a.subnet_id, a.ip_address) not in keep), None)
        if match is not None:
            keep.add((match.subnet_id, match.ip_address))
        else:
            todo.append({"subnet_id": subnet.id, **({"ip_address": ip} if ip else {})})
    release(s, port.id, keep=lambda a: (a.subnet_id, a.ip_address) in keep)
    if todo:
        allocate(s, net, port, todo)


def fixed_ips(s: Session, port_id: str) -> list[dict]:
    return [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
            for a in allocations(s, port_id)]


def security_groups(s: Session, port_id: str) -> list[str]:
    return sorted(s.scalars(select(PortSecurityGroup.security_group_id)
                            .where(PortSecurityGroup.port_id == port_id)))


_ALLOCATIONS, _PORT_GROUPS = IpAllocation.__table__, PortSecurityGroup.__table__
# Core, built once: every port listing (each server view asks for its ports) reads them.
_FIXED_IPS_OF = (select(_ALLOCATIONS.c.port_id, _ALLOCATIONS.c.subnet_id,
                        _ALLOCATIONS.c.ip_address)
                 .where(_ALLOCATIONS.c.port_id.in_(bindparam("ids", expanding=True)))
                 .order_by(_ALLOCATIONS.c.ip_key))
_GROUPS_OF = (select(_PORT_GROUPS.c.port_id, _PORT_GROUPS.c.security_group_id)
              .where(_PORT_GROUPS.c.port_id.in_(bindparam("ids", expanding=True))))


def fixed_ips_and_groups_of(s: Session, port_ids: list[str], fixed: dict[str, list[dict]],
                            groups: dict[str, list[str]]) -> None:
    """Add these ports' fixed IPs (in ``ip_key`` order) and security group ids to
    ``fixed`` and ``groups`` (by port id). In a session, a Core read autoflushes first:
    a port created or changed in it is read as it now is."""
    for a in s.execute(_FIXED_IPS_OF, {"ids": port_ids}):
        fixed[a.port_id].append({"subnet_id": a.subnet_id, "ip_address": a.ip_address})
    for link in s.execute(_GROUPS_OF, {"ids": port_ids}):
        groups[link.port_id].append(link.security_group_id)


def set_security_groups(s: Session, port_id: str, group_ids: list[str]) -> None:
    s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id))
    for gid in dict.fromkeys(group_ids):
        s.add(PortSecurityGroup(port_id=port_id, security_group_id=gid))


def create(s: Session, net: Network, values: dict, requested_ips: list | None,
           group_ids: list[str]) -> Port:
    mac = values.pop("mac_address", None)
    if mac:
        check_mac(s, net.id, mac)
    else:
        mac = random_mac(s, net.id)
    port = Port(network_id=net.id, mac_address=mac, **values)
    s.add(port)
    s.flush()
    allocate(s, net, port, requested_ips)
    set_security_groups(s, port.id, group_ids)
    s.flush()
    return port


def bind(port: Port, host: str | None) -> None:
    """ML2 with the Open vSwitch mechanism driver binds any host of the cloud."""
    port.host_id = host or ""
    if host:
        port.vif_type = "ovs"
        port.vif_details = {"port_filter": True, "connectivity": "l2",
                            "bridge_name": "br-int", "datapath_type": "system",
                            "ovs_hybrid_plug": False, "bound_drivers": {"0": "openvswitch"}}
        # The agent plugs the VIF at once in-process, so a bound port comes up.
        port.status = "ACTIVE"
    else:
        port.vif_type, port.vif_details = "unbound", {}
        if port.device_owner.startswith("compute:") or not port.device_owner:
            port.status = "DOWN"


def delete_port(s: Session, port: Port) -> None:
    """Release the addresses and disassociate floating IPs that pointed at the port."""
    s.execute(update(FloatingIP).where(FloatingIP.port_id == port.id).values(
        port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
    release(s, port.id)
    s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
    s.delete(port)
    s.flush()


def touch(port: Port) -> None:
    bump(port)


def ensure_dhcp_port(s: Session, net: Network, subnet: Subnet, host: str | None) -> None:
    """[OVS] The DHCP agent's port takes the lowest free address of each DHCP subnet."""
    if not subnet.enable_dhcp:
        return
    port = s.scalar(select(Port).where(Port.network_id == net.id,
                                       Port.device_owner == "network:dhcp"))
    if port is None:
        import uuid

        device = f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host or 'dhcp')}-{net.id}"
        port = create(s, net, {"project_id": net.project_id, "device_owner": "network:dhcp",
                               "device_id": device, "port_security_enabled": False},
                      [{"subnet_id": subnet.id}], [])
        bind(port, host)
    elif not any(a.subnet_id == subnet.id for a in allocations(s, port.id)):
        allocate(s, net, port, [{"subnet_id": subnet.id}])
