"""Floating IPs: ``/v2.0/floatingips`` allocated from an external network, associated with a
port through a router (``neutron/db/l3_db.py`` ``_create_floatingip``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling.db.models_network import FloatingIP, Network, Port
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.api import ports as port_api
from stackling.network.objects import l3, networks, ports, quota
from stackling.web.app import Request, empty_response

ATTRS = A.standard(
    floating_network_id=A.Attr(default=A.REQUIRED, validate=A.is_uuid),
    floating_ip_address=A.Attr(default=None, validate=A.ip_or_none, admin_set=True),
    subnet_id=A.Attr(default=None, validate=A.uuid_or_none, filter=False, sort=False),
    port_id=A.Attr(put=True, default=None, validate=A.uuid_or_none),
    fixed_ip_address=A.Attr(put=True, default=None, validate=A.ip_or_none),
    router_id=A.READ_ONLY, status=A.READ_ONLY,
    port_details=A.Attr(post=False, filter=False, sort=False),
    qos_policy_id=A.Attr(post=False), port_forwardings=A.Attr(post=False, filter=False),
)
ATTRS.pop("name")


def load(s: Session, ctx: Any, fip_id: str) -> FloatingIP:
    fip = s.get(FloatingIP, fip_id)
    if fip is None or not (ctx.is_admin or fip.project_id == ctx.project_id):
        raise errors.missing("floatingip", fip_id)
    return fip


def view(s: Session, fip: FloatingIP) -> dict:
    out = common.standard_view(fip)
    out.pop("name")
    details = None
    if fip.port_id:
        port = s.get(Port, fip.port_id)
        if port is not None:
            details = {"name": port.name, "network_id": port.network_id,
                       "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
                       "status": port.status, "device_id": port.device_id,
                       "device_owner": port.device_owner}
    out.update({
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id, "router_id": fip.router_id,
        "port_id": fip.port_id, "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status, "port_details": details, "qos_policy_id": None,
        "port_forwardings": [],
    })
    return out


def list_floatingips(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(FloatingIP).order_by(FloatingIP.created_at, FloatingIP.id)
        q = common.prefilter(q, req, {"id": FloatingIP.id, "port_id": FloatingIP.port_id,
                                      "floating_network_id": FloatingIP.floating_network_id,
                                      "project_id": FloatingIP.project_id})
        if not ctx.is_admin:
            q = q.where(FloatingIP.project_id == ctx.project_id)
        items = [view(s, f) for f in s.scalars(q)]
    return common.list_response(req, "floatingips", items, ATTRS, "floatingip")


def show_floatingip(req: Request, fip_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = view(s, load(s, req.context, fip_id))
    return common.show_response(req, "floatingip", item)


def _target(s: Session, ctx: Any, fip: FloatingIP, port_id: str | None,
            fixed_ip: str | None) -> None:
    if port_id is None:
        if fixed_ip is not None:
            raise errors.bad_request("floatingip", "fixed_ip_address cannot be specified "
                                                   "without a port_id")
        l3.associate(s, fip, None, None)
        return
    port = port_api.load(s, ctx, port_id)
    if not ctx.is_admin and port.project_id != fip.project_id:
        raise errors.bad_request("floatingip", f"Cannot process floating IP association with "
                                 f"Port {port.id}, since that port is owned by a different "
                                 f"project")
    if port.device_owner == "network:dhcp":
        # Neutron really sends the unformatted placeholder.
        raise errors.bad_request("floatingip", "Port %(id)s is unable to be assigned a "
                                               "floating IP")
    l3.associate(s, fip, port, fixed_ip)


def create_floatingip(req: Request) -> Any:
    items = common.parse_body(req, "floatingip", ATTRS, True, "floatingips")
    ctx = req.context

    def work(s: Session) -> list[dict]:
        rows = []
        for item in items:
            net = s.get(Network, item["floating_network_id"])
            if net is None or not (net.external or ctx.is_admin
                                   or net.project_id == ctx.project_id):
                raise errors.missing("network", item["floating_network_id"])
            if not net.external:
                raise errors.bad_request("floatingip", f"Network {net.id} is not a valid "
                                                       f"external network")
            quota.check(s, item["project_id"], "floatingip")
            fip = l3.create_floatingip(
                s, net, {"project_id": item["project_id"], "description": item["description"],
                         "tags": sorted(set(item.get("tags") or []))},
                item["floating_ip_address"], item["subnet_id"])
            if item["port_id"] or item["fixed_ip_address"]:
                _target(s, ctx, fip, item["port_id"], item["fixed_ip_address"])
            rows.append(fip)
        return [view(s, f) for f in rows]

    views = ports.in_transaction(req.app.cloud, work)
    return common.created("floatingip", "floatingips", views,
                          common.is_bulk(req, "floatingips"))


def update_floatingip(req: Request, fip_id: str) -> Any:
    changes = common.parse_body(req, "floatingip", ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        fip = load(s, req.context, fip_id)
        common.check_if_match(req, fip)
        before = (fip.port_id, fip.fixed_ip_address)
        if "port_id" in changes or "fixed_ip_address" in changes:
            _target(s, req.context, fip, changes.get("port_id", fip.port_id),
                    changes.get("fixed_ip_address"))
        values = {"description": changes["description"]} if "description" in changes else {}
        if (fip.port_id, fip.fixed_ip_address) != before and not values:
            networks.bump(fip)
        else:
            networks.bump(fip, values)
        item = view(s, fip)
    return common.show_response(req, "floatingip", item)


def delete_floatingip(req: Request, fip_id: str) -> Any:
    common.no_body(req)
    with req.app.cloud.db.writer() as s:
        fip = load(s, req.context, fip_id)
        common.check_if_match(req, fip)
        l3.delete_floatingip(s, fip)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/floatingips", "floatingip", load)
