"""Volume type lookups shared by cinder-api and the create flow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from stackling import exception
from stackling.db.models_volume import QosSpecs, VolumeType
from stackling.volume import errors

if TYPE_CHECKING:
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


def default_type(cloud: Cloud, s: Session) -> VolumeType:
    name = cloud.config.cinder.default_volume_type
    row = s.scalar(select(VolumeType).where(or_(VolumeType.name == name,
                                                VolumeType.id == name)))
    if row is None:
        raise exception.StacklingError(f"Default volume type {name} not found.")
    return row


def type_dict(row: VolumeType | None) -> dict | None:
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "extra_specs": dict(row.extra_specs or {}),
            "is_public": row.is_public, "description": row.description}


def front_end_qos(s: Session, vtype: VolumeType | None) -> dict | None:
    """What an attachment's connection info carries as ``qos_specs``: the type's QoS specs
    when their consumer is ``front-end`` or ``both`` (Cinder's _parse_connection_options)."""
    row = s.get(QosSpecs, vtype.qos_specs_id) if vtype is not None and vtype.qos_specs_id \
        else None
    if row is None or row.consumer not in ("front-end", "both"):
        return None
    return dict(row.specs or {})
