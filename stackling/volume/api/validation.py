"""Cinder's JSON-schema validation (cinder/api/validation/validators.py): the shared
validator of stackling.web.validation plus Cinder's ``uuid`` format."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema

from stackling.web import validation as web_validation

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
    web_validation.validate(schema, body, _FORMATS)


action_schema = web_validation.action_schema
