"""The JSON-schema validation Nova and Cinder share (their api/validation/validators.py).

Draft 4; the first error becomes a 400 whose message is ``Invalid input for
field/attribute <last path item>. Value: <value>. <message>``, or the bare jsonschema
message for an error at the top level.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from stackling import exception


def validate(schema: dict, body: Any,
             format_checker: jsonschema.FormatChecker | None = None) -> None:
    validator = jsonschema.Draft4Validator(schema, format_checker=format_checker)
    for err in validator.iter_errors(body):
        if len(err.path) > 0:
            detail = (f"Invalid input for field/attribute {err.path.pop()}. "
                      f"Value: {err.instance}. {err.message}")
        else:
            detail = err.message
        raise exception.BadRequest(detail)


def action_schema(name: str, inner: dict | None = None) -> dict:
    """``{"<name>": <inner>}`` and nothing else (the services' per-action schemas)."""
    return {"type": "object", "properties": {name: inner or {}}, "required": [name],
            "additionalProperties": False}
