"""A port's ``extra_dhcp_opts`` (the ``extra_dhcp_opt`` extension,
``neutron_lib/api/definitions/extra_dhcp_opt.py``, ``neutron/db/extradhcpopt_db.py``).

Each option is ``{"opt_name", "opt_value", "ip_version"}`` (4 unless given). On a PUT the
options sent are merged into the port's by (name, IP version): a null value removes one,
another value replaces it, a new name is added; the options not sent stay.
"""

from __future__ import annotations

from typing import Any

from stackling.network import errors

# Options that may be set to an empty string (``VALID_BLANK_EXTRA_DHCP_OPTS``).
BLANK_ALLOWED = ("router", "classless-static-route")
KEYS = {"opt_name", "opt_value", "ip_version"}


def _one_line(value: Any, max_len: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_len and "\n" not in value \
        and "\r" not in value


def _matches_a_spec(opt: Any) -> bool:
    """One of the two key specs: a blank-allowed name with any string, or a name and a
    non-empty one-line value (or null, which deletes on update)."""
    if not isinstance(opt, dict) or not {"opt_name", "opt_value"} <= set(opt) <= KEYS:
        return False
    if "ip_version" in opt and str(opt["ip_version"]) not in ("4", "6"):
        return False
    name, value = opt["opt_name"], opt["opt_value"]
    if name in BLANK_ALLOWED:
        return value is None or (isinstance(value, str) and len(value) <= 255)
    return _one_line(name, 64) and (value is None or _one_line(value, 255))


def validate(value: Any) -> str | None:
    """``type:list_of_any_key_specs_or_none``: a bad item is InvalidInput (a 400)."""
    if value is None:
        return None
    if not isinstance(value, list):
        return f"'{value}' is not a list"
    for opt in value:
        if not _matches_a_spec(opt):
            raise errors.invalid_input(f"No valid key specs matched for: {opt}")
    return None


def _kept(name: str, value: Any) -> bool:
    """``_is_valid_opt_value``: what may be stored (a null never is)."""
    return value is not None if name in BLANK_ALLOWED else bool(value)


def merge(current: list[dict], sent: list[dict] | None) -> list[dict]:
    """The port's options after a create (``current`` empty) or an update sending ``sent``."""
    out = [dict(o) for o in current]
    for opt in sent or []:
        name, value, version = opt["opt_name"], opt["opt_value"], int(opt.get("ip_version", 4))
        same = next((o for o in out if (o["opt_name"], o["ip_version"]) == (name, version)),
                    None)
        if same is not None and value is None:
            out.remove(same)
        elif same is not None and _kept(name, value):
            same["opt_value"] = value
        elif same is None and _kept(name, value):
            out.append({"opt_name": name, "opt_value": value, "ip_version": version})
    return out
