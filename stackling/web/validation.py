"""Request-body and query validation with JSON Schema, rendered as each service's own 400.

One mechanism for every API: a handler is decorated with ``@schema(BODY)`` (optionally for
a microversion range, stacked as Nova's ``@validation.schema``), and ``@query_schema(Q)``
for query strings. Validation uses the ``jsonschema`` library with the Draft 4 rules the
real services use; the messages are theirs:

- Nova and Cinder (``nova/api/validation/validators.py``): ``Invalid input for
  field/attribute <last path item>. Value: <value>. <message>``, or the bare message at
  the top level; queries: ``Invalid input for query parameters <name>. Value: ...``.
- Keystone (``keystone/common/validation/validators.py``): ``Invalid input for field
  '<a/b>': <the full jsonschema error text>``, or the full text at the top level.
- Glance (``glance/api/v2/images.py``): ``Provided object does not match schema
  '<name>': <message>``.
"""

from __future__ import annotations

import functools
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import jsonschema

from stackling import exception
from stackling.web.app import read_json

# Integers the databases can hold (Nova's db.MAX_INT is a signed 32-bit integer; sizes
# and counts beyond a signed 64-bit integer are refused everywhere).
MAX_INT = 0x7FFFFFFF
MAX_BIGINT = 2 ** 63 - 1


# -- the building blocks the real schemas share (nova/api/validation/parameter_types.py,
# -- cinder/api/validation/parameter_types.py, keystone/common/validation/parameter_types.py)


def integer(minimum: int | None = 0, maximum: int = MAX_INT, strings: bool = True) -> dict:
    """An integer, or (Nova's ``positive_integer`` style) a string of digits."""
    out: dict[str, Any] = {"type": ["integer", "string"] if strings else "integer",
                           "maximum": maximum}
    if strings:
        out["pattern"] = "^-?[0-9]+$" if minimum is None or minimum < 0 else "^[0-9]+$"
    if minimum is not None:
        out["minimum"] = minimum
    return out


def string(max_length: int = 255, min_length: int = 0, nullable: bool = False) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "minLength": min_length,
            "maxLength": max_length}


BOOLEAN = {"type": ["boolean", "string"],
           "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes",
                    "yes", "y", "t", False, "False", "FALSE", "false", "0", "OFF", "Off",
                    "off", "NO", "No", "no", "n", "f"]}
STRICT_BOOLEAN = {"type": "boolean"}
UUID = {"type": "string", "format": "uuid"}
ID = {"type": "string", "minLength": 1, "maxLength": 255}
METADATA = {"type": "object", "patternProperties": {
    "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}
# Cinder's metadata allows any key of 1..255 characters.
METADATA_ANY_KEY = {"type": ["object", "null"], "patternProperties": {
    "^.{1,255}$": {"type": "string", "maxLength": 255}}, "additionalProperties": False}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
NAME = {"type": "string", "minLength": 1, "maxLength": 255}


def obj(properties: dict, required: tuple[str, ...] = (), additional: bool = False,
        **extra: Any) -> dict:
    out: dict[str, Any] = {"type": "object", "properties": properties,
                           "additionalProperties": additional, **extra}
    if required:
        out["required"] = list(required)
    return out


def wrap(key: str, inner: dict) -> dict:
    """A body with one top-level object ``{key: {...}}`` (most create/update bodies)."""
    return obj({key: inner}, (key,))


# -- validation -------------------------------------------------------------------------

_CHECKER = jsonschema.FormatChecker()


@_CHECKER.checks("uuid")
def _is_uuid(value: Any) -> bool:
    """oslo's is_uuid_like, as Nova and Cinder check it: dashes optional."""
    if not isinstance(value, str):
        return True
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


def _number(instance: Any) -> Any:
    """Nova and Cinder range-check numbers given as strings too (``"10"``)."""
    if isinstance(instance, str):
        for kind in (int, float):
            try:
                return kind(instance)
            except ValueError:
                pass
        return None
    return instance


def _ranged(base, keyword: str):
    check_ = base.VALIDATORS[keyword]

    def validate(validator, bound, instance, schema_):
        number = _number(instance)
        if number is not None:
            yield from check_(validator, bound, number, schema_) or ()
    return validate


def _string_numbers(base):
    return jsonschema.validators.extend(base, {"minimum": _ranged(base, "minimum"),
                                               "maximum": _ranged(base, "maximum")})


# Nova validates with Draft 2020-12, Cinder, Keystone and Glance with Draft 4.
_CLASSES = {"compute": _string_numbers(jsonschema.Draft202012Validator),
            "volume": _string_numbers(jsonschema.Draft4Validator),
            "identity": jsonschema.Draft4Validator, "image": jsonschema.Draft4Validator}
_VALIDATORS: dict[tuple[int, str], Any] = {}


def _validator(body_schema: dict, service: str):
    key = (id(body_schema), service)
    v = _VALIDATORS.get(key)
    if v is None:
        v = _VALIDATORS[key] = _CLASSES[service](body_schema, format_checker=_CHECKER)
    return v


def _message(style: str, ex: jsonschema.ValidationError, name: str, query: bool) -> str:
    if style == "keystone":
        if ex.path:
            return f"Invalid input for field '{'/'.join(map(str, ex.path))}': {ex}"
        return str(ex)
    if style == "glance":
        return f"Provided object does not match schema '{name}': {ex.message}"
    if not ex.path:
        return ex.message
    if query:
        return (f"Invalid input for query parameters {ex.path[0]}. Value: {ex.instance}. "
                f"{ex.message}")
    return f"Invalid input for field/attribute {ex.path[-1]}. Value: {ex.instance}. " \
           f"{ex.message}"


_STYLE = {"compute": "compute", "volume": "compute", "identity": "keystone",
          "image": "glance"}


def check(req, instance: Any, body_schema: dict, name: str = "", query: bool = False
          ) -> None:
    """Validate ``instance``; raise the 400 of the request's service."""
    validate(req.app.info.name, instance, body_schema, name, query)


def validate(service: str, instance: Any, body_schema: dict, name: str = "",
             query: bool = False) -> None:
    """Validate ``instance`` as ``service`` (compute, volume, identity, image) does."""
    try:
        _validator(body_schema, service).validate(instance)
    except jsonschema.ValidationError as ex:
        raise exception.BadRequest(_message(_STYLE[service], ex, name, query)) from None
    except RecursionError:
        raise exception.BadRequest("Malformed request body") from None
    except TypeError as ex:
        # Nova: a non-string key checked by patternProperties.
        raise exception.BadRequest(str(ex)) from None


def _in_range(req, min_version: str | None, max_version: str | None) -> bool:
    if min_version is None and max_version is None:
        return True
    version = getattr(req, "version", None)
    return version is None or version.matches(min_version, max_version)


def schema(body_schema: dict, min_version: str | None = None,
           max_version: str | None = None, name: str = "") -> Callable:
    """Validate the JSON body before the handler runs (for a microversion range)."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(req, *args: Any, **kwargs: Any):
            if _in_range(req, min_version, max_version):
                check(req, read_json(req), body_schema, name)
            return handler(req, *args, **kwargs)
        return wrapper
    return decorate


def query_schema(schema_: dict, min_version: str | None = None,
                 max_version: str | None = None) -> Callable:
    """Validate query parameters (each one's last value) before the handler runs."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(req, *args: Any, **kwargs: Any):
            if _in_range(req, min_version, max_version):
                params = {k: req.GET.getall(k)[-1] for k in req.GET}
                check(req, params, schema_, query=True)
            return handler(req, *args, **kwargs)
        return wrapper
    return decorate


def action_schemas(by_action: dict[str, dict]) -> Callable:
    """``POST .../action``: validate the body with the schema of the action it names."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(req, *args: Any, **kwargs: Any):
            body = read_json(req)
            if isinstance(body, dict):
                for name in body:
                    if name in by_action:
                        check(req, body, by_action[name])
                        break
            return handler(req, *args, **kwargs)
        return wrapper
    return decorate


def register_format(name: str) -> Callable:
    """A named format check; it returns a bool or raises the service's own 400."""
    return _CHECKER.checks(name)
