"""Ports: ``/v2.0/ports`` with fixed IPs, security groups, port security, allowed address
pairs and ML2 binding (``neutron_lib/api/definitions/port.py``, ``portbindings.py``)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from stackling.db.models_network import Network, Port, SecurityGroup
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common, dhcp_opts
from stackling.network.api import networks as net_api
from stackling.network.objects import ports, quota
from stackling.network.objects import security_groups as sg_objects
from stackling.web.app import Request, empty_response

VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "accelerator-direct",
              "accelerator-direct-physical", "remote-managed")
MAX_ADDRESS_PAIRS = 10
SERVICE_OWNERS = ("network:router_interface", "network:router_gateway",
                  "network:floatingip", "network:router_interface_distributed",
                  "network:ha_router_replicated_interface")

ATTRS = A.standard(
    network_id=A.Attr(default=A.REQUIRED, validate=A.is_uuid),
    admin_state_up=A.Attr(put=True, default=True, convert=A.to_bool),
    mac_address=A.Attr(put=True, convert=A.to_lower_mac, validate=A.mac_address),
    fixed_ips=A.Attr(put=True, validate=A.list_of_dicts, sort=False),
    device_id=A.Attr(put=True, default="", validate=A.string(255)),
    device_owner=A.Attr(put=True, default="", validate=A.string(255)),
    status=A.READ_ONLY,
    security_groups=A.Attr(put=True, convert=lambda v: v, sort=False,
                           validate=lambda v: None if v is None else
                           A.list_of(A.is_uuid)(v)),
    port_security_enabled=A.Attr(put=True, convert=A.to_bool),
    allowed_address_pairs=A.Attr(put=True, default=[], validate=A.list_of_dicts,
                                 filter=False, sort=False),
    extra_dhcp_opts=A.Attr(put=True, default=[], validate=dhcp_opts.validate, filter=False,
                           sort=False),
    ip_allocation=A.Attr(post=False, sort=False),
    propagate_uplink_status=A.Attr(post=False, sort=False),
    **{"binding:host_id": A.Attr(put=True, validate=A.string_or_none(255), admin_set=True,
                                 admin_read=True),
       "binding:vif_type": A.Attr(post=False, admin_read=True),
       "binding:vif_details": A.Attr(post=False, admin_read=True, filter=False, sort=False),
       "binding:vnic_type": A.Attr(put=True, default="normal",
                                   validate=A.values(*VNIC_TYPES)),
       "binding:profile": A.Attr(put=True, validate=A.dict_or_empty, admin_set=True,
                                 admin_read=True, filter=False, sort=False)},
)


def visible(s: Session, ctx: Any, port: Port) -> bool:
    if ctx.is_admin or port.project_id == ctx.project_id:
        return True
    net = s.get(Network, port.network_id)
    return net is not None and net.project_id == ctx.project_id


def load(s: Session, ctx: Any, port_id: str) -> Port:
    port = s.get(Port, port_id)
    if port is None or not visible(s, ctx, port):
        raise errors.missing("port", port_id)
    return port


def load_owned(s: Session, ctx: Any, port_id: str, action: str) -> Port:
    port = load(s, ctx, port_id)
    if not ctx.is_admin and port.project_id != ctx.project_id:
        net = s.get(Network, port.network_id)
        if net is None or net.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action=f"rule:{action}")
    return port


def view(port: Port, fixed: list[dict], groups: list[str]) -> dict:
    out = common.standard_view(port)
    out.update({
        "network_id": port.network_id, "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up, "status": port.status,
        "device_id": port.device_id, "device_owner": port.device_owner,
        "fixed_ips": fixed, "security_groups": groups,
        "port_security_enabled": port.port_security_enabled,
        "allowed_address_pairs": [{"ip_address": p["ip_address"],
                                   "mac_address": p.get("mac_address") or port.mac_address}
                                  for p in port.allowed_address_pairs or []],
        "extra_dhcp_opts": list(port.extra_dhcp_opts or []),
        "ip_allocation": "immediate", "propagate_uplink_status": False,
        "binding:host_id": port.host_id, "binding:vif_type": port.vif_type,
        "binding:vif_details": dict(port.vif_details or {}),
        "binding:vnic_type": port.vnic_type, "binding:profile": dict(port.profile or {}),
    })
    return out


def render(req: Request, s: Session, rows: list) -> list[dict]:
    """Port views of ``rows`` (Port objects or read-only rows)."""
    ids = [p.id for p in rows]
    fixed: dict[str, list[dict]] = defaultdict(list)
    groups: dict[str, list[str]] = defaultdict(list)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        ports.fixed_ips_and_groups_of(s, chunk, fixed, groups)
    return [common.strip_admin(req, view(p, fixed[p.id], sorted(groups[p.id])), ATTRS)
            for p in rows]


def _match_fixed_ips(item: dict, wanted: list[str]) -> bool:
    """``fixed_ips=ip_address=A&fixed_ips=subnet_id=S``: one address must satisfy all."""
    want: dict[str, list[str]] = defaultdict(list)
    for w in wanted:
        key, _, value = w.partition("=")
        want[key].append(value)
    for ip in item.get("fixed_ips") or []:
        if all((key == "ip_address_substr" and any(v in ip["ip_address"] for v in vals))
               or ip.get(key) in vals for key, vals in want.items()):
            return True
    return False


_PORTS, _NETWORKS = Port.__table__, Network.__table__
_FILTERS = ("id", "network_id", "device_id", "device_owner", "mac_address", "project_id")
_LISTINGS: dict[tuple, Any] = {}


def _listing(keys: tuple[str, ...], admin: bool) -> Any:
    """The listing filtered in SQL on ``keys`` (an expanding IN each), built once per shape:
    building and keying a new statement costs more than running it (Nova lists a server's
    ports at each view of it). Read-only rows: the listing only reads them."""
    stmt = _LISTINGS.get((keys, admin))
    if stmt is None:
        c = _PORTS.c
        stmt = select(_PORTS).order_by(c.created_at, c.id)
        for key in keys:
            stmt = stmt.where(c[key].in_(bindparam(key, expanding=True)))
        if not admin:
            owned_nets = select(_NETWORKS.c.id).where(
                _NETWORKS.c.project_id == bindparam("caller"))
            stmt = stmt.where(or_(c.project_id == bindparam("caller"),
                                  c.network_id.in_(owned_nets)))
        stmt = _LISTINGS.setdefault((keys, admin), stmt)
    return stmt


def list_ports(req: Request) -> Any:
    ctx = req.context
    # Equality filters on plain columns go into SQL (as common.prefilter), the rest is
    # matched in Python.
    params: dict[str, Any] = common.filter_values(req, _FILTERS)
    stmt = _listing(tuple(params), ctx.is_admin)
    if not ctx.is_admin:
        params["caller"] = ctx.project_id
    with req.app.cloud.db.reader() as s:
        items = render(req, s, s.execute(stmt, params).all())
    return common.list_response(req, "ports", items, ATTRS, "port",
                                matchers={"fixed_ips": _match_fixed_ips})


def show_port(req: Request, port_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = render(req, s, [load(s, req.context, port_id)])[0]
    return common.show_response(req, "port", item)


# -- validation ----------------------------------------------------------------------------


def resolve_groups(s: Session, ctx: Any, project_id: str, wanted: list[str]) -> list[str]:
    """Groups must be the project's own (or shared); unknown ids are one 404."""
    missing = []
    for gid in dict.fromkeys(wanted):
        group = s.get(SecurityGroup, gid)
        if group is None or not (ctx.is_admin or group.project_id == project_id
                                 or group.shared):
            missing.append(gid)
    if missing:
        err = errors.NotFound(f"Security group {', '.join(missing)} does not exist")
        err.type_name = "SecurityGroupNotFound"
        raise err
    return list(dict.fromkeys(wanted))


def check_address_pairs(pairs: list[dict]) -> list[dict]:
    if len(pairs) > MAX_ADDRESS_PAIRS:
        raise errors.bad("AllowedAddressPairExhausted",
                         f"The number of allowed address pair exceeds the maximum "
                         f"{MAX_ADDRESS_PAIRS}.")
    out, seen = [], set()
    for pair in pairs:
        ip = pair.get("ip_address")
        if ip is None:
            raise errors.bad("AllowedAddressPairsMissingIP",
                             "AllowedAddressPair must contain ip_address")
        if set(pair) - {"ip_address", "mac_address"}:
            raise errors.http_bad_request(
                f"Unrecognized attribute(s) '{', '.join(set(pair) - {'ip_address', 'mac_address'})}'")
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            raise errors.http_bad_request(f"Invalid input for allowed_address_pairs. "
                                          f"Reason: '{ip}' is not a valid IP address.") from None
        mac = pair.get("mac_address")
        if mac is not None and A.mac_address(mac):
            raise errors.http_bad_request(f"Invalid input for allowed_address_pairs. "
                                          f"Reason: '{mac}' is not a valid MAC address.")
        key = (mac, ip)
        if key in seen:
            raise errors.bad("DuplicateAddressPairInRequest",
                             f"Request contains duplicate address pair: mac_address {mac} "
                             f"ip_address {ip}.")
        seen.add(key)
        out.append({"ip_address": ip, **({"mac_address": mac.lower()} if mac else {})})
    return out


def _security(s: Session, ctx: Any, project_id: str, owner: str, enabled: bool,
              groups: list[str] | None, pairs: list[dict]) -> list[str]:
    if not enabled and groups:
        raise errors.bad("PortSecurityAndIPRequiredForSecurityGroups",
                         "Port security must be enabled and port must have an IP address in "
                         "order to use security groups.")
    if not enabled and pairs:
        raise errors.conflict("AddressPairAndPortSecurityRequired",
                              "Port Security must be enabled in order to have allowed "
                              "address pairs on a port.")
    if groups is None:
        if not enabled or owner.startswith("network:"):
            return []
        return [sg_objects.ensure_default(s, project_id)]
    return resolve_groups(s, ctx, project_id, groups)


def build(s: Session, ctx: Any, item: dict) -> Port:
    """Create one port from a parsed item (also used by routers and floating IPs)."""
    net = net_api.load(s, ctx, item["network_id"])
    enabled = item.get("port_security_enabled")
    if enabled is None:
        enabled = net.port_security_enabled
    pairs = check_address_pairs(item.get("allowed_address_pairs") or [])
    groups = _security(s, ctx, item["project_id"], item.get("device_owner", ""), enabled,
                       item.get("security_groups"), pairs)
    values = {
        "project_id": item["project_id"], "name": item.get("name", ""),
        "description": item.get("description", ""),
        "tags": sorted(set(item.get("tags") or [])),
        "admin_state_up": item.get("admin_state_up", True),
        "device_id": item.get("device_id", ""), "device_owner": item.get("device_owner", ""),
        "port_security_enabled": enabled, "allowed_address_pairs": pairs,
        "extra_dhcp_opts": dhcp_opts.merge([], item.get("extra_dhcp_opts")),
        "vnic_type": item.get("binding:vnic_type", "normal"),
        "profile": item.get("binding:profile") or {},
    }
    if item.get("mac_address"):
        values["mac_address"] = item["mac_address"]
    port = ports.create(s, net, values, item.get("fixed_ips"), groups)
    if item.get("binding:host_id"):
        ports.bind(port, item["binding:host_id"])
    if port.device_owner == "network:floatingip":
        port.status = "N/A"
    return port


def create_port(req: Request) -> Any:
    items = common.parse_body(req, "port", ATTRS, True, "ports")
    cloud, ctx = req.app.cloud, req.context

    def work(s: Session) -> list[dict]:
        for project in {i["project_id"] for i in items}:
            quota.check(s, project, "port", sum(1 for i in items if i["project_id"] == project))
        return render(req, s, [build(s, ctx, item) for item in items])

    views = ports.in_transaction(cloud, work)
    return common.created("port", "ports", views, common.is_bulk(req, "ports"))


SIMPLE = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
          "device_id": "device_id", "device_owner": "device_owner",
          "binding:vnic_type": "vnic_type", "binding:profile": "profile",
          "mac_address": "mac_address"}


def change(s: Session, ctx: Any, port: Port, changes: dict) -> None:
    """Apply a PUT's changes (also used by Nova's binding and the router code)."""
    values = {col: changes[key] if key != "binding:profile" else (changes[key] or {})
              for key, col in SIMPLE.items() if key in changes}
    if changes.get("extra_dhcp_opts"):
        values["extra_dhcp_opts"] = dhcp_opts.merge(port.extra_dhcp_opts or [],
                                                    changes["extra_dhcp_opts"])
    net = s.get(Network, port.network_id)
    if "mac_address" in values and values["mac_address"] != port.mac_address:
        if port.vif_type not in ("unbound", "binding_failed") and not ctx.is_admin:
            raise errors.conflict("PortBound", f"Unable to complete operation on port "
                                  f"{port.id}, port is already bound, port type: "
                                  f"{port.vif_type}, old_mac {port.mac_address}, new_mac "
                                  f"{values['mac_address']}.")
        ports.check_mac(s, port.network_id, values["mac_address"], skip=port.id)
    before_ips = ports.fixed_ips(s, port.id)
    before_groups = ports.security_groups(s, port.id)
    enabled = changes.get("port_security_enabled", port.port_security_enabled)
    values["port_security_enabled"] = enabled
    if "allowed_address_pairs" in changes:
        values["allowed_address_pairs"] = check_address_pairs(changes["allowed_address_pairs"])
    pairs = values.get("allowed_address_pairs", port.allowed_address_pairs)
    if "security_groups" in changes:
        groups = _security(s, ctx, port.project_id, port.device_owner, enabled,
                           changes["security_groups"] or [], pairs)
        ports.set_security_groups(s, port.id, groups)
    elif not enabled and before_groups:
        raise errors.conflict("PortSecurityPortHasSecurityGroup",
                              "Port has security group associated. Cannot disable port "
                              "security or IP address until security group is removed.")
    elif not enabled and pairs:
        _security(s, ctx, port.project_id, port.device_owner, enabled, None, pairs)
    if "fixed_ips" in changes:
        ports.replace_ips(s, net, port, changes["fixed_ips"] or [])
    s.flush()
    moved = (ports.fixed_ips(s, port.id) != before_ips
             or ports.security_groups(s, port.id) != before_groups)
    changed = ports.bump(port, values)
    if "binding:host_id" in changes and (changes["binding:host_id"] or "") != port.host_id:
        ports.bind(port, changes["binding:host_id"])
        changed = ports.bump(port) or True
    if moved and not changed:
        ports.bump(port)


def update_port(req: Request, port_id: str) -> Any:
    changes = common.parse_body(req, "port", ATTRS, False)[0]
    cloud, ctx = req.app.cloud, req.context

    def work(s: Session) -> dict:
        port = load_owned(s, ctx, port_id, "update_port")
        common.check_if_match(req, port)
        change(s, ctx, port, changes)
        return render(req, s, [port])[0]

    return common.show_response(req, "port", ports.in_transaction(cloud, work))


def delete_port(req: Request, port_id: str) -> Any:
    common.no_body(req)
    with req.app.cloud.db.writer() as s:
        port = load_owned(s, req.context, port_id, "delete_port")
        common.check_if_match(req, port)
        if port.device_owner in SERVICE_OWNERS:
            raise errors.conflict("ServicePortInUse", f"Port {port.id} cannot be deleted "
                                  f"directly via the port API: has device owner "
                                  f"{port.device_owner}.")
        ports.delete_port(s, port)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/ports", "port", load)
