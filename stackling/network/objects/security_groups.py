"""Security groups and rules: the lazily created ``default`` group with its four rules,
duplicate detection and the in-use checks (``neutron/db/securitygroups_db.py``)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stackling.db.models_network import (
    DefaultSecurityGroup,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from stackling.network import errors
from stackling.network.objects.networks import bump

# Protocol names and numbers compare as equal (``_check_for_duplicate_rules``).
PROTOCOL_NUMBERS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0,
                    "icmp": 1, "igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41,
                    "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
                    "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113,
                    "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136,
                    "vrrp": 112}


def default_group_id(s: Session, project_id: str) -> str | None:
    return s.scalar(select(DefaultSecurityGroup.security_group_id)
                    .where(DefaultSecurityGroup.project_id == project_id))


def ensure_default(s: Session, project_id: str) -> str:
    """The project's ``default`` group, created with its four rules on first use."""
    existing = default_group_id(s, project_id)
    if existing:
        return existing
    group = SecurityGroup(project_id=project_id, name="default",
                          description="Default security group")
    s.add(group)
    s.flush()
    # The primary key on project_id makes a concurrent creator fail and retry.
    s.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
    for ethertype in ("IPv4", "IPv6"):
        _rule(s, group, "egress", ethertype, None)
        _rule(s, group, "ingress", ethertype, group.id)
    s.flush()
    return group.id


def _rule(s: Session, group: SecurityGroup, direction: str, ethertype: str,
          remote_group_id: str | None) -> None:
    s.add(SecurityGroupRule(security_group_id=group.id, project_id=group.project_id,
                            direction=direction, ethertype=ethertype,
                            remote_group_id=remote_group_id, revision_number=0))


def create_group(s: Session, values: dict) -> SecurityGroup:
    group = SecurityGroup(**values)
    s.add(group)
    s.flush()
    for ethertype in ("IPv4", "IPv6"):
        _rule(s, group, "egress", ethertype, None)
    s.flush()
    return group


def rules_of(s: Session, group_id: str) -> list[SecurityGroupRule]:
    return list(s.scalars(select(SecurityGroupRule)
                          .where(SecurityGroupRule.security_group_id == group_id)
                          .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)))


def in_use(s: Session, group_id: str) -> bool:
    return s.scalar(select(func.count()).select_from(PortSecurityGroup)
                    .where(PortSecurityGroup.security_group_id == group_id)) > 0


def delete_group(s: Session, group: SecurityGroup) -> None:
    if in_use(s, group.id):
        raise errors.conflict("SecurityGroupInUse", f"Security Group {group.id} in use.")
    link = s.get(DefaultSecurityGroup, group.project_id)
    if link is not None and link.security_group_id == group.id:
        s.delete(link)
    for rule in rules_of(s, group.id):
        s.delete(rule)
    s.delete(group)


def _proto_key(protocol: str | None) -> str | None:
    if protocol is None:
        return None
    return str(PROTOCOL_NUMBERS.get(protocol, protocol))


def _prefix_key(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    net = ipaddress.ip_network(prefix, strict=False)
    return None if net.prefixlen == 0 else str(net)


def _same(a: SecurityGroupRule, b: dict) -> bool:
    return (a.direction == b["direction"] and a.ethertype == b["ethertype"]
            and a.port_range_min == b.get("port_range_min")
            and a.port_range_max == b.get("port_range_max")
            and _proto_key(a.protocol) == _proto_key(b.get("protocol"))
            and a.remote_group_id == b.get("remote_group_id")
            and a.remote_address_group_id == b.get("remote_address_group_id")
            and _prefix_key(a.remote_ip_prefix) == _prefix_key(b.get("remote_ip_prefix")))


def add_rules(s: Session, group: SecurityGroup, rules: list[dict]) -> list[SecurityGroupRule]:
    existing = rules_of(s, group.id)
    for i, rule in enumerate(rules):
        if any(_same_dicts(rule, other) for other in rules[:i]):
            raise errors.conflict("DuplicateSecurityGroupRuleInPost",
                                  "Duplicate Security Group Rule in POST.")
        dup = next((r for r in existing if _same(r, rule)), None)
        if dup is not None:
            raise errors.conflict("SecurityGroupRuleExists",
                                  f"Security group rule already exists. Rule id is {dup.id}.")
    rows = []
    for rule in rules:
        row = SecurityGroupRule(security_group_id=group.id, revision_number=0, **rule)
        s.add(row)
        rows.append(row)
    s.flush()
    bump(group)
    return rows


def _same_dicts(a: dict, b: dict) -> bool:
    probe = SecurityGroupRule(**{k: b.get(k) for k in (
        "direction", "ethertype", "port_range_min", "port_range_max", "protocol",
        "remote_group_id", "remote_address_group_id", "remote_ip_prefix")})
    return _same(probe, a)


def delete_rule(s: Session, rule: SecurityGroupRule) -> None:
    group = s.get(SecurityGroup, rule.security_group_id)
    s.delete(rule)
    if group is not None:
        bump(group)
