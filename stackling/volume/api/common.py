"""What every Cinder handler shares: policy rules, the per-cloud API state, backends, lookups."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Snapshot, Volume, VolumeType
from stackling.volume import errors, zones
from stackling.volume.objects import backends
from stackling.volume.objects import volume as vol_obj
from stackling.web.app import read_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud
    from stackling.web.app import Request

ADMIN = policy.ADMIN
OWNER_MEMBER = "role:admin or (role:member and owner)"
OWNER_READER = "role:admin or (role:reader and owner)"
policy.register({
    "volume:create": OWNER_MEMBER, "volume:create_from_image": OWNER_MEMBER,
    "volume:get": OWNER_READER, "volume:get_all": OWNER_READER,
    "volume:update": OWNER_MEMBER, "volume:delete": OWNER_MEMBER,
    "volume:force_delete": ADMIN, "volume:extend": OWNER_MEMBER,
    "volume_extension:volume_admin_actions:reset_status": ADMIN,
    "volume_extension:volume_actions:upload_image": OWNER_MEMBER,
    "volume:update_volume_metadata": OWNER_MEMBER,
    "volume:create_snapshot": OWNER_MEMBER, "volume:get_snapshot": OWNER_READER,
    "volume:get_all_snapshots": OWNER_READER, "volume:update_snapshot": OWNER_MEMBER,
    "volume:delete_snapshot": OWNER_MEMBER,
    "volume_extension:snapshot_admin_actions:reset_status": ADMIN,
    "volume_extension:types_manage": ADMIN,
    "volume_extension:volume_type_encryption": ADMIN,
    "volume_extension:types_extra_specs:create": ADMIN,
    "volume_extension:types_extra_specs:index": policy.ANY,
    "volume_extension:type_get": policy.ANY, "volume_extension:type_get_all": policy.ANY,
    "volume_extension:services:index": ADMIN, "volume_extension:services:update": ADMIN,
    "volume_extension:quotas:show": OWNER_READER, "volume_extension:quotas:update": ADMIN,
    "volume_extension:quotas:delete": ADMIN, "limits_extension:used_limits": OWNER_READER,
    "message:get": OWNER_READER, "message:get_all": OWNER_READER,
    "message:delete": OWNER_MEMBER, "volume:get_all_admin": ADMIN,
})

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")


def authorize(req: Request, action: str, target: dict | None = None) -> None:
    policy.authorize(req.context, action, target)


def entity_body(req: Request, key: str) -> dict:
    """The ``key`` object of the body (``{"volume_type": {...}}``), or Cinder's 400."""
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.ValidationError(field=key, value=None,
                                        detail=f"'{key}' is a required property")
    return body[key]


def require_version(req: Request, version: str) -> None:
    """Below its microversion the method does not exist (Cinder: plain 404)."""
    if req.version is None or not req.version.matches(version):
        raise exception.NotFound("The resource could not be found.")


# -- backends --------------------------------------------------------------------------



class VolumeApiState:
    """What one cinder-api process keeps in memory: the create path's zone cache and its
    idle TaskFlow engines (flows/create_volume.py run)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.create_engines: list = []
        conf = cloud.config.cinder
        self.zone_cache = zones.ZoneCache(lambda: backends.list_availability_zones(cloud),
                                          conf.az_cache_duration)

    def zone_options(self) -> zones.ZoneOptions:
        c = self.cloud.config.cinder
        return zones.ZoneOptions(
            storage_availability_zone=c.storage_availability_zone,
            default_availability_zone=c.default_availability_zone,
            allow_availability_zone_fallback=c.allow_availability_zone_fallback,
            cloned_volume_same_az=c.cloned_volume_same_az,
            release=self.cloud.config.stackling.stackling.behaviour_release)

    def valid_zones(self, refresh: bool = False) -> set[str]:
        return self.zone_cache.names(refresh) | {
            self.cloud.config.cinder.storage_availability_zone}


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state(cloud: Cloud) -> VolumeApiState:
    """This process's cinder-api state (kept here, not on the shared Cloud)."""
    st = _STATES.get(cloud)
    if st is None:
        st = _STATES[cloud] = VolumeApiState(cloud)
    return st


# -- lookups ---------------------------------------------------------------------------


def get_volume(s: Session, req: Request, volume_id: str) -> Volume:
    """The volume, its type read with it in one SELECT (kept in ``s.info`` for
    :func:`volume_type_of`: the session's identity map holds rows weakly)."""
    found = s.execute(select(Volume, VolumeType)
                      .outerjoin(VolumeType, VolumeType.id == Volume.volume_type_id)
                      .where(Volume.id == volume_id)).first()
    row = found[0] if found else None
    if found and found[1] is not None:
        s.info.setdefault("volume_types", {})[found[1].id] = found[1]
    visible(req, row.project_id if row is not None else None, volume_id)
    return row


def read_volume(s: Session, req: Request, volume_id: str) -> Row:
    """:func:`get_volume` where nothing is changed through the row: a read-only Core row
    (the model's attribute names, plus ``type_name``), a third of an ORM entity's cost."""
    row = vol_obj.read_with_type_name(s, volume_id)
    visible(req, row.project_id if row is not None else None, volume_id)
    return row


def visible(req: Request, project_id: str | None, volume_id: str) -> None:
    """Cinder's 404 unless the volume exists (``project_id``, None when it does not) and
    the caller may see it."""
    ctx = req.context
    if project_id is None or (not ctx.is_admin and project_id != ctx.project_id):
        raise errors.VolumeNotFound(volume_id=volume_id)


def volume_type_of(s: Session, row: Volume) -> VolumeType | None:
    """The volume's type: the one :func:`get_volume` read with it, else a lookup."""
    if not row.volume_type_id:
        return None
    known = s.info.get("volume_types", {}).get(row.volume_type_id)
    return known if known is not None else s.get(VolumeType, row.volume_type_id)


def get_snapshot(s: Session, req: Request, snapshot_id: str) -> Snapshot:
    row = s.get(Snapshot, snapshot_id)
    ctx = req.context
    if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
        raise errors.SnapshotNotFound(snapshot_id=snapshot_id)
    return row


