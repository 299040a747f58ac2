"""Small helpers every compute module shares: policies, time formats, input checks."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import regex

from stackling import exception, policy
from stackling.web.app import Request

ADMIN = policy.ADMIN
ANY = policy.ANY
OWNER = "role:admin or (role:member and owner)"
OWNER_READER = "role:admin or (role:reader and owner)"

# Nova's default rule names (nova/policies/*.py), mapped to our role checks.
policy.register({
    "os_compute_api:os-aggregates:index": ADMIN,
    "os_compute_api:os-aggregates:create": ADMIN,
    "os_compute_api:os-aggregates:show": ADMIN,
    "os_compute_api:os-aggregates:update": ADMIN,
    "os_compute_api:os-aggregates:delete": ADMIN,
    "os_compute_api:os-aggregates:add_host": ADMIN,
    "os_compute_api:os-aggregates:remove_host": ADMIN,
    "os_compute_api:os-aggregates:set_metadata": ADMIN,
    "os_compute_api:os-availability-zone:list": ANY,
    "os_compute_api:os-availability-zone:detail": ADMIN,
    "os_compute_api:os-services:list": ADMIN,
    "os_compute_api:os-services:update": ADMIN,
    "os_compute_api:os-services:delete": ADMIN,
    "os_compute_api:os-hypervisors:list": ADMIN,
    "os_compute_api:os-hypervisors:list-detail": ADMIN,
    "os_compute_api:os-hypervisors:show": ADMIN,
    "os_compute_api:os-hypervisors:statistics": ADMIN,
    "os_compute_api:os-hypervisors:search": ADMIN,
    "os_compute_api:os-hypervisors:servers": ADMIN,
    "os_compute_api:os-hypervisors:uptime": ADMIN,
    "os_compute_api:os-flavor-manage:create": ADMIN,
    "os_compute_api:os-flavor-manage:update": ADMIN,
    "os_compute_api:os-flavor-manage:delete": ADMIN,
    "os_compute_api:os-flavor-extra-specs:index": OWNER_READER,
    "os_compute_api:os-flavor-extra-specs:show": OWNER_READER,
    "os_compute_api:os-flavor-extra-specs:create": ADMIN,
    "os_compute_api:os-flavor-extra-specs:update": ADMIN,
    "os_compute_api:os-flavor-extra-specs:delete": ADMIN,
    "os_compute_api:os-flavor-access": ADMIN,
    "os_compute_api:os-flavor-access:add_tenant_access": ADMIN,
    "os_compute_api:os-flavor-access:remove_tenant_access": ADMIN,
    "os_compute_api:os-quota-sets:show": OWNER_READER,
    "os_compute_api:os-quota-sets:update": ADMIN,
    "os_compute_api:os-quota-sets:defaults": ANY,
    "os_compute_api:os-quota-sets:delete": ADMIN,
    "os_compute_api:os-quota-sets:detail": OWNER_READER,
    "os_compute_api:os-quota-class-sets:show": ADMIN,
    "os_compute_api:os-quota-class-sets:update": ADMIN,
    "os_compute_api:limits": ANY,
    "os_compute_api:limits:other_project": ADMIN,
    "os_compute_api:servers:index": OWNER_READER,
    "os_compute_api:servers:detail": OWNER_READER,
    "os_compute_api:servers:index:get_all_tenants": ADMIN,
    "os_compute_api:servers:detail:get_all_tenants": ADMIN,
    "os_compute_api:servers:allow_all_filters": ADMIN,
    "os_compute_api:servers:show": OWNER_READER,
    "os_compute_api:servers:show:host_status": ADMIN,
    "os_compute_api:servers:create": OWNER,
    "os_compute_api:servers:create:forced_host": ADMIN,
    "os_compute_api:servers:create:requested_destination": ADMIN,
    "os_compute_api:servers:create:attach_volume": OWNER,
    "os_compute_api:os-volumes-attachments:index": OWNER_READER,
    "os_compute_api:os-volumes-attachments:show": OWNER_READER,
    "os_compute_api:os-volumes-attachments:create": OWNER,
    "os_compute_api:os-volumes-attachments:update": OWNER,
    "os_compute_api:os-volumes-attachments:delete": OWNER,
    "os_compute_api:servers:update": OWNER,
    "os_compute_api:servers:delete": OWNER,
    "os_compute_api:servers:start": OWNER,
    "os_compute_api:servers:stop": OWNER,
    "os_compute_api:servers:reboot": OWNER,
    "os_compute_api:os-admin-actions:reset_state": ADMIN,
    "os_compute_api:os-deferred-delete:restore": OWNER,
    "os_compute_api:os-extended-server-attributes": ADMIN,
    "os_compute_api:server-metadata:index": OWNER_READER,
    "os_compute_api:server-metadata:show": OWNER_READER,
    "os_compute_api:server-metadata:create": OWNER,
    "os_compute_api:server-metadata:update_all": OWNER,
    "os_compute_api:server-metadata:update": OWNER,
    "os_compute_api:server-metadata:delete": OWNER,
})


def authorize(req: Request, rule: str, target: dict | None = None) -> None:
    policy.authorize(req.context, rule, target if target is not None else {})


def can(req: Request, rule: str, target: dict | None = None) -> bool:
    return policy.check(req.context, rule, target if target is not None else {})


def conf(req_or_cloud: Any):
    """nova.conf of the cloud behind a request (or of a cloud)."""
    cloud = getattr(getattr(req_or_cloud, "app", None), "cloud", None) or req_or_cloud
    return cloud.config.nova


def isotime(value: dt.datetime | None) -> str | None:
    """Nova's rendering of datetimes in the non-server APIs (services, aggregates, zones)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def parse_time(text: str, field: str) -> dt.datetime:
    """A query parameter's ISO 8601 time, as naive UTC; Nova's 400 when it is not one."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise exception.BadRequest(f"Invalid input for query parameters {field}. Value: "
                                   f"{text}. '{text}' is not a 'date-time'") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def zulu(value: dt.datetime | None) -> str | None:
    """Server views: ``2016-08-20T14:57:07Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def validate_integer(value: Any, name: str, min_value: int | None = None,
                     max_value: int | None = None) -> int:
    """nova.utils.validate_integer: 400 ``Invalid input received: <name> must be ...``."""
    try:
        number = int(str(value))
    except (ValueError, UnicodeEncodeError):
        raise exception.InvalidInput(reason=f"{name} must be an integer") from None
    if min_value is not None and number < min_value:
        raise exception.InvalidInput(
            reason=f"{name} must be >= {min_value}")
    if max_value is not None and number > max_value:
        raise exception.InvalidInput(
            reason=f"{name} must be <= {max_value}")
    return number


_LEADING_TRAILING = re.compile(r"^\s|\s$")


def check_name(field: str, value: Any, allow_colon: bool = True) -> str:
    """Nova's ``name`` / ``az_name`` schema: 1..255 printable chars, no edge spaces."""
    if not isinstance(value, str):
        raise exception.ValidationError(
            field=field, value=value, detail=f"{value!r} is not of type 'string'")
    if not 1 <= len(value) <= 255:
        detail = (f"{value!r} is too short" if not value else f"{value!r} is too long")
        raise exception.ValidationError(field=field, value=value, detail=detail)
    if _LEADING_TRAILING.search(value) or not value.isprintable() or \
            (not allow_colon and ":" in value):
        raise exception.ValidationError(
            field=field, value=value, detail=f"{value!r} does not match the pattern")
    return value


def body_key(body: Any, key: str) -> dict:
    """The one top-level object of a request body, with the schema's 400 when missing."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.ValidationError(
            field="`" + key + "`", value=body,
            detail=f"'{key}' is a required property")
    return body[key]


def reject_extra(section: str, data: dict, allowed: set[str]) -> None:
    extra = [k for k in data if k not in allowed]
    if extra:
        raise exception.ValidationError(
            field=section, value=data,
            detail="Additional properties are not allowed "
                   f"({', '.join(repr(k) for k in extra)} "
                   f"{'was' if len(extra) == 1 else 'were'} unexpected)")


# A user's regular expression may backtrack exponentially (``^(a+)+$``). Nova runs the
# ``name`` filter in the database (REGEXP / ``~``, Python's ``re`` on SQLite); we run it
# here with the ``regex`` module (the same syntax as ``re``), whose matching can be
# interrupted: the whole filter of one request gets this much time, then a 400.
REGEX_BUDGET_SECONDS = 0.5


def name_matcher(field: str, pattern: str):
    """A ``search`` with a bounded cost; an invalid expression matches literally (as
    before), one too costly to evaluate is a 400."""
    try:
        compiled = regex.compile(pattern, regex.VERSION0)
    except (regex.error, RecursionError, OverflowError, ValueError):
        compiled = regex.compile(regex.escape(pattern))
    deadline = time.monotonic() + REGEX_BUDGET_SECONDS

    def matches(text: str | None) -> bool:
        try:
            # concurrent: the GIL is released, so other requests go on meanwhile.
            return compiled.search(text or "", concurrent=True,
                                   timeout=max(deadline - time.monotonic(), 0.001)) is not None
        except TimeoutError:
            raise exception.BadRequest(
                f"Invalid input for query parameters {field}. Value: {pattern}. The "
                "regular expression is too costly to evaluate.") from None
    return matches
