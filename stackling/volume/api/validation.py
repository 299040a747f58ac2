"""Cinder's schema helpers; validation itself is the one shared mechanism (web.validation)."""

from __future__ import annotations

from typing import Any

from stackling.web import validation

UUID = validation.UUID
UUID_OR_NULL = {"oneOf": [UUID, {"type": "null"}]}


def validate(schema: dict, body: Any) -> None:
    validation.validate("volume", body, schema)


def action_schema(name: str, inner: dict | None = None) -> dict:
    """``{"<name>": <inner>}`` and nothing else (Cinder's per-action schemas)."""
    return {"type": "object", "properties": {name: inner or {}}, "required": [name],
            "additionalProperties": False}
