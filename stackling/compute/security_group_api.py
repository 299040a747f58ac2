"""Nova's security group API over Neutron (nova/network/security_group_api.py).

Nova keeps no security groups of its own: every call goes to the Networking API with the
caller's token, and the answers are turned into Nova's older shape (``tenant_id``,
``rules`` with ``ip_protocol``/``from_port``/``to_port``, ingress rules only). Errors
keep neutronclient's text (Neutron's message and the request ids), as Nova shows it.
"""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from stackling import clients, exception

if TYPE_CHECKING:
    from stackling.context import RequestContext


class SecurityGroupNotFound(exception.NotFound):
    msg_fmt = "Security group not found."


class NoUniqueMatch(exception.Conflict):
    msg_fmt = "No Unique Match Found."


class CannotBeApplied(exception.BadRequest):
    msg_fmt = ("Network requires port_security_enabled and subnet associated in order to "
               "apply security groups.")


def neutron_text(err: clients.ApiError) -> str:
    """``str()`` of a neutronclient exception: the message, then the request ids."""
    return f"{err.message}\nNeutron server returns request_ids: ['{err.request_id}']"


def translate(err: clients.ApiError, by_status: dict[int, type]) -> Exception:
    """Nova's mapping of a neutronclient error by status (with Neutron's text); any other
    error goes on as it is."""
    kind = by_status.get(err.status)
    return kind(neutron_text(err)) if kind else err


def client(ctx: RequestContext) -> clients.ServiceClient:
    return clients.ServiceClient(ctx.cloud, "network", ctx.token or "")


def validate_id(group_id: str) -> str:
    try:
        uuidlib.UUID(str(group_id))
    except ValueError:
        raise exception.BadRequest("Security group id should be uuid") from None
    return group_id


# -- Nova's shapes -------------------------------------------------------------------------


def parse_cidr(cidr: str | None) -> str:
    if not cidr:
        return "0.0.0.0/0"
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise exception.BadRequest(f"{cidr} is not a valid IP network.") from None
    return cidr


def nova_rule(rule: dict) -> dict:
    """``_convert_to_nova_security_group_rule_format``: no port range means all of them."""
    proto = rule.get("protocol")
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    if proto and lo is None and hi is None:
        lo, hi = (1, 65535) if proto.upper() in ("TCP", "UDP") else (-1, -1)
    return {"id": rule["id"], "parent_group_id": rule["security_group_id"],
            "protocol": proto, "from_port": lo, "to_port": hi,
            "group_id": rule.get("remote_group_id"),
            "cidr": parse_cidr(rule.get("remote_ip_prefix"))}


def nova_group(group: dict) -> dict:
    return {"id": group["id"], "description": group.get("description", ""),
            "name": group.get("name", ""), "project_id": group.get("tenant_id"),
            "rules": [nova_rule(r) for r in group.get("security_group_rules") or []
                      if r.get("direction") == "ingress"]}


# -- groups ----------------------------------------------------------------------------------


def get(ctx: RequestContext, group_id: str) -> dict:
    try:
        return nova_group(client(ctx).get(
            f"/v2.0/security-groups/{quote(str(group_id), safe='')}")["security_group"])
    except clients.ApiError as err:
        raise translate(err, {404: SecurityGroupNotFound}) from None


def list_groups(ctx: RequestContext, all_tenants: bool) -> list[dict]:
    """The project's groups; every group for an admin asking for ``all_tenants``."""
    query = "" if all_tenants and ctx.is_admin else "?" + urlencode(
        {"tenant_id": ctx.project_id})
    return [nova_group(g) for g in client(ctx).get(f"/v2.0/security-groups{query}")[
        "security_groups"]]


def _write_group(ctx: RequestContext, method: str, path: str, name: str,
                 description: str) -> dict:
    try:
        _, body, _ = client(ctx).request(method, path, {"security_group": {
            "name": name, "description": description}})
    except clients.ApiError as err:
        raise translate(err, {400: exception.BadRequest, 404: SecurityGroupNotFound,
                              409: exception.Forbidden}) from None
    return nova_group(body["security_group"])


def create(ctx: RequestContext, name: str, description: str) -> dict:
    return _write_group(ctx, "POST", "/v2.0/security-groups", name, description)


def update(ctx: RequestContext, group: dict, name: str, description: str) -> dict:
    return _write_group(ctx, "PUT", f"/v2.0/security-groups/{group['id']}", name,
                        description)


def destroy(ctx: RequestContext, group: dict) -> None:
    """409 from Neutron (the default group, a group in use) is Nova's 400 Invalid."""
    try:
        client(ctx).delete(f"/v2.0/security-groups/{group['id']}")
    except clients.ApiError as err:
        raise translate(err, {404: SecurityGroupNotFound, 409: exception.BadRequest}
                        ) from None


# -- rules -----------------------------------------------------------------------------------


def _ports(proto: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    """``_new_ingress_rule``'s checks, in Nova's order, with Nova's texts."""
    upper = proto.upper()
    try:
        lo, hi = int(from_port), int(to_port)
    except (TypeError, ValueError):
        reason = ("Type and Code must be integers for ICMP protocol type" if upper == "ICMP"
                  else "To and From ports must be integers")
        raise exception.InvalidInput(reason=reason) from None
    if upper not in ("TCP", "UDP", "ICMP"):
        raise exception.BadRequest(f"Invalid IP protocol {proto}.")

    def bad_range(msg: str) -> exception.BadRequest:
        return exception.BadRequest(f"Invalid port range {lo}:{hi}. {msg}")
    if upper in ("TCP", "UDP") and lo > hi:
        raise bad_range("Former value cannot be greater than the later")
    if upper in ("TCP", "UDP") and (lo < 1 or hi > 65535):
        raise bad_range(f"Valid {upper} ports should be between 1-65535")
    if upper == "ICMP" and not (-1 <= lo <= 255 and -1 <= hi <= 255):
        raise bad_range("For ICMP, the type:code must be valid")
    return lo, hi


def new_rule(ip_protocol: Any, from_port: Any, to_port: Any, cidr: Any,
             group_id: str | None) -> dict | None:
    """Nova's ingress rule from the request; None when a CIDR rule lacks protocol/ports."""
    values: dict[str, Any] = {}
    if group_id is not None:
        values["group_id"] = group_id
        upper = str(ip_protocol).upper() if ip_protocol else ""
        if from_port is None and to_port is None and upper == "ICMP":
            from_port = to_port = -1
        elif from_port is None and to_port is None and upper in ("TCP", "UDP"):
            from_port, to_port = 1, 65535
    else:
        values["cidr"] = parse_cidr(cidr)
    if ip_protocol and from_port is not None and to_port is not None:
        values["from_port"], values["to_port"] = _ports(str(ip_protocol), from_port, to_port)
        values["protocol"] = str(ip_protocol)
    elif "cidr" in values:
        return None
    return values


def rule_exists(group: dict, rule: dict) -> bool:
    keys = ("group_id", "cidr", "from_port", "to_port", "protocol")
    return any(all(r.get(k) == rule.get(k) for k in keys) for r in group["rules"])


def add_rule(ctx: RequestContext, group: dict, rule: dict) -> dict:
    """``create_security_group_rule``: Nova's duplicate check, then one ingress rule."""
    if rule_exists(group, rule):
        raise exception.BadRequest(f"This rule already exists in group {group['id']}")
    cidr = rule.get("cidr")
    body: dict[str, Any] = {
        "direction": "ingress", "protocol": rule.get("protocol"),
        "ethertype": "IPv6" if cidr and ipaddress.ip_network(cidr, strict=False).version == 6
        else "IPv4",
        "remote_ip_prefix": cidr, "security_group_id": group["id"],
        "remote_group_id": rule.get("group_id")}
    for ours, theirs in (("from_port", "port_range_min"), ("to_port", "port_range_max")):
        if ours in rule and rule[ours] != -1:
            body[theirs] = rule[ours]
    try:
        created = client(ctx).post("/v2.0/security-group-rules",
                                   {"security_group_rules": [body]})
    except clients.ApiError as err:
        raise translate(err, {400: exception.BadRequest, 404: SecurityGroupNotFound,
                              409: exception.Forbidden}) from None
    return nova_rule(created["security_group_rules"][0])


def get_rule(ctx: RequestContext, rule_id: str) -> dict:
    try:
        return nova_rule(client(ctx).get(f"/v2.0/security-group-rules/{rule_id}")[
            "security_group_rule"])
    except clients.ApiError as err:
        raise translate(err, {404: SecurityGroupNotFound}) from None


def remove_rule(ctx: RequestContext, rule_id: str) -> None:
    client(ctx).delete(f"/v2.0/security-group-rules/{rule_id}")


# -- servers ---------------------------------------------------------------------------------


def instance_groups(ctx: RequestContext, instance_uuid: str) -> list[dict]:
    """``get_instance_security_groups(detailed=True)``: the groups of the server's ports,
    once per port that has them, as Nova lists them."""
    neutron = client(ctx)
    ports = neutron.get("/v2.0/ports?" + urlencode(
        [("device_id", instance_uuid), ("fields", "security_groups"),
         ("fields", "device_id")]))["ports"]
    ids = list(dict.fromkeys(g for p in ports for g in p.get("security_groups") or []))
    if not ids:
        return []
    found = {g["id"]: g for g in neutron.get("/v2.0/security-groups?" + urlencode(
        [("id", i) for i in ids]))["security_groups"]}
    return [nova_group(found[g]) for p in ports for g in p.get("security_groups") or []
            if g in found]


def find_id(neutron: clients.ServiceClient, name: str, project_id: str | None
            ) -> str | None:
    """neutronclient's find_resourceid_by_name_or_id: an id, else a unique name in the
    project; None when nothing matches, 409 when the name is ambiguous."""
    try:
        return neutron.get(f"/v2.0/security-groups/{quote(name, safe='')}")[
            "security_group"]["id"]
    except clients.ApiError as err:
        if err.status != 404:
            raise
    found = neutron.get("/v2.0/security-groups?" + urlencode(
        {"name": name, "project_id": project_id}))["security_groups"]
    if len(found) > 1:
        raise NoUniqueMatch(f"Multiple security_group matches found for name '{name}', use "
                            "an ID to be more specific.")
    return found[0]["id"] if found else None


def _instance_ports(ctx: RequestContext, instance_uuid: str, name: str) -> tuple[str, list]:
    group_id = find_id(client(ctx), name, ctx.project_id)
    if group_id is None:
        raise SecurityGroupNotFound(f"Security group {name} is not found for project "
                                    f"{ctx.project_id}")
    ports = client(ctx).get(f"/v2.0/ports?device_id={instance_uuid}")["ports"]
    if not ports:
        raise SecurityGroupNotFound(f"instance_id {instance_uuid} could not be found as "
                                    "device id on any ports")
    return group_id, ports


def add_to_instance(ctx: RequestContext, instance_uuid: str, name: str) -> None:
    group_id, ports = _instance_ports(ctx, instance_uuid, name)
    for port in ports:
        has_ip = port.get("fixed_ips") or port.get("ip_allocation") == "deferred"
        if not (has_ip and port.get("port_security_enabled", True)):
            raise CannotBeApplied()
        groups = list(port.get("security_groups") or []) + [group_id]
        try:
            client(ctx).put(f"/v2.0/ports/{port['id']}",
                            {"port": {"security_groups": groups}})
        except clients.ApiError as err:
            raise translate(err, {400: CannotBeApplied, 409: exception.Conflict}) from None


def remove_from_instance(ctx: RequestContext, instance_uuid: str, name: str) -> None:
    group_id, ports = _instance_ports(ctx, instance_uuid, name)
    found = False
    for port in ports:
        groups = list(port.get("security_groups") or [])
        if group_id not in groups:
            continue
        groups.remove(group_id)
        client(ctx).put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": groups}})
        found = True
    if not found:
        raise SecurityGroupNotFound(f"Security group {name} not associated with the "
                                    f"instance {instance_uuid}")
