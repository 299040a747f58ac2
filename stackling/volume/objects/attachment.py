"""Attach row writes as compare-and-swap (Cinder's ``conditional_update``).

Each function changes the volume row first, then the attachment row, both only from the
statuses the step expects; ``finish_detach`` (the detach side) locks the volume row first
too, so two attach/detach transactions on one volume queue instead of deadlocking, and a
step that lost the race (a detach, a reset or an error came first) answers Cinder's
400/404/409 instead of overwriting the winner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import ObjectDeletedError

from stackling.db.models import new_uuid, utcnow
from stackling.db.models_volume import Volume, VolumeAttachment
from stackling.volume import errors
from stackling.volume.objects import InList, attach_states
from stackling.volume.objects import volume as vol_obj


_ATTACHMENT = VolumeAttachment.__table__
_VOLUME = Volume.__table__
# Core statements, built once (read-only rows; an ORM entity costs several times more).
_OF_VOLUMES = select(_ATTACHMENT).where(
    _ATTACHMENT.c.volume_id.in_(bindparam("volume_ids", expanding=True)))
_OF_VOLUME = select(_ATTACHMENT).where(_ATTACHMENT.c.volume_id == bindparam("volume_id"))
# An attachment with what the attach steps read of its volume (``vol_*``; None when the
# volume is gone), in one statement.
_WITH_VOLUME = (
    select(_ATTACHMENT, *(_VOLUME.c[key].label(f"vol_{key}") for key in (
        "id", "project_id", "status", "host", "multiattach", "admin_metadata")))
    .select_from(_ATTACHMENT.outerjoin(_VOLUME, _VOLUME.c.id == _ATTACHMENT.c.volume_id))
    .where(_ATTACHMENT.c.id == bindparam("attachment_id")))
# The same with the number of the volume's attachments (``vol_attachments``), which
# an update checks (it reads them only when there are several).
_OTHERS = _ATTACHMENT.alias("others")
_WITH_VOLUME_COUNTED = _WITH_VOLUME.add_columns(
    select(func.count()).select_from(_OTHERS).where(_OTHERS.c.volume_id == _VOLUME.c.id)
    .scalar_subquery().label("vol_attachments"))
_INSERT = insert(_ATTACHMENT)
# The attachment's half of an attach step's swap; SET takes the parameters' columns.
_MOVE = InList("b_from", lambda marks: update(_ATTACHMENT).where(
    _ATTACHMENT.c.id == bindparam("b_id"), _ATTACHMENT.c.volume_id == bindparam("b_volume_id"),
    _ATTACHMENT.c.attach_status.in_(marks)))


def of_volumes(s: Session, volume_ids: list[str]) -> list[Row]:
    """The attachments of these volumes, as read-only rows."""
    if len(volume_ids) == 1:   # GET /volumes/{id}: no expanding IN to render
        return s.execute(_OF_VOLUME, {"volume_id": volume_ids[0]}).all()
    return s.execute(_OF_VOLUMES, {"volume_ids": volume_ids}).all()


def read_with_volume(s: Session, attachment_id: str, counted: bool = False) -> Row | None:
    """The attachment (read-only row) with its volume's ``vol_*`` columns, or None;
    ``counted``: with ``vol_attachments`` too."""
    return s.execute(_WITH_VOLUME_COUNTED if counted else _WITH_VOLUME,
                     {"attachment_id": attachment_id}).first()


def add(s: Session, **values) -> VolumeAttachment:
    """Insert a new attachment row; answers it as a transient object (not in the session:
    a view of what was inserted, to read, not to change)."""
    values = {"id": new_uuid(), "created_at": utcnow(), **values}
    s.execute(_INSERT, values)
    return VolumeAttachment(**values)


def volume_attachments(s: Session, volume_id: str) -> list[VolumeAttachment]:
    return list(s.scalars(select(VolumeAttachment).where(
        VolumeAttachment.volume_id == volume_id).order_by(VolumeAttachment.created_at)))


def _fresh(s: Session, column, key) -> str | None:
    """A column's committed value, read with a lock: under MariaDB's repeatable read a
    plain read would show the snapshot the transaction started with."""
    table = column.class_
    return s.scalar(select(column).where(table.id == key).with_for_update())


def lock(s: Session, volume: Volume) -> None:
    """Reload the volume row locked (SELECT ... FOR UPDATE) until the transaction ends:
    Cinder's ``volume_detached`` takes it so, and every attach swap changes it first."""
    try:
        s.refresh(volume, with_for_update=True)
    except ObjectDeletedError:
        raise errors.VolumeNotFound(volume_id=volume.id) from None


def swap_status(s: Session, volume: Volume, decide: Callable[[Volume], str | None]) -> None:
    """Set the status ``decide`` answers (None: no change) only if the status is still the
    one it was decided from: Cinder's ``conditional_update`` of os-reserve, os-unreserve,
    os-begin_detaching and os-roll_detaching. When another transaction changed it first,
    decide again from the locked row, so a refusal (the 400) names the status that won."""
    while True:
        new = decide(volume)
        if new is None or new == volume.status:
            return
        if vol_obj.conditional_update(s, volume.id, volume.status, status=new):
            set_committed_value(volume, "status", new)
            return
        lock(s, volume)  # held from now on: the next swap cannot lose


def reserve(s: Session, volume: Volume, instance_uuid: str | None) -> None:
    """``_attachment_reserve``: the volume becomes ``reserved`` if its status is still one
    that allows it; otherwise only the same instance's existing reservation is accepted
    (bug 1694530), else Cinder's 400 with the status that won."""
    allowed = attach_states.reservable(volume.multiattach)
    if vol_obj.conditional_update(s, volume.id, allowed, status="reserved"):
        return
    status = _fresh(s, Volume.status, volume.id)
    if status is None:
        raise errors.VolumeNotFound(volume_id=volume.id)
    attached = [a.instance_uuid for a in volume_attachments(s, volume.id)]
    if attach_states.reserve_for_attachment(volume.id, status, volume.multiattach,
                                            attached, instance_uuid) is not None:
        # The status allows it again only after the swap lost: the swap is what counts.
        raise attach_states.reserve_refused(volume.id, status, volume.multiattach)


def _swap(s: Session, attachment_id: str, volume_id: str, doing: str,
          attachment_from: Iterable[str], volume_values: dict,
          attachment_values: dict) -> None:
    """Move the volume (from ``ATTACHING``), then the attachment (from
    ``attachment_from``); the transaction rolls both back when either lost."""
    if not vol_obj.conditional_update(s, volume_id, attach_states.ATTACHING,
                                      **volume_values):
        _lost(s, attachment_id, volume_id)
    stmt, statuses = _MOVE(attachment_from)
    moved = s.execute(stmt, {"b_id": attachment_id, "b_volume_id": volume_id,
                             "updated_at": utcnow(), **statuses,
                             **attachment_values}).rowcount == 1
    if not moved:
        status = _fresh(s, VolumeAttachment.attach_status, attachment_id)
        if status is None:
            raise errors.VolumeAttachmentNotFound(filter=f"attachment_id = {attachment_id}")
        raise errors.ResourceConflict(
            reason=f"Attachment {attachment_id} status must be "
                   f"{attach_states.or_list(attachment_from)} to {doing}, but the current "
                   f"status is {status}.")


def _lost(s: Session, attachment_id: str, volume_id: str) -> None:
    """Why the volume's swap did not match: the attachment or the volume is gone (404),
    or the volume's status moved on (``StatusChanged``, 400, as every volume swap)."""
    if _fresh(s, VolumeAttachment.attach_status, attachment_id) is None:
        raise errors.VolumeAttachmentNotFound(filter=f"attachment_id = {attachment_id}")
    status = _fresh(s, Volume.status, volume_id)
    if status is None:
        raise errors.VolumeNotFound(volume_id=volume_id)
    raise vol_obj.StatusChanged(reason=f"Volume {volume_id} status changed to {status} "
                                       f"meanwhile.")


def connected(s: Session, attachment_id: str, volume_id: str, **values) -> None:
    """cinder-volume ``attachment_update`` → ``volume_attached(mark_attached=False)``:
    volume and attachment ``attaching``, with the connection's ``values``."""
    _swap(s, attachment_id, volume_id, "update the attachment",
          attach_states.LIVE_ATTACHMENT,
          {"status": "attaching", "attach_status": "attaching"},
          {"attach_status": "attaching", **values})


def completed(s: Session, attachment_id: str, volume_id: str) -> None:
    """``os-complete``: attachment ``attached``, volume ``in-use``/``attached``."""
    _swap(s, attachment_id, volume_id, "complete the attachment",
          attach_states.COMPLETABLE_ATTACHMENT,
          {"status": "in-use", "attach_status": "attached"},
          {"attach_status": "attached"})
