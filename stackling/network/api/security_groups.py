"""Security groups and rules: ``/v2.0/security-groups`` and ``/v2.0/security-group-rules``
with Neutron's rule validation (``neutron/db/securitygroups_db.py``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stackling.db.models_network import DefaultSecurityGroup, SecurityGroup, SecurityGroupRule
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.objects import ports as port_objects
from stackling.network.objects import quota
from stackling.network.objects import security_groups as sg
from stackling.web.app import Request, empty_response

def name_not_default(value: Any) -> str | None:
    """Neutron's ``type:name_not_default``: no group but the project's own is ``default``,
    on create and on rename alike (409 before any other check)."""
    reason = A.string(255)(value)
    if reason:
        return reason
    if value.lower() == "default":
        raise errors.conflict("SecurityGroupDefaultAlreadyExists",
                              "Default security group already exists.")
    return None


def to_port(value: Any) -> int | None:
    """``convert_validate_port_value``: 0 to 65535 (or null), checked while parsing."""
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise errors.bad("SecurityGroupInvalidPortValue", f"Invalid value for port {value}")
    return port


GROUP_ATTRS = A.standard(
    stateful=A.Attr(put=True, default=True, convert=A.to_bool),
    shared=A.Attr(post=False),
    security_group_rules=A.Attr(post=False, filter=False, sort=False),
)
GROUP_ATTRS["name"] = A.Attr(put=True, default="", validate=name_not_default)


def to_ethertype(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("ipv4", "ipv6"):
        return "IPv" + value[-1]
    raise errors.bad("SecurityGroupRuleInvalidEtherType",
                     f"Security group rule for ethertype '{value}' not supported. Allowed "
                     f"values are ['IPv4', 'IPv6'].")


def to_protocol(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    text = str(value).lower() if isinstance(value, str) else value
    if isinstance(text, str) and text in sg.PROTOCOL_NUMBERS:
        return text
    try:
        if 0 <= int(text) <= 255 and not isinstance(text, bool):
            return str(value)
    except (TypeError, ValueError):
        pass
    names = (None, "any", *sg.PROTOCOL_NUMBERS)
    raise errors.bad("SecurityGroupRuleInvalidProtocol",
                     f"Security group rule protocol {value} not supported. Only protocol "
                     f"values {names} and integer representations [0 to 255] are supported.")


RULE_ATTRS = A.standard(
    # Neither id is checked for UUID format: an unknown one is the group's 404.
    security_group_id=A.Attr(default=A.REQUIRED, validate=A.string(36)),
    direction=A.Attr(default=A.REQUIRED, validate=A.values("ingress", "egress")),
    ethertype=A.Attr(default="IPv4", convert=to_ethertype),
    protocol=A.Attr(default=None, convert=to_protocol),
    port_range_min=A.Attr(default=None, convert=to_port),
    port_range_max=A.Attr(default=None, convert=to_port),
    remote_ip_prefix=A.Attr(default=None, convert=A.to_cidr, validate=A.subnet_or_none),
    remote_group_id=A.Attr(default=None),
    remote_address_group_id=A.Attr(default=None),
    normalized_cidr=A.Attr(post=False),
    belongs_to_default_sg=A.Attr(post=False),
)
RULE_ATTRS["name"] = A.Attr(post=False, filter=False)
RULE_ATTRS["tags"] = A.Attr(post=False, filter=False, sort=False)
RULE_ATTRS["description"] = A.Attr(put=True, default="", validate=A.string(255))

PORT_PROTOCOLS = {"tcp", "udp", "dccp", "sctp", "udplite", "6", "17", "33", "132", "136"}
ICMP_PROTOCOLS = {"icmp", "ipv6-icmp", "icmpv6", "1", "58"}
IPV6_ONLY = {"ipv6-icmp", "icmpv6", "ipv6-encap", "ipv6-frag", "ipv6-nonxt", "ipv6-opts",
             "ipv6-route", "58", "43", "44", "59", "60"}


def visible(ctx: Any, group: SecurityGroup) -> bool:
    return ctx.is_admin or group.project_id == ctx.project_id or group.shared


def load(s: Session, ctx: Any, group_id: str) -> SecurityGroup:
    group = s.get(SecurityGroup, group_id)
    if group is None or not visible(ctx, group):
        raise errors.missing("security_group", group_id)
    return group


def _default_ids(s: Session) -> set[str]:
    return set(s.scalars(select(DefaultSecurityGroup.security_group_id)))


def rule_view(rule: SecurityGroupRule, defaults: set[str]) -> dict:
    out = common.standard_view(rule)
    for key in ("name", "tags"):
        out.pop(key)
    prefix = rule.remote_ip_prefix
    out.update({
        "security_group_id": rule.security_group_id, "direction": rule.direction,
        "ethertype": rule.ethertype, "protocol": rule.protocol,
        "port_range_min": rule.port_range_min, "port_range_max": rule.port_range_max,
        "remote_ip_prefix": prefix, "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": rule.remote_address_group_id,
        "normalized_cidr": str(ipaddress.ip_network(prefix, strict=False)) if prefix
        else None,
        "belongs_to_default_sg": rule.security_group_id in defaults,
    })
    return out


def group_view(s: Session, group: SecurityGroup, defaults: set[str]) -> dict:
    out = common.standard_view(group)
    out.update({"stateful": group.stateful, "shared": group.shared,
                "security_group_rules": [rule_view(r, defaults)
                                         for r in sg.rules_of(s, group.id)]})
    return out


def list_groups(req: Request) -> Any:
    ctx, cloud = req.context, req.app.cloud
    wanted = req.GET.getall("project_id") or req.GET.getall("tenant_id")
    ensure = [ctx.project_id] if not ctx.is_admin else wanted
    if ensure and ensure[0]:
        port_objects.in_transaction(cloud, lambda s: [sg.ensure_default(s, p) for p in ensure])
    with cloud.db.reader() as s:
        q = select(SecurityGroup).order_by(SecurityGroup.created_at, SecurityGroup.id)
        q = common.prefilter(q, req, {"id": SecurityGroup.id, "name": SecurityGroup.name,
                                      "project_id": SecurityGroup.project_id})
        if not ctx.is_admin:
            q = q.where(or_(SecurityGroup.project_id == ctx.project_id, SecurityGroup.shared))
        defaults = _default_ids(s)
        items = [group_view(s, g, defaults) for g in s.scalars(q)]
    return common.list_response(req, "security_groups", items, GROUP_ATTRS, "security_group")


def show_group(req: Request, group_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = group_view(s, load(s, req.context, group_id), _default_ids(s))
    return common.show_response(req, "security_group", item)


def create_group(req: Request) -> Any:
    items = common.parse_body(req, "security_group", GROUP_ATTRS, True, "security_groups")
    cloud = req.app.cloud

    def work(s: Session) -> list[dict]:
        rows = []
        for item in items:
            sg.ensure_default(s, item["project_id"])
            quota.check(s, item["project_id"], "security_group")
            rows.append(sg.create_group(s, {
                "project_id": item["project_id"], "name": item["name"],
                "description": item["description"], "stateful": item["stateful"],
                "tags": sorted(set(item.get("tags") or []))}))
        defaults = _default_ids(s)
        return [group_view(s, g, defaults) for g in rows]

    views = port_objects.in_transaction(cloud, work)
    return common.created("security_group", "security_groups", views,
                          common.is_bulk(req, "security_groups"))


def _owned(s: Session, ctx: Any, group_id: str, action: str) -> SecurityGroup:
    group = load(s, ctx, group_id)
    if not ctx.is_admin and group.project_id != ctx.project_id:
        raise errors.PolicyNotAuthorized(action=f"rule:{action}")
    return group


def update_group(req: Request, group_id: str) -> Any:
    changes = common.parse_body(req, "security_group", GROUP_ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        group = _owned(s, req.context, group_id, "update_security_group")
        common.check_if_match(req, group)
        defaults = _default_ids(s)
        if group.id in defaults and "name" in changes:
            raise errors.conflict("SecurityGroupCannotUpdateDefault",
                                  "Updating default security group not allowed.")
        if "stateful" in changes and changes["stateful"] != group.stateful \
                and sg.in_use(s, group.id):
            raise errors.conflict("SecurityGroupInUse", f"Security Group {group.id} in use.")
        sg.bump(group, changes)
        item = group_view(s, group, defaults)
    return common.show_response(req, "security_group", item)


def delete_group(req: Request, group_id: str) -> Any:
    common.no_body(req)
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        group = _owned(s, ctx, group_id, "delete_security_group")
        common.check_if_match(req, group)
        if group.id in _default_ids(s) and not ctx.is_admin:
            raise errors.conflict("SecurityGroupCannotRemoveDefault",
                                  "Insufficient rights for removing default security group.")
        sg.delete_group(s, group)
    return empty_response(204)


# -- rules ---------------------------------------------------------------------------------


def _check_rule(s: Session, ctx: Any, rule: dict) -> dict:
    proto, ether = rule["protocol"], rule["ethertype"]
    if ether == "IPv6" and proto in ("icmp", "icmpv6"):
        proto = "ipv6-icmp"
    elif ether == "IPv6" and proto == "1":
        proto = "58"
    if ether == "IPv4" and proto in IPV6_ONLY:
        raise errors.bad("SecurityGroupEthertypeConflictWithProtocol",
                         f"Invalid ethertype {ether} for protocol {proto}.")
    rule["protocol"] = proto
    lo, hi = rule["port_range_min"], rule["port_range_max"]
    if (lo, hi) == (1, 65535) and proto in PORT_PROTOCOLS:
        lo = hi = None
    if (lo is not None or hi is not None) and proto is None:
        raise errors.bad("SecurityGroupProtocolRequiredWithPorts",
                         "Must also specify protocol if port range is given.")
    if proto in PORT_PROTOCOLS:
        if lo == 0 or hi == 0:
            raise errors.bad("SecurityGroupInvalidPortValue", "Invalid value for port 0")
        if (lo is None) != (hi is None) or (lo is not None and lo > hi):
            raise errors.bad("SecurityGroupInvalidPortRange",
                             "For TCP/UDP protocols, port_range_min must be <= "
                             "port_range_max")
    elif proto in ICMP_PROTOCOLS:
        for field, attr, value in (("type", "port_range_min", lo),
                                   ("code", "port_range_max", hi)):
            if value is not None and not 0 <= value <= 255:
                raise errors.bad("SecurityGroupInvalidIcmpValue",
                                 f"Invalid value for ICMP {field} ({attr}) {value}. It must "
                                 f"be 0 to 255.")
        if hi is not None and lo is None:
            raise errors.bad("SecurityGroupMissingIcmpType",
                             f"ICMP code (port-range-max) {hi} is provided but ICMP type "
                             f"(port-range-min) is missing.")
    elif lo is not None or hi is not None:
        raise errors.bad("SecurityGroupInvalidProtocolForPort",
                         f"Ports cannot be specified for protocol {proto}. Ports are only "
                         f"supported for DCCP, SCTP, TCP, UDP, UDPLITE.")
    rule["port_range_min"], rule["port_range_max"] = lo, hi
    remotes = [k for k in ("remote_ip_prefix", "remote_group_id", "remote_address_group_id")
               if rule.get(k)]
    if len(remotes) > 1:
        raise errors.bad("SecurityGroupRemoteGroupAndRemoteIpPrefix",
                         "Only one of remote_ip_prefix or remote_group_id or "
                         "remote_address_group_id may be provided.")
    prefix = rule.get("remote_ip_prefix")
    if prefix and ipaddress.ip_network(prefix, strict=False).version != int(ether[-1]):
        raise errors.bad("SecurityGroupRuleParameterConflict",
                         f"Conflicting value ethertype {ether} for CIDR {prefix}")
    if rule.get("remote_group_id"):
        load(s, ctx, rule["remote_group_id"])
    if rule.get("remote_address_group_id"):    # no address groups are served
        raise errors.bad("AddressGroupNotFound", f"Address group "
                         f"{rule['remote_address_group_id']} could not be found.", 404)
    return rule


def list_rules(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(SecurityGroupRule).order_by(SecurityGroupRule.created_at,
                                               SecurityGroupRule.id)
        q = common.prefilter(q, req, {"security_group_id": SecurityGroupRule.security_group_id,
                                      "id": SecurityGroupRule.id})
        if not ctx.is_admin:
            mine = select(SecurityGroup.id).where(or_(
                SecurityGroup.project_id == ctx.project_id, SecurityGroup.shared))
            q = q.where(or_(SecurityGroupRule.project_id == ctx.project_id,
                            SecurityGroupRule.security_group_id.in_(mine)))
        defaults = _default_ids(s)
        items = [rule_view(r, defaults) for r in s.scalars(q)]
    return common.list_response(req, "security_group_rules", items, RULE_ATTRS,
                                "security_group_rule")


def _load_rule(s: Session, ctx: Any, rule_id: str) -> SecurityGroupRule:
    rule = s.get(SecurityGroupRule, rule_id)
    group = s.get(SecurityGroup, rule.security_group_id) if rule else None
    if rule is None or group is None or not (visible(ctx, group)
                                             or rule.project_id == ctx.project_id):
        raise errors.missing("security_group_rule", rule_id)
    return rule


def show_rule(req: Request, rule_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = rule_view(_load_rule(s, req.context, rule_id), _default_ids(s))
    return common.show_response(req, "security_group_rule", item)


def create_rule(req: Request) -> Any:
    items = common.parse_body(req, "security_group_rule", RULE_ATTRS, True,
                              "security_group_rules")
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        by_group: dict[str, list[dict]] = {}
        for item in items:
            item.pop("name", None)
            item = _check_rule(s, ctx, item)
            by_group.setdefault(item.pop("security_group_id"), []).append(item)
        rows = []
        for group_id, rules in by_group.items():
            group = load(s, ctx, group_id)
            if not ctx.is_admin and group.project_id != ctx.project_id:
                raise errors.missing("security_group", group_id)
            quota.check(s, rules[0]["project_id"], "security_group_rule", len(rules))
            rows += sg.add_rules(s, group, rules)
        defaults = _default_ids(s)
        views = [rule_view(r, defaults) for r in rows]
    return common.created("security_group_rule", "security_group_rules", views,
                          common.is_bulk(req, "security_group_rules"))


def update_rule(req: Request, rule_id: str) -> Any:
    changes = common.parse_body(req, "security_group_rule", RULE_ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        rule = _load_rule(s, req.context, rule_id)
        sg.bump(rule, changes)
        item = rule_view(rule, _default_ids(s))
    return common.show_response(req, "security_group_rule", item)


def delete_rule(req: Request, rule_id: str) -> Any:
    common.no_body(req)
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        rule = _load_rule(s, ctx, rule_id)
        if not ctx.is_admin and rule.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action="rule:delete_security_group_rule")
        sg.delete_rule(s, rule)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/security-groups", "security_group", load)
