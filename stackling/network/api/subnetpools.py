"""Subnet pools: ``/v2.0/subnetpools`` create, list, show, update, delete and tags
(``neutron_lib/api/definitions/subnetpool.py``, ``neutron/ipam/subnet_alloc.py``
``SubnetPoolReader``). Subnets are not allocated from a pool here (``subnet_allocation`` is
not advertised); the pools exist so clients can keep and tag them."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stackling.db.models_network import SubnetPool
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.objects import networks, quota
from stackling.web.app import Request, empty_response

# Per IP version: the longest prefix and the default min_prefixlen (``SubnetPoolHelper``).
BITS = {4: 32, 6: 128}
DEFAULT_MIN = {4: 8, 6: 64}


def not_empty(value: Any) -> str | None:
    reason = A.string(255)(value)
    if reason is None and not value.strip():
        return f"'{value}' Blank strings are not permitted"
    return reason


def non_negative(value: Any) -> str | None:
    return f"'{value}' should be non-negative" if value < 0 else None


def _int_attr() -> A.Attr:
    return A.Attr(put=True, convert=A.to_int, validate=non_negative)


ATTRS = A.standard(
    prefixes=A.Attr(put=True, default=A.REQUIRED, validate=A.list_of(A.subnet_cidr),
                    filter=False, sort=False),
    default_quota=_int_attr(), default_prefixlen=_int_attr(), min_prefixlen=_int_attr(),
    max_prefixlen=_int_attr(),
    ip_version=A.READ_ONLY,
    is_default=A.Attr(put=True, default=False, convert=A.to_bool, admin_set=True),
    shared=A.Attr(default=False, convert=A.to_bool, admin_set=True),
    address_scope_id=A.Attr(put=True, default=None, validate=A.uuid_or_none),
)
ATTRS["name"] = A.Attr(put=True, default=A.REQUIRED, validate=not_empty)


def visible(ctx: Any, pool: SubnetPool) -> bool:
    return ctx.is_admin or pool.project_id == ctx.project_id or pool.shared


def load(s: Session, ctx: Any, pool_id: str) -> SubnetPool:
    pool = s.get(SubnetPool, pool_id)
    if pool is None or not visible(ctx, pool):
        raise errors.missing("subnetpool", pool_id)
    return pool


def _owned(s: Session, ctx: Any, pool_id: str, action: str) -> SubnetPool:
    pool = load(s, ctx, pool_id)
    if not ctx.is_admin and pool.project_id != ctx.project_id:
        raise errors.PolicyNotAuthorized(action=f"rule:{action}")
    return pool


def view(pool: SubnetPool) -> dict:
    out = common.standard_view(pool)
    out.update({key: getattr(pool, key) for key in (
        "ip_version", "default_prefixlen", "min_prefixlen", "max_prefixlen", "default_quota",
        "is_default", "shared", "address_scope_id")})
    out["prefixes"] = list(pool.prefixes)
    return out


def _prefixes(values: list[str]) -> tuple[int, list[str]]:
    """The IP version and the merged prefix list (``_compact_subnetpool_prefix_list``)."""
    if not values:
        raise errors.bad("EmptySubnetPoolPrefixList", "Empty subnet pool prefix list.")
    nets = [ipaddress.ip_network(v, strict=False) for v in values]
    if len({n.version for n in nets}) > 1:
        raise errors.bad("PrefixVersionMismatch",
                         "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
    return nets[0].version, [str(n) for n in ipaddress.collapse_addresses(nets)]


def _illegal(kind: str, value: int, base_kind: str, base: int) -> errors.NeutronError:
    return errors.bad("IllegalSubnetPoolPrefixBounds", f"Illegal prefix bounds: "
                      f"{kind}={value}, {base_kind}={base}.")


def _bounds(version: int, lo: int, hi: int, default: int) -> None:
    """``validate_min_prefixlen``, ``validate_max_prefixlen``, ``validate_default_prefixlen``."""
    if lo > hi:
        raise _illegal("min_prefixlen", lo, "max_prefixlen", hi)
    if hi > BITS[version]:
        raise _illegal("max_prefixlen", hi, "ip_version_max", BITS[version])
    if default < lo:
        raise _illegal("default_prefixlen", default, "min_prefixlen", lo)
    if default > hi:
        raise _illegal("default_prefixlen", default, "max_prefixlen", hi)


def _shape(item: dict, current: SubnetPool | None = None) -> dict:
    """Prefixes and bounds of a new pool, or of ``current`` with ``item``'s changes."""
    version, prefixes = _prefixes(item["prefixes"]) if "prefixes" in item else (
        current.ip_version, current.prefixes)
    if current is not None and version != current.ip_version:
        raise errors.bad("PrefixVersionMismatch",
                         "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
    lo = item.get("min_prefixlen", current.min_prefixlen if current else DEFAULT_MIN[version])
    hi = item.get("max_prefixlen", current.max_prefixlen if current else BITS[version])
    default = item.get("default_prefixlen", current.default_prefixlen if current else lo)
    _bounds(version, lo, hi, default)
    return {"ip_version": version, "prefixes": prefixes, "min_prefixlen": lo,
            "max_prefixlen": hi, "default_prefixlen": default}


def list_subnetpools(req: Request) -> Any:
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        q = select(SubnetPool).order_by(SubnetPool.created_at, SubnetPool.id)
        if not ctx.is_admin:
            q = q.where(or_(SubnetPool.project_id == ctx.project_id, SubnetPool.shared))
        items = [view(p) for p in s.scalars(q)]
    return common.list_response(req, "subnetpools", items, ATTRS, "subnetpool")


def show_subnetpool(req: Request, subnetpool_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = view(load(s, req.context, subnetpool_id))
    return common.show_response(req, "subnetpool", item)


def create_subnetpool(req: Request) -> Any:
    items = common.parse_body(req, "subnetpool", ATTRS, True, "subnetpools")
    with req.app.cloud.db.writer() as s:
        rows = []
        for item in items:
            quota.check(s, item["project_id"], "subnetpool")
            pool = SubnetPool(
                project_id=item["project_id"], name=item["name"],
                description=item["description"], tags=sorted(set(item.get("tags") or [])),
                default_quota=item.get("default_quota"), is_default=item["is_default"],
                shared=item["shared"], address_scope_id=item["address_scope_id"],
                **_shape(item))
            s.add(pool)
            rows.append(pool)
        s.flush()
        views = [view(p) for p in rows]
    return common.created("subnetpool", "subnetpools", views,
                          common.is_bulk(req, "subnetpools"))


def update_subnetpool(req: Request, subnetpool_id: str) -> Any:
    changes = common.parse_body(req, "subnetpool", ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        pool = _owned(s, req.context, subnetpool_id, "update_subnetpool")
        common.check_if_match(req, pool)
        values = {k: v for k, v in changes.items()
                  if k in ("name", "description", "default_quota", "is_default",
                           "address_scope_id")}
        networks.bump(pool, {**values, **_shape(changes, pool)})
        item = view(pool)
    return common.show_response(req, "subnetpool", item)


def delete_subnetpool(req: Request, subnetpool_id: str) -> Any:
    common.no_body(req)
    with req.app.cloud.db.writer() as s:
        pool = _owned(s, req.context, subnetpool_id, "delete_subnetpool")
        common.check_if_match(req, pool)
        s.delete(pool)
    return empty_response(204)


TAG_ROUTES = common.tag_routes("/v2.0/subnetpools", "subnetpool", load)
