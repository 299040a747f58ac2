"""Routers: ``/v2.0/routers`` with gateways, interfaces, extra routes and zones, and the
auto-allocated topology (``neutron_lib/api/definitions/l3.py``, ``neutron/db/l3_db.py``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling.db.models_network import AutoAllocatedTopology, Network, Port, Router, Subnet
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.api import ports as port_api
from stackling.network.api import subnets as subnet_api
from stackling.network.objects import agents, ipam, l3, networks, ports, quota
from stackling.web.app import Request, empty_response, json_response

MAX_ROUTES = 30

ATTRS = A.standard(
    admin_state_up=A.Attr(put=True, default=True, convert=A.to_bool),
    status=A.READ_ONLY,
    external_gateway_info=A.Attr(put=True, default=None, validate=A.dict_or_empty,
                                 filter=False, sort=False),
    routes=A.Attr(post=False, put=True, convert=A.none_to_empty_list, validate=A.list_of_dicts,
                  filter=False, sort=False),
    availability_zone_hints=A.Attr(default=[], validate=A.az_hints, filter=False,
                                   sort=False),
    availability_zones=A.Attr(post=False, filter=False, sort=False),
    distributed=A.Attr(put=True, convert=A.to_bool, admin_set=True, admin_read=True),
    ha=A.Attr(put=True, convert=A.to_bool, admin_set=True, admin_read=True),
    flavor_id=A.Attr(default=None, validate=A.uuid_or_none),
)


def load(s: Session, ctx: Any, router_id: str) -> Router:
    router = s.get(Router, router_id)
    if router is None or not (ctx.is_admin or router.project_id == ctx.project_id):
        raise errors.missing("router", router_id)
    return router


def gateway_view(s: Session, router: Router) -> dict | None:
    if not router.gw_port_id:
        return None
    return {"network_id": router.gw_network_id, "enable_snat": router.enable_snat,
            "external_fixed_ips": ports.fixed_ips(s, router.gw_port_id)}


def view(req: Request, s: Session, router: Router) -> dict:
    out = common.standard_view(router)
    out.update({
        "admin_state_up": router.admin_state_up, "status": router.status,
        "external_gateway_info": gateway_view(s, router), "routes": list(router.routes or []),
        "availability_zone_hints": list(router.az_hints or []),
        "availability_zones": list(router.availability_zones or []),
        "distributed": router.distributed, "ha": router.ha, "flavor_id": router.flavor_id,
    })
    return common.strip_admin(req, out, ATTRS)


def list_routers(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(Router).order_by(Router.created_at, Router.id)
        q = common.prefilter(q, req, {"id": Router.id, "project_id": Router.project_id})
        if not ctx.is_admin:
            q = q.where(Router.project_id == ctx.project_id)
        items = [view(req, s, r) for r in s.scalars(q)]
    return common.list_response(req, "routers", items, ATTRS, "router")


def show_router(req: Request, router_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = view(req, s, load(s, req.context, router_id))
    return common.show_response(req, "router", item)


def _gateway(req: Request, s: Session, router: Router, info: dict | None) -> None:
    if not info:
        l3.set_gateway(s, router, None, True, None)
        return
    unknown = set(info) - {"network_id", "enable_snat", "external_fixed_ips", "qos_policy_id"}
    if unknown or "network_id" not in info:
        raise errors.http_bad_request(
            f"Invalid input for external_gateway_info. Reason: Validation of dictionary's "
            f"keys failed. Expected keys: {{'network_id'}} Provided keys: {set(info)}.")
    if not req.context.is_admin:
        for key in ("enable_snat", "external_fixed_ips"):
            if key in info:
                raise errors.PolicyNotAuthorized(
                    action=f"rule:update_router:external_gateway_info:{key}")
    net = s.get(Network, info["network_id"])
    if net is None:
        raise errors.missing("network", info["network_id"])
    if not net.external:
        raise errors.bad_request("router", f"Network {net.id} is not an external network")
    snat = A.to_bool(info.get("enable_snat", True))
    l3.set_gateway(s, router, net, snat, info.get("external_fixed_ips"))


def create_router(req: Request) -> Any:
    items = common.parse_body(req, "router", ATTRS, True, "routers")
    cloud = req.app.cloud

    def work(s: Session) -> list[dict]:
        rows = []
        for item in items:
            quota.check(s, item["project_id"], "router")
            agents.validate_hints(s, "router", item["availability_zone_hints"])
            router = Router(project_id=item["project_id"], name=item["name"],
                            description=item["description"],
                            tags=sorted(set(item.get("tags") or [])),
                            admin_state_up=item["admin_state_up"],
                            az_hints=item["availability_zone_hints"],
                            distributed=bool(item.get("distributed")),
                            ha=bool(item.get("ha")), flavor_id=item["flavor_id"])
            # The L3 agent scheduler places the router at once.
            router.availability_zones = agents.schedule(s, "router", router.az_hints)
            s.add(router)
            s.flush()
            if item["external_gateway_info"]:
                _gateway(req, s, router, item["external_gateway_info"])
            rows.append(router)
        return [view(req, s, r) for r in rows]

    views = ports.in_transaction(cloud, work)
    return common.created("router", "routers", views, common.is_bulk(req, "routers"))


def _check_routes(s: Session, router: Router, routes: list[dict]) -> list[dict]:
    if len(routes) > MAX_ROUTES:
        raise errors.bad("RoutesExhausted", f"Unable to complete operation for {router.id}. "
                         f"The number of routes exceeds the maximum {MAX_ROUTES}.")
    connected = []
    for port in l3.interface_ports(s, router.id) + (
            [s.get(Port, router.gw_port_id)] if router.gw_port_id else []):
        for alloc in ports.allocations(s, port.id):
            connected.append(ipaddress.ip_network(s.get(Subnet, alloc.subnet_id).cidr))
    out = []
    for route in routes:
        if set(route) != {"destination", "nexthop"} or A.subnet_cidr(route["destination"]) \
                or A.ip_address(route["nexthop"]):
            raise errors.http_bad_request(f"Invalid input for routes. Reason: Invalid data "
                                          f"format for hostroute: '{route}'.")
        hop = ipaddress.ip_address(route["nexthop"])
        if not any(hop in c for c in connected):
            raise errors.bad("InvalidRoutes", f"Invalid format for routes: {[route]}, the "
                             f"nexthop is not connected with router")
        clean = {"destination": str(ipaddress.ip_network(route["destination"], strict=False)),
                 "nexthop": str(hop)}
        if clean not in out:
            out.append(clean)
    return out


def update_router(req: Request, router_id: str) -> Any:
    changes = common.parse_body(req, "router", ATTRS, False)[0]
    cloud = req.app.cloud

    def work(s: Session) -> dict:
        router = load(s, req.context, router_id)
        common.check_if_match(req, router)
        values = {k: v for k, v in changes.items()
                  if k in ("name", "description", "admin_state_up", "distributed", "ha")}
        if "routes" in changes:
            values["routes"] = _check_routes(s, router, changes["routes"])
        if "external_gateway_info" in changes:
            before = gateway_view(s, router)
            _gateway(req, s, router, changes["external_gateway_info"])
            if gateway_view(s, router) != before:
                networks.bump(router)
        networks.bump(router, values)
        return view(req, s, router)

    return common.show_response(req, "router", ports.in_transaction(cloud, work))


def delete_router(req: Request, router_id: str) -> Any:
    common.no_body(req)
    with req.app.cloud.db.writer() as s:
        router = load(s, req.context, router_id)
        common.check_if_match(req, router)
        l3.delete_router(s, router)
    return empty_response(204)


def _interface_body(router: Router, port: Port, s: Session) -> dict:
    allocs = ports.allocations(s, port.id)
    return {"id": router.id, "tenant_id": port.project_id, "project_id": port.project_id,
            "port_id": port.id, "network_id": port.network_id,
            "subnet_id": allocs[0].subnet_id if allocs else None,
            "subnet_ids": [a.subnet_id for a in allocs]}


def _interface_args(req: Request) -> tuple[str | None, str | None]:
    body = common.read_plain(req)
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if not subnet_id and not port_id:
        raise errors.bad_request("router", "Either subnet_id or port_id must be specified")
    return subnet_id, port_id


def add_interface(req: Request, router_id: str) -> Any:
    subnet_id, port_id = _interface_args(req)
    ctx = req.context
    if subnet_id and port_id:
        raise errors.bad_request("router", "Cannot specify both subnet-id and port-id")

    def work(s: Session) -> dict:
        router = load(s, ctx, router_id)
        if port_id:
            port = l3.add_port_interface(s, router, port_api.load(s, ctx, port_id))
        else:
            subnet = subnet_api.load(s, ctx, subnet_id)
            if not ctx.is_admin and subnet.project_id != ctx.project_id:
                net = s.get(Network, subnet.network_id)
                if not net.shared:
                    raise errors.bad_request(
                        "router", f"Cannot add interface to router because subnet "
                                  f"{subnet.id} is not owned by project making the request")
            port = l3.add_subnet_interface(s, router, subnet)
        return _interface_body(router, port, s)

    return json_response(ports.in_transaction(req.app.cloud, work))


def remove_interface(req: Request, router_id: str) -> Any:
    subnet_id, port_id = _interface_args(req)
    with req.app.cloud.db.writer() as s:
        router = load(s, req.context, router_id)
        attached = l3.interface_ports(s, router.id)
        if port_id:
            port = next((p for p in attached if p.id == port_id), None)
            if port is None:
                raise errors.bad("RouterInterfaceNotFound", f"Router {router.id} does not "
                                 f"have an interface with id {port_id}", 404)
            if subnet_id and subnet_id not in [a.subnet_id for a in
                                               ports.allocations(s, port.id)]:
                raise errors.bad("SubnetMismatchForPort", f"Subnet on port {port_id} does "
                                 f"not match the requested subnet {subnet_id}.")
        else:
            port = next((p for p in attached if subnet_id in
                         [a.subnet_id for a in ports.allocations(s, p.id)]), None)
            if port is None:
                subnet_api.load(s, req.context, subnet_id)
                raise errors.bad("RouterInterfaceNotFoundForSubnet", f"Router {router.id} has "
                                 f"no interface on subnet {subnet_id}", 404)
        body = _interface_body(router, port, s)
        if subnet_id:
            body["subnet_id"], body["subnet_ids"] = subnet_id, [subnet_id]
        l3.remove_interface(s, router, port, subnet_id)
    return json_response(body)


def _route_change(req: Request, router_id: str, add: bool) -> Any:
    body = common.read_plain(req)
    inner = body.get("router")
    if not isinstance(inner, dict) or set(inner) != {"routes"}:
        raise errors.http_bad_request("Unable to find 'router' in request body")
    with req.app.cloud.db.writer() as s:
        router = load(s, req.context, router_id)
        wanted = _check_routes(s, router, inner["routes"]) if add else inner["routes"]
        current = list(router.routes or [])
        if add:
            routes = current + [r for r in wanted if r not in current]
        else:
            routes = [r for r in current if r not in wanted]
        networks.bump(router, {"routes": _check_routes(s, router, routes)})
        item = view(req, s, router)
    return json_response({"router": item})


def add_extraroutes(req: Request, router_id: str) -> Any:
    return _route_change(req, router_id, True)


def remove_extraroutes(req: Request, router_id: str) -> Any:
    return _route_change(req, router_id, False)


# -- auto-allocated topology ----------------------------------------------------------------

AUTO_CIDR = "10.0.0.0/24"   # no subnet pools here: see doc/networking.md


def _auto_project(req: Request, project: str) -> str:
    ctx = req.context
    project = ctx.project_id if project == "None" else project
    if project != ctx.project_id and not ctx.is_admin:
        raise errors.NotAuthorized()
    return project


def _auto_body(project: str, network_id: str) -> Any:
    return json_response({"auto_allocated_topology": {
        "id": network_id, "tenant_id": project, "project_id": project}})


def _default_external(s: Session) -> Network:
    net = s.scalar(select(Network).where(Network.external, Network.is_default))
    if net is None:
        raise errors.conflict("AutoAllocationFailure",
                              "Deployment error: No default router:external network.")
    return net


def get_auto_allocated(req: Request, project: str) -> Any:
    project = _auto_project(req, project)
    fields = req.GET.getall("fields")
    if fields and fields != ["dry-run"]:
        raise errors.bad_request("auto_allocate", "Unrecognized field")

    def work(s: Session) -> Any:
        done = s.get(AutoAllocatedTopology, project)
        if done is not None:
            return _auto_body(project, done.network_id)
        ext = _default_external(s)
        if fields:
            return _auto_body(project, "dry-run=pass")
        net = networks.create_network(s, {"project_id": project,
                                          "name": "auto_allocated_network",
                                          "admin_state_up": False})
        pools = ipam.default_pools(AUTO_CIDR, ipam.default_gateway(AUTO_CIDR))
        subnet = networks.create_subnet(s, net, {
            "project_id": project, "name": "auto_allocated_subnet_v4", "network_id": net.id,
            "ip_version": 4, "cidr": AUTO_CIDR,
            "gateway_ip": ipam.default_gateway(AUTO_CIDR), "allocation_pools": pools})
        router = Router(project_id=project, name="auto_allocated_router")
        router.availability_zones = agents.schedule(s, "router", [])
        s.add(router)
        s.flush()
        l3.set_gateway(s, router, ext, True, None)
        l3.add_subnet_interface(s, router, subnet)
        net.admin_state_up = True
        s.add(AutoAllocatedTopology(project_id=project, network_id=net.id,
                                    router_id=router.id))
        return _auto_body(project, net.id)

    return ports.in_transaction(req.app.cloud, work)


def delete_auto_allocated(req: Request, project: str) -> Any:
    project = _auto_project(req, project)
    with req.app.cloud.db.writer() as s:
        done = s.get(AutoAllocatedTopology, project)
        if done is None:
            raise errors.bad("AutoAllocationFailure", "Topology not found", 404)
        router = s.get(Router, done.router_id) if done.router_id else None
        if router is not None:
            for port in l3.interface_ports(s, router.id):
                l3.remove_interface(s, router, port, None)
            l3.delete_router(s, router)
        net = s.get(Network, done.network_id)
        if net is not None:
            networks.delete_network(s, net)
        s.delete(done)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/routers", "router", load)
