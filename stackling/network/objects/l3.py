"""L3: router gateways and interfaces (as ports), floating IPs and the router a floating IP
goes through (``neutron/db/l3_db.py``)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling.db.models_network import FloatingIP, IpAllocation, Network, Port, Router, Subnet
from stackling.network import errors
from stackling.network.objects import ports
from stackling.network.objects.networks import bump, subnets_of

INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                    "network:ha_router_replicated_interface")


def interface_ports(s: Session, router_id: str) -> list[Port]:
    return list(s.scalars(select(Port).where(Port.device_id == router_id,
                                             Port.device_owner.in_(INTERFACE_OWNERS))
                          .order_by(Port.created_at, Port.id)))


def _service_port(s: Session, net: Network, project_id: str, owner: str, device_id: str,
                  requested: list | None) -> Port:
    return ports.create(s, net, {"project_id": project_id, "device_owner": owner,
                                 "device_id": device_id, "port_security_enabled": False},
                        requested, [])


def set_gateway(s: Session, router: Router, net: Network | None, enable_snat: bool,
                fixed: list | None) -> None:
    """Replace the gateway port (or remove it when ``net`` is None)."""
    if router.gw_port_id and (net is None or net.id != router.gw_network_id or fixed):
        if s.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id)):
            raise errors.conflict(
                "RouterExternalGatewayInUseByFloatingIp",
                f"Gateway cannot be updated for router {router.id}, since a gateway to "
                f"external network {router.gw_network_id} is required by one or more "
                f"floating IPs.")
        old = s.get(Port, router.gw_port_id)
        if old is not None:
            ports.delete_port(s, old)
        router.gw_port_id = router.gw_network_id = None
    router.enable_snat = enable_snat if net is not None else True
    if net is None or router.gw_port_id:
        return
    if fixed:
        for entry in fixed:
            ip = entry.get("ip_address")
            sub = s.get(Subnet, entry.get("subnet_id")) if entry.get("subnet_id") else None
            if ip and any(sn.gateway_ip == ip for sn in subnets_of(s, net.id)
                          if sub is None or sn.id == sub.id):
                raise errors.bad_request("router", f"External IP {ip} is the same as the "
                                                   f"gateway IP")
    requested = fixed
    if not fixed:
        v4 = [sn for sn in subnets_of(s, net.id) if sn.ip_version == 4]
        requested = [{"subnet_id": v4[0].id}] if v4 else None
    port = _service_port(s, net, "", "network:router_gateway", router.id, requested)
    port.status = "ACTIVE"
    router.gw_port_id, router.gw_network_id = port.id, net.id


def check_subnet_free(s: Session, router: Router, subnet: Subnet) -> None:
    new = ipaddress.ip_network(subnet.cidr)
    others = [p for p in interface_ports(s, router.id)]
    if router.gw_port_id:
        gw = s.get(Port, router.gw_port_id)
        if gw is not None:
            others.append(gw)
    for port in others:
        for alloc in ports.allocations(s, port.id):
            if alloc.subnet_id == subnet.id:
                raise errors.bad_request("router", f"Router already has a port on subnet "
                                                   f"{subnet.id}")
            other = s.get(Subnet, alloc.subnet_id)
            if other is not None and ipaddress.ip_network(other.cidr).overlaps(new):
                raise errors.bad_request(
                    "router", f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                              f"{other.cidr} of subnet {other.id}")


def add_subnet_interface(s: Session, router: Router, subnet: Subnet) -> Port:
    if not subnet.gateway_ip:
        raise errors.bad_request("router", "Subnet for router interface must have a gateway "
                                           "IP")
    check_subnet_free(s, router, subnet)
    net = s.get(Network, subnet.network_id)
    if s.get(IpAllocation, (subnet.id, _key(subnet.gateway_ip))) is not None:
        raise errors.conflict("IpAddressAlreadyAllocated",
                              f"IP address {subnet.gateway_ip} already allocated in subnet "
                              f"{subnet.id}")
    port = _service_port(s, net, router.project_id, "network:router_interface", router.id,
                         [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}])
    port.status = "ACTIVE"
    bump(router)
    return port


def _key(ip: str) -> str:
    from stackling.network.objects.ipam import to_key

    return to_key(ip)


def add_port_interface(s: Session, router: Router, port: Port) -> Port:
    if port.device_id:
        raise errors.conflict("PortInUse", f"Unable to complete operation on port {port.id} "
                              f"for network {port.network_id}. Port already has an attached "
                              f"device {port.device_id}.")
    allocs = ports.allocations(s, port.id)
    if not allocs:
        raise errors.bad_request("router", "Router port must have at least one fixed IP")
    if sum(1 for a in allocs if ":" not in a.ip_address) > 1:
        raise errors.bad_request("router", "Cannot have multiple IPv4 subnets on router port")
    for alloc in allocs:
        subnet = s.get(Subnet, alloc.subnet_id)
        check_subnet_free(s, router, subnet)
    port.device_id, port.device_owner = router.id, "network:router_interface"
    ports.set_security_groups(s, port.id, [])
    port.status = "ACTIVE"
    bump(port)
    bump(router)
    return port


def fips_through(s: Session, router_id: str, subnet_id: str) -> bool:
    for fip in s.scalars(select(FloatingIP).where(FloatingIP.router_id == router_id,
                                                  FloatingIP.port_id.is_not(None))):
        if any(a.subnet_id == subnet_id for a in ports.allocations(s, fip.port_id)):
            return True
    return False


def remove_interface(s: Session, router: Router, port: Port, subnet_id: str | None) -> None:
    allocs = ports.allocations(s, port.id)
    for alloc in allocs:
        if (subnet_id is None or alloc.subnet_id == subnet_id) and \
                fips_through(s, router.id, alloc.subnet_id):
            raise errors.conflict(
                "RouterInterfaceInUseByFloatingIP",
                f"Router interface for subnet {alloc.subnet_id} on router {router.id} cannot "
                f"be deleted, as it is required by one or more floating IPs.")
    if subnet_id is not None and len(allocs) > 1:
        ports.release(s, port.id, keep=lambda a: a.subnet_id != subnet_id)
        bump(port)
    else:
        ports.delete_port(s, port)
    bump(router)


def delete_router(s: Session, router: Router) -> None:
    attached = interface_ports(s, router.id)
    if attached:
        raise errors.conflict("RouterInUse", f"Router {router.id} has ports still attached: "
                              f"{', '.join(p.id for p in attached)}")
    set_gateway(s, router, None, True, None)
    s.delete(router)


# -- floating IPs --------------------------------------------------------------------------


def router_for(s: Session, ext_net_id: str, subnet: Subnet, port_id: str) -> str:
    """A router with an interface on ``subnet`` and a gateway on the external network."""
    candidates = []
    for alloc in s.scalars(select(IpAllocation).where(IpAllocation.subnet_id == subnet.id)):
        owner = s.get(Port, alloc.port_id)
        if owner is None or owner.device_owner not in INTERFACE_OWNERS:
            continue
        router = s.get(Router, owner.device_id)
        if router is not None and router.gw_network_id == ext_net_id:
            candidates.append((alloc.ip_address != subnet.gateway_ip, router.id))
    if not candidates:
        raise errors.bad("ExternalGatewayForFloatingIPNotFound",
                         f"External network {ext_net_id} is not reachable from subnet "
                         f"{subnet.id}.  Therefore, cannot associate Port {port_id} with a "
                         f"Floating IP.", 404)
    return sorted(candidates)[0][1]


def associate(s: Session, fip: FloatingIP, port: Port | None, fixed_ip: str | None) -> None:
    if port is None:
        fip.port_id = fip.fixed_ip_address = fip.router_id = None
        fip.status = "DOWN"
        return
    allocs = [a for a in ports.allocations(s, port.id)]
    v4 = [a for a in allocs if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip is not None:
        if ipaddress.ip_address(fixed_ip).version != 4:
            raise errors.bad_request("floatingip", f"Cannot process floating IP association "
                                     f"with {fixed_ip}, since that is not an IPv4 address")
        chosen = next((a for a in v4 if a.ip_address == fixed_ip), None)
        if chosen is None:
            raise errors.bad_request("floatingip", f"Port {port.id} does not have fixed ip "
                                     f"{fixed_ip}")
    elif not v4:
        raise errors.bad_request("floatingip", f"Cannot add floating IP to port {port.id} "
                                 f"that has no fixed IPv4 addresses")
    elif len(v4) > 1:
        raise errors.bad_request("floatingip", f"Port {port.id} has multiple fixed IPv4 "
                                 f"addresses.  Must provide a specific IPv4 address when "
                                 f"assigning a floating IP")
    else:
        chosen = v4[0]
    other = s.scalar(select(FloatingIP).where(
        FloatingIP.port_id == port.id, FloatingIP.fixed_ip_address == chosen.ip_address,
        FloatingIP.floating_network_id == fip.floating_network_id, FloatingIP.id != fip.id))
    if other is not None:
        raise errors.conflict(
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
            f"{port.id} using fixed IP {chosen.ip_address}, as that fixed IP already has a "
            f"floating IP on external network {fip.floating_network_id}.")
    subnet = s.get(Subnet, chosen.subnet_id)
    fip.router_id = router_for(s, fip.floating_network_id, subnet, port.id)
    fip.port_id, fip.fixed_ip_address = port.id, chosen.ip_address
    # The L3 agent configures it at once in-process.
    fip.status = "ACTIVE"


def create_floatingip(s: Session, net: Network, values: dict, address: str | None,
                      subnet_id: str | None) -> FloatingIP:
    v4 = [sn for sn in subnets_of(s, net.id) if sn.ip_version == 4]
    if not v4:
        raise errors.bad_request("floatingip", f"Network {net.id} does not contain any IPv4 "
                                               f"subnet")
    fip = FloatingIP(floating_network_id=net.id, floating_ip_address="",
                     floating_port_id="", **values)
    s.add(fip)
    s.flush()
    requested = None
    if address or subnet_id:
        requested = [{k: v for k, v in (("subnet_id", subnet_id), ("ip_address", address))
                      if v}]
    port = _service_port(s, net, "", "network:floatingip", fip.id, requested)
    port.status = "N/A"
    alloc = next((a for a in ports.allocations(s, port.id)
                  if ipaddress.ip_address(a.ip_address).version == 4), None)
    if alloc is None:
        raise errors.conflict("IpAddressGenerationFailure",
                              f"No more IP addresses available on network {net.id}.")
    fip.floating_ip_address, fip.floating_port_id = alloc.ip_address, port.id
    return fip


def delete_floatingip(s: Session, fip: FloatingIP) -> None:
    port = s.get(Port, fip.floating_port_id)
    s.delete(fip)
    s.flush()
    if port is not None:
        ports.delete_port(s, port)
