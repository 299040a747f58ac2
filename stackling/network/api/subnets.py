"""Subnets: ``/v2.0/subnets``, cidr/gateway/pool/IPv6-mode validation with Neutron's texts
(``db_base_plugin_v2.py`` ``_validate_subnet``, ``neutron/ipam/utils.py``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stackling.db.models_network import Network, Subnet
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.api import networks as net_api
from stackling.network.objects import agents, ipam, networks, quota
from stackling.network.objects import ports as port_objects
from stackling.web.app import Request, empty_response

V6_MODES = (None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless")
MAX_DNS, MAX_ROUTES = 5, 20

ATTRS = A.standard(
    network_id=A.Attr(default=A.REQUIRED, validate=A.is_uuid),
    ip_version=A.Attr(default=A.REQUIRED, convert=A.to_int, validate=A.values(4, 6)),
    cidr=A.Attr(convert=A.to_cidr, validate=A.subnet_or_none),
    prefixlen=A.Attr(convert=A.to_int, filter=False, sort=False),
    subnetpool_id=A.Attr(default=None, validate=A.uuid_or_none),
    use_default_subnetpool=A.Attr(default=False, convert=A.to_bool, filter=False,
                                  sort=False),
    gateway_ip=A.Attr(put=True, validate=A.ip_or_none),
    allocation_pools=A.Attr(put=True, validate=A.list_of_dicts, filter=False, sort=False),
    dns_nameservers=A.Attr(put=True, default=[], validate=A.list_of(unique=False),
                           sort=False),
    host_routes=A.Attr(put=True, default=[], validate=A.list_of_dicts, filter=False,
                       sort=False),
    enable_dhcp=A.Attr(put=True, default=True, convert=A.to_bool),
    ipv6_ra_mode=A.Attr(default=None, validate=A.values(*V6_MODES)),
    ipv6_address_mode=A.Attr(default=None, validate=A.values(*V6_MODES)),
    service_types=A.Attr(put=True, default=[], validate=A.list_of(A.string(255)),
                         sort=False),
    segment_id=A.Attr(default=None, validate=A.uuid_or_none, admin_set=True),
    # ``subnet-external-network``: the subnet's network is external (read-only).
    **{"router:external": A.Attr(post=False, convert=A.to_bool)},
)


def visible(s: Session, ctx: Any, subnet: Subnet) -> bool:
    if ctx.is_admin or subnet.project_id == ctx.project_id:
        return True
    net = s.get(Network, subnet.network_id)
    return net is not None and net_api.visible(ctx, net)


def load(s: Session, ctx: Any, subnet_id: str) -> Subnet:
    subnet = s.get(Subnet, subnet_id)
    if subnet is None or not visible(s, ctx, subnet):
        raise errors.missing("subnet", subnet_id)
    return subnet


def view(sn: Subnet, external: bool) -> dict:
    """``external`` is the network's ``router:external`` (``subnet-external-network``)."""
    out = common.standard_view(sn)
    out.update({
        "network_id": sn.network_id, "ip_version": sn.ip_version, "cidr": sn.cidr,
        "gateway_ip": sn.gateway_ip, "enable_dhcp": sn.enable_dhcp,
        "allocation_pools": list(sn.allocation_pools or []),
        "dns_nameservers": list(sn.dns_nameservers or []),
        "host_routes": list(sn.host_routes or []), "ipv6_ra_mode": sn.ipv6_ra_mode,
        "ipv6_address_mode": sn.ipv6_address_mode, "subnetpool_id": sn.subnetpool_id,
        "service_types": [], "segment_id": None, "router:external": external,
    })
    return out


def list_subnets(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(Subnet, Network.external).join(Network, Network.id == Subnet.network_id)
        q = q.order_by(Subnet.created_at, Subnet.id)
        if not ctx.is_admin:
            q = q.where(or_(
                Subnet.project_id == ctx.project_id, Network.project_id == ctx.project_id,
                Network.shared, Network.external))
        items = [view(sn, external) for sn, external in s.execute(q)]
    return common.list_response(req, "subnets", items, ATTRS, "subnet")


def show_subnet(req: Request, subnet_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = _view_of(s, load(s, req.context, subnet_id))
    return common.show_response(req, "subnet", item)


def _view_of(s: Session, sn: Subnet) -> dict:
    net = s.get(Network, sn.network_id)
    return view(sn, bool(net and net.external))


# -- validation ----------------------------------------------------------------------------


def _cidr(item: dict) -> ipaddress._BaseNetwork:
    if item.get("cidr") is None:
        if item.get("subnetpool_id"):
            raise errors.missing("subnetpool", item["subnetpool_id"])
        raise errors.bad_request("subnets",
                                 "A cidr must be specified in the absence of a subnet pool")
    if item.get("prefixlen") is not None:
        raise errors.bad_request("subnets", "cidr and prefixlen must not be supplied together")
    net = ipaddress.ip_network(item["cidr"], strict=False)
    if net.version != item["ip_version"]:
        raise errors.invalid_input(f"cidr '{item['cidr']}' does not match the ip_version "
                                   f"'{item['ip_version']}'")
    if net.prefixlen == 0:
        raise errors.invalid_input("0 is not allowed as CIDR prefix length")
    return net


def _check_modes(item: dict, net: ipaddress._BaseNetwork) -> None:
    ra, addr = item.get("ipv6_ra_mode"), item.get("ipv6_address_mode")
    if item["ip_version"] == 4:
        for key in ("ipv6_ra_mode", "ipv6_address_mode"):
            if item.get(key):
                raise errors.invalid_input(f"{key} is not valid when ip_version is 4")
        return
    if ra and addr and ra != addr:
        raise errors.invalid_input(
            f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not "
            f"valid. If both attributes are set, they must be the same value")
    if (ra or addr) and not item["enable_dhcp"]:
        raise errors.invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                                   "enable_dhcp is set to False")
    mode = addr or ra
    if mode in ("slaac", "dhcpv6-stateless") and net.prefixlen != 64:
        raise errors.invalid_input(
            f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address "
            f"format, which requires the prefix to be /64")


def _check_dhcp_prefix(enable_dhcp: bool, net: ipaddress._BaseNetwork) -> None:
    if enable_dhcp and net.prefixlen > (30 if net.version == 4 else 126):
        raise errors.invalid_input(
            "Subnet has a prefix length that is incompatible with DHCP service enabled")


def _gateway(item: dict, net: ipaddress._BaseNetwork) -> str | None:
    if "gateway_ip" not in item:
        return ipam.default_gateway(str(net))
    gw = item["gateway_ip"]
    if gw is None:
        return None
    addr = ipaddress.ip_address(gw)
    if addr.version != net.version:
        raise errors.invalid_input("Gateway is not valid on subnet")
    if net.version == 4 and net.prefixlen <= 30 and addr in (net.network_address,
                                                             net.broadcast_address):
        raise errors.invalid_input("Gateway is not valid on subnet")
    return str(addr)


def _pools(pools: list[dict] | None, net: ipaddress._BaseNetwork, gateway: str | None
           ) -> list[dict]:
    if pools is None:
        return ipam.default_pools(str(net), gateway)
    first, last = ipam.usable(str(net))
    bounds = []
    for pool in pools:
        start, end = pool.get("start"), pool.get("end")
        text = f"{start}-{end}"
        try:
            a, b = ipaddress.ip_address(start), ipaddress.ip_address(end)
        except ValueError:
            raise errors.bad("InvalidAllocationPool",
                             f"The allocation pool {text} is not valid.") from None
        if a.version != net.version or b.version != net.version or a > b:
            raise errors.bad("InvalidAllocationPool", f"The allocation pool {text} is not valid.")
        if int(a) < first or int(b) > last:
            raise errors.bad("OutOfBoundsAllocationPool",
                             f"The allocation pool {text} spans beyond the subnet cidr {net}.")
        bounds.append((int(a), int(b), f"{a}-{b}"))
    bounds.sort()
    for (_, b1, t1), (a2, _, t2) in zip(bounds, bounds[1:]):
        if a2 <= b1:
            raise errors.bad("OverlappingAllocationPools",
                             f"Found overlapping allocation pools: {t1} {t2} for subnet {net}.",
                             409)
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for a, b, text in bounds:
            if a <= gw <= b:
                raise errors.bad("GatewayConflictWithAllocationPools",
                                 f"Gateway ip {gateway} conflicts with allocation pool "
                                 f"{text}.", 409)
    return [{"start": t.split("-")[0], "end": t.split("-")[1]} for _, _, t in bounds]


def _check_dns(servers: list, version: int) -> list[str]:
    if len(servers) > MAX_DNS:
        raise errors.bad("DNSNameServersExhausted",
                         f"Unable to complete operation for new subnet. The number of DNS "
                         f"nameservers exceeds the limit {MAX_DNS}.")
    seen = []
    for ns in servers:
        if A.ip_address(ns):
            raise errors.http_bad_request(f"Invalid input for dns_nameservers. Reason: "
                                          f"'{ns}' is not a valid nameserver.")
        if ns in seen:
            raise errors.http_bad_request(f"Invalid input for dns_nameservers. Reason: "
                                          f"Duplicate nameserver '{ns}'.")
        seen.append(ns)
    return seen


def _check_routes(routes: list[dict], subnet: str) -> list[dict]:
    if len(routes) > MAX_ROUTES:
        raise errors.bad("HostRoutesExhausted",
                         f"Unable to complete operation for {subnet}. The number of host "
                         f"routes exceeds the limit {MAX_ROUTES}.")
    out = []
    for route in routes:
        if set(route) != {"destination", "nexthop"} or A.subnet_cidr(route["destination"]) \
                or A.ip_address(route["nexthop"]):
            raise errors.http_bad_request(
                f"Invalid input for host_routes. Reason: Invalid data format for hostroute: "
                f"'{route}'.")
        dest = ipaddress.ip_network(route["destination"], strict=False)
        out.append({"destination": str(dest), "nexthop": route["nexthop"]})
    return out


# -- handlers ------------------------------------------------------------------------------


def _dhcp_host(s: Session, net: Network) -> str | None:
    hosts = [r.host for r in agents.rows(s, agents.KINDS["dhcp"].binary)
             if r.availability_zone in (net.dhcp_zones or [])]
    return hosts[0] if hosts else None


def create_subnet(req: Request) -> Any:
    items = common.parse_body(req, "subnet", ATTRS, True, "subnets")
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        for project in {i["project_id"] for i in items}:
            quota.check(s, project, "subnet",
                        sum(1 for i in items if i["project_id"] == project))
        rows = []
        for item in items:
            net = net_api.load(s, ctx, item["network_id"])
            if not ctx.is_admin and net.project_id != ctx.project_id:
                raise errors.PolicyNotAuthorized(action="rule:create_subnet")
            cidr = _cidr(item)
            _check_dhcp_prefix(item["enable_dhcp"], cidr)
            _check_modes(item, cidr)
            gateway = _gateway(item, cidr)
            values = {
                "project_id": item["project_id"], "name": item["name"],
                "description": item["description"], "tags": sorted(set(item["tags"]))
                if "tags" in item else [], "network_id": net.id,
                "ip_version": item["ip_version"], "cidr": str(cidr), "gateway_ip": gateway,
                "enable_dhcp": item["enable_dhcp"],
                "allocation_pools": _pools(item.get("allocation_pools"), cidr, gateway),
                "dns_nameservers": _check_dns(item["dns_nameservers"], cidr.version),
                "host_routes": _check_routes(item["host_routes"], "new subnet"),
                "ipv6_ra_mode": item["ipv6_ra_mode"],
                "ipv6_address_mode": item["ipv6_address_mode"],
            }
            subnet = networks.create_subnet(s, net, values)
            port_objects.ensure_dhcp_port(s, net, subnet, _dhcp_host(s, net))
            rows.append(subnet)
        views = [_view_of(s, r) for r in rows]
    return common.created("subnet", "subnets", views, common.is_bulk(req, "subnets"))


def update_subnet(req: Request, subnet_id: str) -> Any:
    changes = common.parse_body(req, "subnet", ATTRS, False)[0]
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        sn = load(s, ctx, subnet_id)
        if not ctx.is_admin and sn.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action="rule:update_subnet")
        common.check_if_match(req, sn)
        cidr = ipaddress.ip_network(sn.cidr)
        values = {k: v for k, v in changes.items()
                  if k in ("name", "description", "enable_dhcp")}
        if "enable_dhcp" in changes:
            _check_dhcp_prefix(changes["enable_dhcp"], cidr)
        if "gateway_ip" in changes and changes["gateway_ip"] != sn.gateway_ip:
            holder = networks.gateway_port(s, sn)
            if holder:
                raise errors.conflict("GatewayIpInUse",
                                      f"Current gateway ip {sn.gateway_ip} already in use by "
                                      f"port {holder}. Unable to update.")
            values["gateway_ip"] = _gateway(changes, cidr)
        gateway = values.get("gateway_ip", sn.gateway_ip)
        if "allocation_pools" in changes:
            values["allocation_pools"] = _pools(changes["allocation_pools"], cidr, gateway)
        elif "gateway_ip" in values:
            _pools(sn.allocation_pools, cidr, gateway)
        if "dns_nameservers" in changes:
            values["dns_nameservers"] = _check_dns(changes["dns_nameservers"], cidr.version)
        if "host_routes" in changes:
            values["host_routes"] = _check_routes(changes["host_routes"], sn.id)
        pools_changed = "allocation_pools" in values and \
            values["allocation_pools"] != sn.allocation_pools
        networks.bump(sn, values)
        if pools_changed:
            ipam.reseed(s, sn)
        item = _view_of(s, sn)
    return common.show_response(req, "subnet", item)


def delete_subnet(req: Request, subnet_id: str) -> Any:
    common.no_body(req)
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        sn = load(s, ctx, subnet_id)
        if not ctx.is_admin and sn.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action="rule:delete_subnet")
        common.check_if_match(req, sn)
        networks.delete_subnet(s, sn)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/subnets", "subnet", load)
