"""Cinder quotas: limits (per project, else cinder.conf defaults), usages and reservations.

``reserve`` checks and books deltas as ``reserved``; ``commit`` moves them into
``in_use``; ``rollback`` gives them back. Per-type resources are named
``volumes_<type>``, ``gigabytes_<type>`` and ``snapshots_<type>`` (unlimited by default).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from stackling.db.models_volume import Quota, QuotaUsage, Reservation, VolumeType
from stackling.volume import errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

BASE_RESOURCES = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
                  "groups", "per_volume_gigabytes")
# Quota classes (Cinder's quota_classes table) are kept as quota rows under this prefix;
# the ``default`` class overrides the configured defaults (use_default_quota_class=True).
CLASS_PREFIX = "quota_class:"
DEFAULT_CLASS = "default"


def defaults(cloud: Cloud, s: Session) -> dict[str, int]:
    c = cloud.config.cinder
    out = {"volumes": c.quota_volumes, "snapshots": c.quota_snapshots,
           "gigabytes": c.quota_gigabytes, "backups": c.quota_backups,
           "backup_gigabytes": c.quota_backup_gigabytes, "groups": 10,
           "per_volume_gigabytes": c.per_volume_size_limit}
    for name in s.scalars(select(VolumeType.name)):
        for res in ("volumes", "gigabytes", "snapshots"):
            out[f"{res}_{name}"] = -1
    out.update({k: v for k, v in class_values(s, DEFAULT_CLASS).items() if k in out})
    return out


def class_values(s: Session, quota_class: str) -> dict[str, int]:
    return {row.resource: row.hard_limit for row in s.scalars(
        select(Quota).where(Quota.project_id == CLASS_PREFIX + quota_class))}


def class_limits(cloud: Cloud, s: Session, quota_class: str) -> dict[str, int]:
    """``get_class_quotas``: the class's values, else the defaults, for every resource."""
    out = defaults(cloud, s)
    out.update({k: v for k, v in class_values(s, quota_class).items() if k in out})
    return out


def limits(cloud: Cloud, s: Session, project_id: str) -> dict[str, int]:
    out = defaults(cloud, s)
    for row in s.scalars(select(Quota).where(Quota.project_id == project_id)):
        out[row.resource] = row.hard_limit
    return out


def usages(s: Session, project_id: str) -> dict[str, QuotaUsage]:
    return {u.resource: u for u in s.scalars(
        select(QuotaUsage).where(QuotaUsage.project_id == project_id))}


def volume_deltas(size: int, type_name: str | None, count: int = 1) -> dict[str, int]:
    deltas = {"volumes": count, "gigabytes": size * count}
    if type_name:
        deltas[f"volumes_{type_name}"] = count
        deltas[f"gigabytes_{type_name}"] = size * count
    return deltas


def snapshot_deltas(size: int, type_name: str | None, count: int = 1) -> dict[str, int]:
    deltas = {"snapshots": count, "gigabytes": size * count}
    if type_name:
        deltas[f"snapshots_{type_name}"] = count
        deltas[f"gigabytes_{type_name}"] = size * count
    return deltas


def check_per_volume(cloud: Cloud, project_id: str, size: int) -> None:
    with cloud.db.reader() as s:
        limit = limits(cloud, s, project_id).get("per_volume_gigabytes", -1)
    if limit >= 0 and size > limit:
        raise errors.VolumeSizeExceedsLimit(size=size, limit=limit)


def _raise_over(over: list[str], deltas: dict[str, int], lim: dict[str, int],
                use: dict[str, QuotaUsage]) -> None:
    """cinder/quota_utils.py process_reserve_over_quota: the first matching text wins."""
    for res in over:
        u = use.get(res)
        consumed = (u.in_use + u.reserved) if u else 0
        if "gigabytes" in res:
            raise errors.VolumeSizeExceedsAvailableQuota(
                name=res, requested=deltas[res], quota=lim[res], consumed=consumed)
        if res.startswith("volumes"):
            raise errors.VolumeLimitExceeded(allowed=lim[res], name=res)
        if res.startswith("snapshots"):
            raise errors.SnapshotLimitExceeded(allowed=lim[res])
    raise errors.OverQuota(overs=sorted(over))


def reserve(cloud: Cloud, project_id: str, deltas: dict[str, int]) -> list[str]:
    """Book ``deltas``; raise the Cinder quota error when a positive delta goes over."""
    rid = str(uuid.uuid4())
    with cloud.db.writer() as s:
        lim = limits(cloud, s, project_id)
        use = usages(s, project_id)
        over = []
        for res, delta in deltas.items():
            hard = lim.get(res, -1)
            u = use.get(res)
            current = (u.in_use + u.reserved) if u else 0
            if delta > 0 and hard >= 0 and current + delta > hard:
                over.append(res)
        if over:
            _raise_over(over, deltas, lim, use)
        for res, delta in deltas.items():
            u = use.get(res)
            if u is None:
                u = QuotaUsage(project_id=project_id, resource=res, in_use=0, reserved=0)
                s.add(u)
            if delta > 0:
                u.reserved += delta
            s.add(Reservation(uuid=rid, project_id=project_id, resource=res, delta=delta))
    return [rid]


def _finish(cloud: Cloud, reservations: list[str], commit: bool) -> None:
    with cloud.db.writer() as s:
        rows = s.scalars(select(Reservation).where(Reservation.uuid.in_(reservations))).all()
        for r in rows:
            u = s.scalar(select(QuotaUsage).where(QuotaUsage.project_id == r.project_id,
                                                  QuotaUsage.resource == r.resource))
            if u is None:
                continue
            if r.delta > 0:
                u.reserved = max(u.reserved - r.delta, 0)
            if commit:
                u.in_use = max(u.in_use + r.delta, 0)
        s.execute(delete(Reservation).where(Reservation.uuid.in_(reservations)))


def commit(cloud: Cloud, reservations: list[str]) -> None:
    _finish(cloud, reservations, commit=True)


def rollback(cloud: Cloud, reservations: list[str]) -> None:
    _finish(cloud, reservations, commit=False)


def pending(cloud: Cloud, reservations: list[str]) -> bool:
    """True while the reservations are neither committed nor rolled back."""
    with cloud.db.reader() as s:
        return s.scalar(select(Reservation.id).where(
            Reservation.uuid.in_(reservations)).limit(1)) is not None


def release(cloud: Cloud, project_id: str, deltas: dict[str, int]) -> None:
    """Give usage back (delete, failed create after commit): a negative committed booking."""
    commit(cloud, reserve(cloud, project_id, {k: -v for k, v in deltas.items()}))
