"""Network and subnet rows: create, change, delete, with Neutron's in-use rules
(``neutron/db/db_base_plugin_v2.py``) and the IPAM ranges of each subnet."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stackling.db.models import utcnow
from stackling.db.models_network import FloatingIP, IpAllocation, Network, Port, Router, Subnet
from stackling.network import errors
from stackling.network.objects import agents, ipam

# Ports removed with their network or subnet instead of blocking the delete.
AUTO_DELETED_OWNERS = ("network:dhcp", "network:distributed",
                       "network:floatingip_agent_gateway")
MTU = {"vxlan": 1450, "geneve": 1450, "gre": 1458, "flat": 1500, "vlan": 1500, "local": 1500}


def bump(row: Any, changes: dict | None = None) -> bool:
    """Apply ``changes``; bump revision and updated_at only when something changed."""
    changed = changes is None
    for key, value in (changes or {}).items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.revision_number = (row.revision_number or 0) + 1
        row.updated_at = utcnow()
    return changed


def create_network(s: Session, values: dict) -> Network:
    net_type = values.pop("network_type", None) or ("flat" if values.get("external")
                                                     else "vxlan")
    seg = values.pop("segmentation_id", None)
    if seg is None and net_type in ("vxlan", "geneve", "gre", "vlan"):
        seg = (s.scalar(select(func.max(Network.segmentation_id))
                        .where(Network.network_type == net_type)) or 0) + 1
    if net_type == "flat" and values.get("physical_network") is None:
        values["physical_network"] = "public"
    mtu = values.pop("mtu", None) or MTU.get(net_type, 1500)
    row = Network(network_type=net_type, segmentation_id=seg, mtu=mtu, **values)
    s.add(row)
    s.flush()
    return row


def subnets_of(s: Session, network_id: str) -> list[Subnet]:
    return list(s.scalars(select(Subnet).where(Subnet.network_id == network_id)
                          .order_by(Subnet.created_at, Subnet.id)))


def delete_network(s: Session, net: Network) -> None:
    """Auto-deleted ports and unassociated floating IPs go; any other port is a 409."""
    ports = list(s.scalars(select(Port).where(Port.network_id == net.id)))
    blocking = []
    for port in ports:
        if port.device_owner in AUTO_DELETED_OWNERS:
            continue
        if port.device_owner == "network:floatingip":
            fip = s.scalar(select(FloatingIP).where(FloatingIP.floating_port_id == port.id))
            if fip is not None and fip.port_id is None:
                continue
        blocking.append(port.id)
    if blocking:
        raise errors.conflict(
            "NetworkInUse", f"Unable to complete operation on network {net.id}. There are "
            f"one or more ports still in use on the network, id for these ports is: "
            f"{','.join(blocking)}.")
    s.execute(delete(FloatingIP).where(FloatingIP.floating_network_id == net.id))
    for port in ports:
        s.delete(port)
    s.flush()
    for subnet in subnets_of(s, net.id):
        s.delete(subnet)
    s.flush()
    s.delete(net)


def check_overlap(s: Session, network_id: str, cidr: str, skip: str | None = None) -> None:
    new = ipaddress.ip_network(cidr)
    for other in subnets_of(s, network_id):
        if other.id != skip and ipaddress.ip_network(other.cidr).overlaps(new):
            raise errors.invalid_input(
                f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps "
                f"with another subnet")


def create_subnet(s: Session, net: Network, values: dict) -> Subnet:
    check_overlap(s, net.id, values["cidr"])
    row = Subnet(**values)
    s.add(row)
    s.flush()
    ipam.seed(s, row.id, row.allocation_pools)
    if row.enable_dhcp and not net.dhcp_zones:
        # The DHCP agent scheduler hosts the network with its first DHCP subnet.
        net.dhcp_zones = agents.schedule(s, "network", net.az_hints or [])
    bump(net)
    return row


def delete_subnet(s: Session, subnet: Subnet) -> None:
    """Only DHCP/metadata allocations are released silently; others are SubnetInUse."""
    held = s.execute(select(IpAllocation, Port.device_owner)
                     .join(Port, Port.id == IpAllocation.port_id)
                     .where(IpAllocation.subnet_id == subnet.id)).all()
    if any(owner not in AUTO_DELETED_OWNERS for _, owner in held):
        raise errors.conflict(
            "SubnetInUse", f"Unable to complete operation on subnet {subnet.id}: One or more "
            f"ports have an IP allocation from this subnet.")
    for alloc, _ in held:
        s.delete(alloc)
    net = s.get(Network, subnet.network_id)
    s.delete(subnet)
    if net is not None:
        bump(net)


def gateway_port(s: Session, subnet: Subnet) -> str | None:
    """The router port holding the subnet's gateway address, if any."""
    if subnet.gateway_ip is None:
        return None
    alloc = s.get(IpAllocation, (subnet.id, ipam.to_key(subnet.gateway_ip)))
    if alloc is None:
        return None
    port = s.get(Port, alloc.port_id)
    return port.id if port is not None and port.device_owner.startswith(
        "network:router_interface") else None


def has_gateway_ports(s: Session, net: Network) -> bool:
    return s.scalar(select(func.count()).select_from(Router)
                    .where(Router.gw_network_id == net.id)) > 0
