"""Volume type lookups shared by cinder-api and the create flow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, select

from stackling import exception
from stackling.db.models_volume import VolumeType
from stackling.volume import errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")

def type_visible(row: VolumeType, context) -> bool:
    """Admins see every type; others public ones and private ones shared with them."""
    return context.is_admin or row.is_public or \
        context.project_id in (row.projects or [])


def find_type(s: Session, ref: str, context=None) -> VolumeType:
    """A volume type by id or name (404 with Cinder's by-id or by-name text).

    With a ``context``, a private type not shared with its project is not found (Cinder's
    project-scoped type lookup)."""
    row = s.get(VolumeType, ref)
    if row is None:
        row = s.scalar(select(VolumeType).where(VolumeType.name == ref))
    if row is not None and context is not None and not type_visible(row, context):
        row = None
    if row is None:
        if UUID_RE.match(ref):
            raise errors.VolumeTypeNotFound(volume_type_id=ref)
        raise errors.VolumeTypeNotFoundByName(volume_type_name=ref)
    return row


_TYPE = VolumeType.__table__
# Built once, Core: every volume create without a type reads the default one.
_BY_NAME_OR_ID = select(_TYPE).where(or_(_TYPE.c.name == bindparam("ref"),
                                         _TYPE.c.id == bindparam("ref")))


def default_type(cloud: Cloud, s: Session) -> Row:
    """The default volume type, as a read-only row."""
    row = s.execute(_BY_NAME_OR_ID, {"ref": cloud.config.cinder.default_volume_type}).first()
    if row is None:
        raise exception.StacklingError(
            f"Default volume type {cloud.config.cinder.default_volume_type} not found.")
    return row


def type_dict(row: VolumeType | None) -> dict | None:
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "extra_specs": dict(row.extra_specs or {}),
            "is_public": row.is_public, "description": row.description}


def front_end_qos(consumer: str | None, specs: dict | None) -> dict | None:
    """What an attachment's connection info carries as ``qos_specs``: the type's QoS specs
    (their ``consumer`` and ``specs``, None without) when their consumer is ``front-end``
    or ``both`` (Cinder's _parse_connection_options)."""
    if consumer not in ("front-end", "both"):
        return None
    return dict(specs or {})
