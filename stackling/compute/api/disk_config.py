"""``OS-DCF:diskConfig``: AUTO (the root partition grows to fill the disk) or MANUAL.

Nova keeps it as ``instance.auto_disk_config``; stackling keeps it with the instance's
other private request-spec keys (``scheduler_hints['_auto_disk_config']``). Create and
rebuild take the request's value, else the image's ``auto_disk_config`` property (an image
that says ``disabled`` refuses AUTO); update changes it when asked; resize sets what it
asks, MANUAL when it asks nothing (nova/compute/api.py ``resize``).
"""

from __future__ import annotations

from typing import Any

from stackling import exception

API_KEY = "OS-DCF:diskConfig"
HINT = "_auto_disk_config"
_TRUE = ("1", "t", "true", "on", "y", "yes")     # oslo strutils.bool_from_string


def from_api(section: str, data: dict) -> bool | None:
    """The request's value (``parameter_types.disk_config``); None when absent."""
    if API_KEY not in data:
        return None
    value = data[API_KEY]
    if value not in ("AUTO", "MANUAL"):
        raise exception.ValidationError(field=f"{section}/{API_KEY}", value=value,
                                        detail=f"{value!r} is not one of ['AUTO', 'MANUAL']")
    return value == "AUTO"


def inherit(image_id: str | None, image_setting: Any, requested: bool | None) -> bool:
    """``_inherit_properties_from_image``: the request wins unless the image disables
    AUTO; with no request, the image's property read as a boolean."""
    raw = None if image_setting is None else str(image_setting).strip().lower()
    if requested and raw == "disabled":
        raise exception.BadRequest(f"Requested image {image_id} has automatic disk resize "
                                   "disabled.")
    if requested is None:
        return raw in _TRUE
    return requested


def with_setting(hints: dict | None, auto: bool) -> dict:
    """A new hints dict (a JSON column is only saved when reassigned)."""
    return {**(hints or {}), HINT: auto}


def view(hints: dict | None) -> str:
    return "AUTO" if (hints or {}).get(HINT) else "MANUAL"
