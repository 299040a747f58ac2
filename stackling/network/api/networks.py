"""Networks: ``/v2.0/networks`` with ML2's attributes, external networks and zones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stackling.db.models_network import Network, Subnet
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.objects import agents, networks, quota
from stackling.web.app import Request, empty_response

ATTRS = A.standard(
    admin_state_up=A.Attr(put=True, default=True, convert=A.to_bool),
    status=A.READ_ONLY,
    subnets=A.Attr(post=False, sort=False),
    shared=A.Attr(put=True, default=False, convert=A.to_bool, admin_set=True),
    **{"router:external": A.Attr(put=True, default=False, convert=A.to_bool,
                                 admin_set=True),
       "provider:network_type": A.Attr(validate=A.values("flat", "vlan", "vxlan", "geneve",
                                                         "gre", "local"),
                                       admin_set=True, admin_read=True),
       "provider:physical_network": A.Attr(validate=A.string_or_none(64), admin_set=True,
                                           admin_read=True),
       "provider:segmentation_id": A.Attr(convert=A.to_int_or_none, admin_set=True,
                                          admin_read=True)},
    is_default=A.Attr(put=True, default=False, convert=A.to_bool, admin_set=True),
    mtu=A.Attr(put=True, convert=A.to_int, validate=A.int_range(68, 9216)),
    port_security_enabled=A.Attr(put=True, default=True, convert=A.to_bool),
    availability_zone_hints=A.Attr(default=[], validate=A.az_hints, filter=False,
                                   sort=False),
    availability_zones=A.Attr(post=False, filter=False, sort=False),
    ipv4_address_scope=A.READ_ONLY, ipv6_address_scope=A.READ_ONLY,
    l2_adjacency=A.Attr(post=False, filter=False),
)


def visible(ctx: Any, net: Network) -> bool:
    return ctx.is_admin or net.project_id == ctx.project_id or net.shared or net.external


def load(s: Session, ctx: Any, network_id: str) -> Network:
    net = s.get(Network, network_id)
    if net is None or not visible(ctx, net):
        raise errors.missing("network", network_id)
    return net


def load_owned(s: Session, ctx: Any, network_id: str, action: str) -> Network:
    net = load(s, ctx, network_id)
    if not ctx.is_admin and net.project_id != ctx.project_id:
        raise errors.PolicyNotAuthorized(action=f"rule:{action}")
    return net


def view(net: Network, subnet_ids: list[str]) -> dict:
    out = common.standard_view(net)
    out.update({
        "admin_state_up": net.admin_state_up, "mtu": net.mtu, "status": net.status,
        "subnets": subnet_ids, "shared": net.shared,
        "availability_zone_hints": list(net.az_hints or []),
        "availability_zones": list(net.dhcp_zones or []),
        "ipv4_address_scope": None, "ipv6_address_scope": None,
        "router:external": net.external, "port_security_enabled": net.port_security_enabled,
        "l2_adjacency": True, "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id,
    })
    if net.external:
        out["is_default"] = net.is_default
    return out


def subnet_ids(s: Session, network_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    if network_ids:
        for nid, sid in s.execute(select(Subnet.network_id, Subnet.id)
                                  .where(Subnet.network_id.in_(network_ids))
                                  .order_by(Subnet.created_at, Subnet.id)):
            out[nid].append(sid)
    return out


def render(req: Request, s: Session, nets: list[Network]) -> list[dict]:
    ids = subnet_ids(s, [n.id for n in nets])
    return [common.strip_admin(req, view(n, ids.get(n.id, [])), ATTRS) for n in nets]


def list_networks(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(Network).order_by(Network.created_at, Network.id)
        if not ctx.is_admin:
            q = q.where(or_(Network.project_id == ctx.project_id, Network.shared,
                            Network.external))
        items = render(req, s, list(s.scalars(q)))
    return common.list_response(req, "networks", items, ATTRS, "network")


def show_network(req: Request, network_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = render(req, s, [load(s, req.context, network_id)])[0]
    return common.show_response(req, "network", item)


def _values(item: dict) -> dict:
    return {
        "project_id": item["project_id"], "name": item["name"],
        "description": item["description"], "tags": sorted(set(item.get("tags") or [])),
        "admin_state_up": item["admin_state_up"], "shared": item["shared"],
        "external": item["router:external"], "is_default": item["is_default"],
        "port_security_enabled": item["port_security_enabled"],
        "az_hints": item["availability_zone_hints"], "mtu": item.get("mtu"),
        "network_type": item.get("provider:network_type"),
        "physical_network": item.get("provider:physical_network"),
        "segmentation_id": item.get("provider:segmentation_id"),
    }


def _check_default(s: Session, external: bool, is_default: bool, skip: str | None = None
                   ) -> None:
    if not (external and is_default):
        return
    other = s.scalar(select(Network.id).where(Network.external, Network.is_default))
    if other is not None and other != skip:
        raise errors.conflict("DefaultExternalNetworkExists",
                              f"A default external network already exists: {other}.")


def create_network(req: Request) -> Any:
    items = common.parse_body(req, "network", ATTRS, True, "networks")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        for project in {i["project_id"] for i in items}:
            quota.check(s, project, "network",
                        sum(1 for i in items if i["project_id"] == project))
        rows = []
        for item in items:
            agents.validate_hints(s, "network", item["availability_zone_hints"])
            _check_default(s, item["router:external"], item["is_default"])
            rows.append(networks.create_network(s, _values(item)))
        views = render(req, s, rows)
    return common.created("network", "networks", views, common.is_bulk(req, "networks"))


def update_network(req: Request, network_id: str) -> Any:
    changes = common.parse_body(req, "network", ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        net = load_owned(s, req.context, network_id, "update_network")
        common.check_if_match(req, net)
        mapped = {"router:external": "external", "availability_zone_hints": "az_hints"}
        values = {mapped.get(k, k): v for k, v in changes.items()}
        if values.get("external") is False and net.external and \
                networks.has_gateway_ports(s, net):
            raise errors.conflict(
                "ExternalNetworkInUse", f"External network {net.id} cannot be updated to be "
                f"made non-external, since it has existing gateway ports.")
        _check_default(s, values.get("external", net.external),
                       values.get("is_default", net.is_default), skip=net.id)
        networks.bump(net, values)
        item = render(req, s, [net])[0]
    return common.show_response(req, "network", item)


def delete_network(req: Request, network_id: str) -> Any:
    common.no_body(req)
    with req.app.cloud.db.writer() as s:
        net = load_owned(s, req.context, network_id, "delete_network")
        common.check_if_match(req, net)
        networks.delete_network(s, net)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/networks", "network", load)
