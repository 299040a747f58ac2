"""A small policy engine: rule names map to role checks, as in each service's defaults.

A rule is a string of alternatives joined by ``or``: ``role:admin``, ``role:member``,
``role:reader``, ``owner`` (the target's project is the caller's), ``self`` (the
target's user is the caller), ``domain`` (the target's domain is the caller's domain
scope), ``domain_scope`` (the token is domain-scoped), ``managed_role`` (the target role
is one a domain manager may hand out: manager, member, reader; Keystone's
``domain_managed_target_role``) or ``@`` (anyone authenticated). Implied roles count
(admin ⊃ manager ⊃ member ⊃ reader).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from stackling import exception
from stackling.context import RequestContext

ADMIN = "role:admin"
MEMBER = "role:member"
READER = "role:reader"
ANY = "@"
ADMIN_OR_OWNER = "role:admin or owner"
ADMIN_OR_OWNER_MEMBER = "role:admin or (role:member and owner)"
ADMIN_OR_OWNER_READER = "role:admin or (role:reader and owner)"

MANAGED_ROLES = ("manager", "member", "reader")

_RULES: dict[str, str] = {}


def register(rules: Mapping[str, str]) -> None:
    _RULES.update(rules)


def _check(term: str, ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    term = term.strip()
    if term.startswith("(") and term.endswith(")"):
        return all(_check(t, ctx, target) for t in term[1:-1].split(" and "))
    if term == ANY:
        return True
    if term == "self":
        return target.get("user_id") is not None and target.get("user_id") == ctx.user_id
    if term == "domain":
        return target.get("domain_id") is not None and target.get("domain_id") == ctx.domain_id
    if term == "domain_scope":
        return ctx.domain_id is not None
    if term == "managed_role":
        return target.get("role_name") in MANAGED_ROLES
    if term == "owner":
        return target.get("project_id") is not None and target.get("project_id") == ctx.project_id
    if term.startswith("role:"):
        return term[5:] in ctx.effective_roles
    raise ValueError(f"unknown policy term {term!r}")


def check(ctx: RequestContext, action: str, target: Mapping[str, Any] | None = None) -> bool:
    rule = _RULES.get(action)
    if rule is None:
        raise KeyError(f"policy rule {action!r} is not registered")
    target = target if target is not None else {"project_id": ctx.project_id}
    return _evaluate(rule, ctx, target)


def _evaluate(rule: str, ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return any(_check(t, ctx, target) for t in _alternatives(rule))


@functools.cache      # rules are few and fixed; a request checks several
def _alternatives(rule: str) -> tuple[str, ...]:
    """The rule split on top-level " or " only (parenthesised groups hold " and ")."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(rule):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and rule.startswith(" or ", i):
            terms.append(rule[start:i])
            start = i + 4
    terms.append(rule[start:])
    return tuple(terms)


def authorize(ctx: RequestContext, action: str, target: Mapping[str, Any] | None = None,
              error: type[exception.StacklingError] = exception.PolicyNotAuthorized) -> None:
    """Raise ``error(action=...)`` unless the caller may do ``action`` on ``target``."""
    if not check(ctx, action, target):
        raise error(action=action)
