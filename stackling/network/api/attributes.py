"""Neutron's resource attribute maps: what may be posted, put, filtered and sorted, with
neutron-lib's converters and validators (``neutron_lib/api/attributes.py``,
``validators``, ``converters``) and their exact texts.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackling.network import errors

REQUIRED = object()   # no default: the attribute must be in a POST
UNSET = object()      # no default and not required (left out of the parsed body)


@dataclass
class Attr:
    post: bool = True
    put: bool = False
    default: Any = UNSET
    convert: Callable[[Any], Any] | None = None
    validate: Callable[[Any], str | None] | None = None
    filter: bool = True
    sort: bool = True
    admin_set: bool = False      # setting it (to a non-default value on POST) needs admin
    admin_read: bool = False     # only admins (and services) see it


# -- converters (a converter may raise its own error, as Neutron's do) ---------------------


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes", "y", "on"):
        return True
    if text in ("false", "0", "f", "no", "n", "off"):
        return False
    raise errors.invalid_input(f"'{value}' cannot be converted to boolean")


def to_bool_or_none(value: Any) -> bool | None:
    return None if value is None else to_bool(value)


def to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.invalid_input(f"'{value}' is not an integer") from None


def to_int_or_none(value: Any) -> int | None:
    return None if value is None else to_int(value)


def none_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def to_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def to_lower_mac(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def to_cidr(value: Any) -> Any:
    """``convert_cidr_to_canonical_format``: host bits kept here, masked by the subnet code."""
    if not isinstance(value, str):
        return value
    try:
        if "/" not in value:
            return str(ipaddress.ip_interface(value))
        iface = ipaddress.ip_interface(value)
        return f"{iface.ip}/{iface.network.prefixlen}"
    except ValueError:
        raise errors.invalid_input(f"{value} is not in a CIDR format") from None


# -- validators: return the reason, or None ------------------------------------------------


def string(max_len: int | None = 255) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"'{value}' is not a valid string"
        if max_len is not None and len(value) > max_len:
            return f"'{value}' exceeds maximum length of {max_len}"
        return None
    return check


def string_or_none(max_len: int = 255) -> Callable[[Any], str | None]:
    inner = string(max_len)
    return lambda v: None if v is None else inner(v)


def is_uuid(value: Any) -> str | None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return f"'{value}' is not a valid UUID"
    return None if isinstance(value, str) else f"'{value}' is not a valid UUID"


def uuid_or_none(value: Any) -> str | None:
    return None if value is None else is_uuid(value)


def ip_address(value: Any) -> str | None:
    try:
        # Neutron refuses leading zeros and partial forms, as ipaddress does.
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return f"'{value}' is not a valid IP address"
    return None


def ip_or_none(value: Any) -> str | None:
    return None if value is None else ip_address(value)


def subnet_cidr(value: Any) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except (ValueError, TypeError):
        return f"'{value}' is not a valid IP subnet"
    return None


def subnet_or_none(value: Any) -> str | None:
    return None if value is None else subnet_cidr(value)


def values(*allowed: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value not in allowed:
            return f"'{value}' is not in {list(allowed)}"
        return None
    return check


def int_range(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            return f"'{value}' is not an integer"
        if not lo <= value <= hi:
            return f"'{value}' is not in range {lo} through {hi}"
        return None
    return check


_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$")


def mac_address(value: Any) -> str | None:
    if not isinstance(value, str) or not _MAC.match(value.lower()) \
            or value.lower() in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
        return f"'{value}' is not a valid MAC address"
    return None


def list_of(item: Callable[[Any], str | None] | None = None, unique: bool = True
            ) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"'{value}' is not a list"
        if unique and len({repr(v) for v in value}) != len(value):
            return f"Duplicate items in the list: '{', '.join(map(str, value))}'"
        for v in value:
            if item is not None and (reason := item(v)):
                return reason
        return None
    return check


def list_of_dicts(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return f"Invalid data format for {value}"
    return None


def dict_or_empty(value: Any) -> str | None:
    if value is not None and not isinstance(value, dict):
        return f"'{value}' is not a dictionary"
    return None


def az_hints(value: Any) -> str | None:
    import json

    reason = list_of(string(255))(value)
    if reason:
        return reason
    if len(json.dumps(value)) > 255:
        return "Too many availability_zone_hints specified"
    return None


# -- the attributes every standard resource has ---------------------------------------------

NAME = Attr(post=True, put=True, default="", validate=string(255))
DESCRIPTION = Attr(post=True, put=True, default="", validate=string(255))
PROJECT = Attr(post=True, put=False, validate=string(255))
ID = Attr(post=False, validate=is_uuid)
TAGS = Attr(post=True, put=False, validate=list_of(string(255)), filter=False, sort=False)
READ_ONLY = Attr(post=False, put=False)


def standard(**extra: Attr) -> dict[str, Attr]:
    base = {"id": ID, "name": NAME, "description": DESCRIPTION, "project_id": PROJECT,
            "tenant_id": PROJECT, "tags": TAGS, "created_at": READ_ONLY,
            "updated_at": READ_ONLY, "revision_number": READ_ONLY}
    base.update(extra)
    return base
