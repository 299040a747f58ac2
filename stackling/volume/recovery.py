"""Repair on start (cinder-volume's ``init_host``, the scheduler's and quota's share).

A process that stopped hard leaves rows half-way. Each backend repairs its own volumes
(``creating``/``downloading`` → ``error``, ``deleting`` finished, ``uploading`` back to
``available``/``in-use``, snapshots likewise, files without a row removed); volumes no backend took are the scheduler's; attachments
are reconciled with the servers that still exist; quota reservations are expired and
usage recounted from what exists. Every repaired row is logged.

NOTE: when one process runs every service, at start no request can still own a
reservation or a transitional state: all of them are stale (Cinder waits
``reservation_expire`` seconds because other API processes may still be working). A
process of ``--only`` repairs only what its services own (``recover_own``).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select

from stackling.db.models import utcnow
from stackling.db.models_compute import Instance
from stackling.db.models_volume import Snapshot, Volume, VolumeAttachment, VolumeType
from stackling.volume import manager
from stackling.volume.objects import attach_states, quota
from stackling.volume.objects import volume as vol_obj

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

ERROR, DELETE, RECONCILE, BY_ATTACHMENT = "error", "delete", "reconcile", "by_attachment"
TRANSIENT_ATTACH = ("reserved", "attaching", "detaching")
_FILE = re.compile(r"^\.?volume-([0-9a-f-]{36})(\..*\.part)?$")


# -- decisions (pure) ------------------------------------------------------------------


def volume_action(status: str) -> str | None:
    """What start-up does with a volume in ``status`` (cinder-volume ``init_host``)."""
    if status in ("creating", "downloading"):
        return ERROR
    if status == "deleting":
        return DELETE
    if status == "uploading":
        return BY_ATTACHMENT
    if status in TRANSIENT_ATTACH:
        return RECONCILE
    return None


def snapshot_action(status: str) -> str | None:
    if status == "creating":
        return ERROR
    if status == "deleting":
        return DELETE
    return None


def attachment_action(attach_status: str, instance_alive: bool) -> str | None:
    """An attachment of a server that is gone is deleted; one caught half-way is rolled
    back as its failure would have done (attaching → error_attaching, detaching →
    attached); ``reserved`` and settled ones stay."""
    if not instance_alive:
        return "delete"
    if attach_status == "attaching":
        return "error_attaching"
    if attach_status == "detaching":
        return "attached"
    return None


def orphan_files(names: list[str], volume_ids: set[str]) -> list[str]:
    """Files of the volumes folder that no volume row owns (and staged leftovers)."""
    out = []
    for name in names:
        m = _FILE.match(name)
        if m and (m.group(2) or m.group(1) not in volume_ids):
            out.append(name)
    return out


# -- per backend -----------------------------------------------------------------------


def _on_backends(names):
    """The volumes whose host is one of ``names`` (``host@backend``, with or without a pool)."""
    return or_(*(or_(Volume.host == n, Volume.host.like(f"{n}#%")) for n in names))


def init_host(cloud: Cloud, mgr: manager.VolumeManager) -> int:
    """One backend's repair; returns the number of rows and files repaired."""
    name = mgr.spec.name
    fixed = 0
    with cloud.db.reader() as s:
        rows = s.execute(select(Volume.id, Volume.status).where(_on_backends([name]))).all()
        snaps = s.execute(select(Snapshot.id, Snapshot.status).join(
            Volume, Volume.id == Snapshot.volume_id).where(_on_backends([name]))).all()
    for vid, status in rows:
        action = volume_action(status)
        if action == ERROR:
            if vol_obj.set_status(cloud, vid, status, status="error"):
                LOG.warning("Volume %s was %s when %s stopped: set to error", vid, status,
                            name)
                fixed += 1
        elif action == DELETE:
            LOG.warning("Volume %s was being deleted when %s stopped: deleting it", vid, name)
            mgr.delete_volume(vid)
            fixed += 1
        elif action == BY_ATTACHMENT:
            LOG.warning("Volume %s was uploading to an image when %s stopped: status set "
                        "from its attachments", vid, name)
            mgr.status_by_attachment(vid)
            fixed += 1
    for sid, status in snaps:
        action = snapshot_action(status)
        if action == ERROR:
            with cloud.db.writer() as s:
                snap = s.get(Snapshot, sid)
                if snap is not None and snap.status == status:
                    snap.status = "error"
            LOG.warning("Snapshot %s was creating when %s stopped: set to error", sid, name)
            fixed += 1
        elif action == DELETE:
            LOG.warning("Snapshot %s was being deleted when %s stopped: deleting it", sid,
                        name)
            mgr.delete_snapshot(sid)
            fixed += 1
    return fixed + remove_orphan_files(cloud, mgr)


def remove_orphan_files(cloud: Cloud, mgr: manager.VolumeManager) -> int:
    root = mgr.driver.files.root
    if not root.is_dir():
        return 0
    names = [p.name for p in root.iterdir() if p.is_file()]
    if not names:
        return 0
    with cloud.db.reader() as s:
        ids = set(s.scalars(select(Volume.id)))
    removed = orphan_files(names, ids)
    for n in removed:
        LOG.warning("Removed %s from %s: no volume owns it", n, root)
        (root / n).unlink(missing_ok=True)
    return len(removed)


# -- the scheduler's share: volumes no backend took ------------------------------------


def init_scheduler(cloud: Cloud) -> int:
    fixed = 0
    with cloud.db.reader() as s:
        rows = s.execute(select(Volume.id, Volume.status).where(Volume.host.is_(None))).all()
    for vid, status in rows:
        action = volume_action(status)
        if action == ERROR and vol_obj.set_status(cloud, vid, status, status="error"):
            LOG.warning("Volume %s was %s and not scheduled when the scheduler stopped: "
                        "set to error", vid, status)
            fixed += 1
        elif action == DELETE:
            delete_now(cloud, vid)
            fixed += 1
    return fixed


# -- what Nova's recovery asks of Cinder ------------------------------------------------


def detach_instance(cloud: Cloud, volume_id: str, instance_uuid: str) -> bool:
    """Drop every attachment of ``volume_id`` to ``instance_uuid`` (``attachment_delete``
    for each); the volume's status follows the attachments left."""
    with cloud.db.writer() as s:
        vol = s.get(Volume, volume_id)
        if vol is None:
            return False
        ids = list(s.scalars(select(VolumeAttachment.id).where(
            VolumeAttachment.volume_id == volume_id,
            VolumeAttachment.instance_uuid == instance_uuid)))
        for att_id in ids:
            s.execute(delete(VolumeAttachment).where(VolumeAttachment.id == att_id))
            LOG.warning("Attachment %s of volume %s to server %s removed", att_id, volume_id,
                        instance_uuid)
        if ids:     # a repair decides from what is there: no compare-and-swap
            vol_obj.update_fields(vol, **attach_states.after_detach(
                vol.status, vol.migration_status,
                [a.attach_status for a in _attachments(s, volume_id)]))
        return bool(ids)


def _attachments(s, volume_id: str) -> list[VolumeAttachment]:
    return list(s.scalars(select(VolumeAttachment).where(
        VolumeAttachment.volume_id == volume_id)))


def delete_now(cloud: Cloud, volume_id: str) -> None:
    """Delete a volume whatever its status (its file, row, attachments and quota)."""
    with cloud.db.reader() as s:
        row = s.get(Volume, volume_id)
        if row is None:
            return
        host = (row.host or "").split("#")[0]
    mgr = getattr(cloud, "volume_managers", {}).get(host)
    LOG.warning("Volume %s deleted", volume_id)
    if mgr is not None:
        vol_obj.set_status(cloud, volume_id, None, status="deleting")
        mgr.delete_volume(volume_id)
        return
    with cloud.db.reader() as s:
        row = s.get(Volume, volume_id)
        if row is None:
            return
        vtype = s.get(VolumeType, row.volume_type_id) if row.volume_type_id else None
        deltas = quota.volume_deltas(row.size, vtype.name if vtype else None) \
            if row.use_quota else None
        project = row.project_id
    manager.destroy_row(cloud, volume_id, deltas, project)


# -- attachments against servers -------------------------------------------------------


def reconcile_attachments(cloud: Cloud, backends: list[str] | None = None) -> int:
    """Attachments of servers that are gone are dropped, half-way ones rolled back, and
    each volume in reserved/attaching/detaching takes the status its attachments give.
    ``backends``: only the volumes of these (None: every volume)."""
    fixed = 0
    with cloud.db.writer() as s:
        alive = set(s.scalars(select(Instance.uuid).where(Instance.deleted == 0)))
        touched: set[str] = set()
        mine = select(Volume.id) if backends is None else \
            select(Volume.id).where(_on_backends(backends))
        for att in s.scalars(select(VolumeAttachment).where(
                VolumeAttachment.volume_id.in_(mine)).order_by(VolumeAttachment.id)):
            action = attachment_action(att.attach_status,
                                       att.instance_uuid is None or att.instance_uuid in alive)
            if action is None:
                continue
            LOG.warning("Attachment %s of volume %s (server %s, %s): %s", att.id,
                        att.volume_id, att.instance_uuid, att.attach_status,
                        "removed, the server is gone" if action == "delete" else
                        f"now {action}")
            if action == "delete":
                s.delete(att)
            else:
                att.attach_status = action
            touched.add(att.volume_id)
            fixed += 1
        s.flush()
        vols = s.scalars(select(Volume).where(
            or_(Volume.id.in_(touched), Volume.status.in_(TRANSIENT_ATTACH)),
            Volume.id.in_(mine))).all()
        for vol in vols:
            if vol.status not in (*TRANSIENT_ATTACH, "in-use", "available"):
                continue
            left = [a.attach_status for a in _attachments(s, vol.id)]
            status, attach_status = attach_states.statuses_from_attachments(left)
            if (vol.status, vol.attach_status) != (status, attach_status):
                LOG.warning("Volume %s was %s/%s: now %s/%s from its attachments", vol.id,
                            vol.status, vol.attach_status, status, attach_status)
                vol_obj.update_fields(vol, status=status, attach_status=attach_status)
                fixed += 1
    return fixed


def recover(cloud: Cloud) -> int:
    """The whole Cinder repair, in order; returns the number of repairs."""
    if cloud.only.partial:
        return recover_own(cloud)
    fixed = init_scheduler(cloud)
    for mgr in getattr(cloud, "volume_managers", {}).values():
        fixed += init_host(cloud, mgr)
    fixed += reconcile_attachments(cloud)
    expired = quota.expire_reservations(cloud)
    fixed += expired + quota.resync(cloud)
    return fixed


def recover_own(cloud: Cloud) -> int:
    """The repair of a process that runs some of Cinder's services (``--only``): other
    processes keep working meanwhile, so each service repairs only what it owns. The
    scheduler takes the volumes no backend took and rolls back the reservations past
    ``reservation_expire`` (Cinder's ``_expire_reservations``; usage is not recounted:
    an API process may be between its row and its commit); each backend its volumes,
    their snapshots, files and attachments."""
    fixed = 0
    if cloud.only.runs("cinder-scheduler"):
        fixed += init_scheduler(cloud) + quota.expire_reservations(cloud, utcnow())
    managers = getattr(cloud, "volume_managers", {})
    for mgr in managers.values():
        fixed += init_host(cloud, mgr)
    if managers:
        fixed += reconcile_attachments(cloud, list(managers))
    return fixed
