"""Cinder's JSON-schema validation (cinder/api/validation/validators.py) with its texts.

Draft 4 plus a ``uuid`` format; the first error becomes a 400 whose message is
``Invalid input for field/attribute <last path item>. Value: <value>. <message>``, or the
bare jsonschema message for an error at the top level.
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema

from stackling import exception

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("uuid")
def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


UUID = {"type": "string", "format": "uuid"}
UUID_OR_NULL = {"oneOf": [UUID, {"type": "null"}]}


def validate(schema: dict, body: Any) -> None:
    validator = jsonschema.Draft4Validator(schema, format_checker=_FORMATS)
    for err in validator.iter_errors(body):
        if len(err.path) > 0:
            detail = (f"Invalid input for field/attribute {err.path.pop()}. "
                      f"Value: {err.instance}. {err.message}")
        else:
            detail = err.message
        raise exception.BadRequest(detail)


def action_schema(name: str, inner: dict | None = None) -> dict:
    """``{"<name>": <inner>}`` and nothing else (Cinder's per-action schemas)."""
    return {"type": "object", "properties": {name: inner or {}}, "required": [name],
            "additionalProperties": False}
