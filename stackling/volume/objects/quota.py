"""Cinder quotas: limits (per project, else cinder.conf defaults), usages and reservations.

``reserve`` checks and books deltas as ``reserved``; ``commit`` moves them into
``in_use``; ``rollback`` gives them back. Each is one transaction that locks the usage
rows it changes (SELECT ... FOR UPDATE; SQLite has one writer) and changes them with
``SET x = x + :d``, retried on deadlock, so concurrent requests on any engine add up. Per-type resources are named
``volumes_<type>``, ``gigabytes_<type>`` and ``snapshots_<type>`` (unlimited by default).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, case, delete, select, update

from stackling.db.api import core, retry_on_deadlock
from stackling.db.models import utcnow
from stackling.db.models_volume import (Group, Quota, QuotaUsage, Reservation, Snapshot, Volume,
                                        VolumeType)
from stackling.volume import errors
from stackling.volume.objects import InList

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

BASE_RESOURCES = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
                  "groups", "per_volume_gigabytes")
# Quota classes (Cinder's quota_classes table) are kept as quota rows under this prefix;
# the ``default`` class overrides the configured defaults (use_default_quota_class=True).
CLASS_PREFIX = "quota_class:"
DEFAULT_CLASS = "default"


PER_TYPE = ("volumes", "gigabytes", "snapshots")
_QUOTA = Quota.__table__
_USAGE = QuotaUsage.__table__
_TYPE = VolumeType.__table__


def _configured(cloud: Cloud) -> dict[str, int]:
    """The cinder.conf defaults of the base resources."""
    c = cloud.config.cinder
    return {"volumes": c.quota_volumes, "snapshots": c.quota_snapshots,
            "gigabytes": c.quota_gigabytes, "backups": c.quota_backups,
            "backup_gigabytes": c.quota_backup_gigabytes, "groups": 10,
            "per_volume_gigabytes": c.per_volume_size_limit}


def defaults(cloud: Cloud, s: Session) -> dict[str, int]:
    out = _configured(cloud)
    for name in s.scalars(select(VolumeType.name)):
        for res in PER_TYPE:
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


# Core statements, built once, for the quota checks of every create (read-only rows).
_LIMIT_ROWS = InList("resource", lambda marks: select(
    _QUOTA.c.project_id, _QUOTA.c.resource, _QUOTA.c.hard_limit).where(
    _QUOTA.c.project_id.in_([bindparam("klass"), bindparam("project")]),
    _QUOTA.c.resource.in_(marks)))
_TYPE_NAMED = select(_TYPE.c.id).where(_TYPE.c.name.in_(bindparam("names", expanding=True)))


def limits_of(cloud: Cloud, s: Session, project_id: str, resources) -> dict[str, int]:
    """What ``limits`` answers for ``resources`` (those it has no value for are left out,
    as unlimited), in one statement instead of three."""
    klass = CLASS_PREFIX + DEFAULT_CLASS
    stmt, params = _LIMIT_ROWS(sorted(resources))
    rows = s.execute(stmt, {"klass": klass, "project": project_id, **params}).all()
    own = {r.resource: r.hard_limit for r in rows if r.project_id == project_id}
    by_class = {r.resource: r.hard_limit for r in rows if r.project_id == klass}
    base = _configured(cloud)
    out = {}
    for res in resources:
        if res in own:
            out[res] = own[res]
        elif res in by_class and (res in base or _type_resource(s, res)):
            out[res] = by_class[res]   # the default class sets only resources that exist
        elif res in base:
            out[res] = base[res]
    return out


def _type_resource(s: Session, resource: str) -> bool:
    """Whether ``resource`` is the per-type resource of an existing volume type."""
    names = [resource[len(p) + 1:] for p in PER_TYPE if resource.startswith(p + "_")]
    return bool(names) and s.execute(_TYPE_NAMED, {"names": names}).first() is not None


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


def check_per_volume(cloud: Cloud, project_id: str, size: int, deltas=()) -> dict[str, int]:
    """Refuse a volume over per_volume_gigabytes. Answers the limits read, those of
    ``deltas`` too when given (one statement; for :func:`consume_in`, as Cinder's reserve
    reads the quotas before its transaction)."""
    with cloud.db.reader_connection() as s:
        lim = limits_of(cloud, s, project_id, ["per_volume_gigabytes", *deltas])
    limit = lim.get("per_volume_gigabytes", -1)
    if limit >= 0 and size > limit:
        raise errors.VolumeSizeExceedsLimit(size=size, limit=limit)
    return lim


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
        if res == "groups":
            raise errors.GroupLimitExceeded(allowed=lim[res])
    raise errors.OverQuota(overs=sorted(over))


_USAGE_NAMES = InList("resource", lambda marks: select(_USAGE.c.resource).where(
    _USAGE.c.project_id == bindparam("project_id"), _USAGE.c.resource.in_(marks)))
_LOCKED_USAGES = InList("resource", lambda marks: select(_USAGE).where(
    _USAGE.c.project_id == bindparam("project_id"), _USAGE.c.resource.in_(marks))
    .order_by(_USAGE.c.resource).with_for_update())


def ensure_usages(s: Session, project_id: str, resources) -> None:
    """Create the missing usage rows; a row another transaction inserts meanwhile is kept
    (insert-if-missing, never a duplicate-key error)."""
    # Only the missing ones: an upsert of rows that exist takes gap locks on MariaDB that
    # make concurrent reservations deadlock.
    stmt, params = _USAGE_NAMES(sorted(resources))
    have = set(s.scalars(stmt, {"project_id": project_id, **params}))
    rows = [{"project_id": project_id, "resource": r, "in_use": 0, "reserved": 0,
             "created_at": utcnow()} for r in sorted(set(resources) - have)]
    if not rows:
        return
    table = QuotaUsage.__table__
    dialect = core(s).dialect.name
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table).values(rows)
        stmt = stmt.on_duplicate_key_update(in_use=table.c.in_use)
    else:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(table).values(rows).on_conflict_do_nothing(
            index_elements=["project_id", "resource"])
    s.execute(stmt)


def locked_usages(s: Session, project_id: str, resources) -> dict[str, Row]:
    """The usage rows of ``resources`` (read-only rows), created if missing and locked
    (SELECT ... FOR UPDATE, in one order) until the transaction ends."""
    wanted = sorted(resources)
    stmt, params = _LOCKED_USAGES(wanted)
    params["project_id"] = project_id
    found = {u.resource: u for u in s.execute(stmt, params)}
    if len(found) < len(wanted):   # a first use: create the missing rows, lock again
        ensure_usages(s, project_id, resources)
        found = {u.resource: u for u in s.execute(stmt, params)}
    return found


def _clamped(column, delta):
    """``column + delta``, never below 0, computed by the database."""
    value = column + delta
    return case((value < 0, 0), else_=value)


# Built once: a statement built per call costs more than running it, and the ORM's
# session synchronisation would re-read the row (the caller reads none of it after).
_ADD = (update(QuotaUsage.__table__).where(QuotaUsage.__table__.c.id == bindparam("usage_id"))
        .values(reserved=_clamped(QuotaUsage.__table__.c.reserved, bindparam("reserved")),
                in_use=_clamped(QuotaUsage.__table__.c.in_use, bindparam("in_use")),
                updated_at=bindparam("now")))


def _change(usage: Row, reserved: int = 0, in_use: int = 0) -> dict:
    """One usage row's change, for :func:`_add`."""
    return {"usage_id": usage.id, "reserved": reserved, "in_use": in_use}


def _add(s: Session, changes: list[dict]) -> None:
    """Apply the usage ``changes`` (one statement, executed for each)."""
    if changes:
        now = utcnow()
        core(s).execute(_ADD, [{**c, "now": now} for c in changes])


def expiry(cloud: Cloud) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=cloud.config.cinder.reservation_expire)


@retry_on_deadlock
def reserve(cloud: Cloud, project_id: str, deltas: dict[str, int]) -> list[str]:
    """Book ``deltas``; raise the Cinder quota error when a positive delta goes over."""
    rid = str(uuid.uuid4())
    with cloud.db.writer() as s:
        use = _checked_usages(cloud, s, project_id, deltas)
        expire = expiry(cloud)
        _add(s, [_change(use[res], reserved=delta) for res, delta in deltas.items()
                 if delta > 0])
        for res, delta in deltas.items():
            s.add(Reservation(uuid=rid, project_id=project_id, resource=res, delta=delta,
                              expire=expire))
    return [rid]


def _checked_usages(cloud: Cloud, s: Session, project_id: str, deltas: dict[str, int],
                    lim: dict[str, int] | None = None) -> dict[str, Row]:
    """The locked usage rows of ``deltas``; the Cinder quota error when a positive delta
    goes over its limit (``lim``: the limits, read here when None)."""
    if lim is None:
        lim = limits_of(cloud, s, project_id, deltas)
    use = locked_usages(s, project_id, deltas)
    over = [res for res, delta in deltas.items()
            if delta > 0 and lim.get(res, -1) >= 0
            and use[res].in_use + use[res].reserved + delta > lim[res]]
    if over:
        _raise_over(over, deltas, lim, use)
    return use


def consume_in(cloud: Cloud, s: Session, project_id: str, deltas: dict[str, int],
               limits: dict[str, int] | None = None) -> None:
    """``reserve`` and ``commit`` at once, inside the transaction that writes what the
    quota pays for (a new volume's row): checked and booked as ``in_use`` under the same
    locks, with no reservation rows to commit or expire later. All or nothing.
    ``limits``: the deltas' limits if the caller read them (``check_per_volume``)."""
    use = _checked_usages(cloud, s, project_id, deltas, limits)
    _add(s, [_change(use[res], in_use=delta) for res, delta in deltas.items() if delta])


def _lock_usages_of(s: Session, rows: list[Reservation]) -> dict[tuple[str, str], Row]:
    """Lock the usage rows the reservations touch, project by project in one order."""
    by_project: dict[str, set[str]] = {}
    for r in rows:
        by_project.setdefault(r.project_id, set()).add(r.resource)
    return {(project_id, res): u for project_id, resources in sorted(by_project.items())
            for res, u in locked_usages(s, project_id, resources).items()}


def _locked_reservations(s: Session, *where) -> list[Reservation]:
    """The reservations matching ``where``, locked after their usage rows.

    Every quota transaction takes its locks in one order, usage rows then reservation
    rows (``reserve`` locks usages, then inserts reservations). Locking the reservations
    first made a commit wait for usages that a reserve held while the reserve waited for
    the commit's gap lock on the reservations' index: a deadlock on MariaDB that 16
    clients repeated past every retry. The plain read finds what to lock; the locking
    re-read then sees only the reservations that a concurrent commit or rollback of the
    same ones (which held the same usage locks) did not remove meanwhile."""
    seen = s.scalars(select(Reservation).where(*where)).all()
    if not seen:
        return []
    _lock_usages_of(s, list(seen))
    return list(s.scalars(select(Reservation).where(*where).order_by(Reservation.id)
                          .with_for_update().execution_options(populate_existing=True)))


def _finish_in(s: Session, rows: list[Reservation], commit: bool) -> None:
    """Apply (commit) or give back (rollback) reservations whose usage rows and reservation
    rows the transaction holds locked, and remove them."""
    use = _lock_usages_of(s, rows)
    _add(s, [_change(use[(r.project_id, r.resource)], reserved=-r.delta if r.delta > 0
                     else 0, in_use=r.delta if commit else 0) for r in rows])
    s.execute(delete(Reservation).where(Reservation.id.in_([r.id for r in rows])))


@retry_on_deadlock
def _finish(cloud: Cloud, reservations: list[str], commit: bool) -> None:
    with cloud.db.writer() as s:
        rows = _locked_reservations(s, Reservation.uuid.in_(reservations))
        if rows:
            _finish_in(s, rows, commit)


def commit(cloud: Cloud, reservations: list[str]) -> None:
    _finish(cloud, reservations, commit=True)


def rollback(cloud: Cloud, reservations: list[str]) -> None:
    _finish(cloud, reservations, commit=False)


def pending(cloud: Cloud, reservations: list[str]) -> bool:
    """True while the reservations are neither committed nor rolled back."""
    with cloud.db.reader() as s:
        return s.scalar(select(Reservation.id).where(
            Reservation.uuid.in_(reservations)).limit(1)) is not None


@retry_on_deadlock
def release(cloud: Cloud, project_id: str, deltas: dict[str, int]) -> None:
    """Give usage back (delete, failed create after commit): what a negative reservation
    committed at once does, in one transaction."""
    with cloud.db.writer() as s:
        release_in(s, project_id, deltas)


def release_in(s: Session, project_id: str, deltas: dict[str, int]) -> None:
    """``release`` inside the caller's transaction (with the row it goes with)."""
    use = locked_usages(s, project_id, deltas)
    _add(s, [_change(use[res], in_use=-delta) for res, delta in deltas.items()])


# -- start-up repair (cinder's reservation_expire and until_refresh, at once) ----------


def expire_reservations(cloud: Cloud, before: dt.datetime | None = None) -> int:
    """Roll back the reservations that expired (all of them when ``before`` is None: after
    a restart the requests that made them are gone); returns how many."""
    with cloud.db.writer() as s:
        rows = _locked_reservations(
            s, *(() if before is None else (Reservation.expire < before,)))
        for r in rows:
            LOG.warning("Expired quota reservation %s (%s %s %+d)", r.uuid, r.project_id,
                        r.resource, r.delta)
        if rows:
            _finish_in(s, rows, commit=False)
        return len(rows)


def counted_usage(s: Session) -> dict[tuple[str, str], int]:
    """What exists, counted as Cinder's quota sync functions count it:
    volumes/gigabytes/snapshots and their per-type keys, only rows that use quota."""
    types = dict(s.execute(select(VolumeType.id, VolumeType.name)).all())
    out: dict[tuple[str, str], int] = {}

    def add(project: str, deltas: dict[str, int]) -> None:
        for res, n in deltas.items():
            out[(project, res)] = out.get((project, res), 0) + n

    for project, size, type_id in s.execute(
            select(Volume.project_id, Volume.size, Volume.volume_type_id)
            .where(Volume.use_quota.is_(True))):
        add(project, volume_deltas(size, types.get(type_id)))
    for project, size, type_id in s.execute(
            select(Snapshot.project_id, Snapshot.volume_size, Snapshot.volume_type_id)
            .where(Snapshot.use_quota.is_(True))):
        add(project, snapshot_deltas(size, types.get(type_id)))
    for (project,) in s.execute(select(Group.project_id)):
        add(project, {"groups": 1})
    return out


def resync(cloud: Cloud) -> int:
    """Set every usage to what exists and ``reserved`` to the open reservations (Cinder's
    refresh when ``until_refresh``/``max_age`` trigger); returns the rows repaired."""
    fixed = 0
    with cloud.db.writer() as s:
        counted = counted_usage(s)
        booked: dict[tuple[str, str], int] = {}
        for r in s.scalars(select(Reservation).where(Reservation.delta > 0)):
            key = (r.project_id, r.resource)
            booked[key] = booked.get(key, 0) + r.delta
        projects: dict[str, set[str]] = {}
        for project, res in [*counted, *booked]:
            projects.setdefault(project, set()).add(res)
        for project, resources in projects.items():
            ensure_usages(s, project, resources)
        rows = s.scalars(select(QuotaUsage).order_by(QuotaUsage.id).with_for_update()).all()
        for u in rows:
            key = (u.project_id, u.resource)
            in_use, reserved = counted.get(key, 0), booked.get(key, 0)
            if (u.in_use, u.reserved) != (in_use, reserved):
                LOG.warning("Quota usage of %s %s resynced: in_use %d -> %d, reserved %d -> %d",
                            u.project_id, u.resource, u.in_use, in_use, u.reserved, reserved)
                u.in_use, u.reserved = in_use, reserved
                fixed += 1
    return fixed
