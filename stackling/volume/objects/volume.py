"""Volume row writes as compare-and-swap on the status (``Volume.conditional_update``).

Cinder changes a volume's status with ``UPDATE ... WHERE status IN (:expected)`` and
checks that one row changed; a concurrent change (a delete, a reset) then wins cleanly
instead of being overwritten. This module is the only code that writes Volume rows
(tests/unit/test_process_lines.py checks it): handlers load a row, decide, and call
``save`` (status and what goes with it) or ``update_fields`` (descriptive fields).
The ``read_*`` functions are the Core reads of the paths every volume create and attach
takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, insert, inspect, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from stackling.db.api import retry_on_deadlock
from stackling.db.models import new_uuid, utcnow
from stackling.db.models_volume import QosSpecs, Volume, VolumeAttachment, VolumeType
from stackling.volume import errors
from stackling.volume.objects import InList

_VOLUME = Volume.__table__
_TYPE = VolumeType.__table__
_QOS = QosSpecs.__table__
_ATTACHMENT = VolumeAttachment.__table__
# Attribute name -> column key (``metadata_`` is the column ``metadata``).
_COLUMN = {attr.key: attr.columns[0].key for attr in inspect(Volume).column_attrs}

# Core statements, built once: an ORM statement costs several times what it runs, and
# Core rows (read-only) a third of an ORM entity. An UPDATE with no .values() sets the
# columns of the parameters given at execution.
_INSERT = insert(_VOLUME)
_UPDATE = update(_VOLUME).where(_VOLUME.c.id == bindparam("b_id"))
_UPDATE_IF = InList("b_status", lambda marks: _UPDATE.where(_VOLUME.c.status.in_(marks)))
_PLACE = _UPDATE.where(_VOLUME.c.status == "creating", _VOLUME.c.host.is_(None))
# One volume and its type's name, with the model's attribute names: for the reads that
# change nothing through the row (an attachment's create, the create flow's answer).
_VOLUME_AND_TYPE_NAME = (*(_VOLUME.c[key].label(attr) for attr, key in _COLUMN.items()),
                         _TYPE.c.name.label("type_name"))
_WITH_TYPE = _VOLUME.outerjoin(_TYPE, _TYPE.c.id == _VOLUME.c.volume_type_id)
_WITH_TYPE_NAME = (select(*_VOLUME_AND_TYPE_NAME).select_from(_WITH_TYPE)
                   .where(_VOLUME.c.id == bindparam("volume_id")))


class Attached(NamedTuple):
    """An ``attached`` attachment, as the volume view lists it."""

    id: str
    volume_id: str
    instance_uuid: str | None
    attached_host: str | None
    mountpoint: str | None
    attach_time: Any
    created_at: Any
    attach_status: str


# GET /volumes/{id} (which Nova polls while it waits): the volume and its type's name (as
# _WITH_TYPE_NAME) and its attached attachments, one row each (``Attached``'s fields last;
# None when there is none), in one statement where the view took two.
_SHOWN = (
    select(*_VOLUME_AND_TYPE_NAME,
           *(_ATTACHMENT.c[key].label(f"att_{key}") for key in Attached._fields))
    .select_from(_WITH_TYPE.outerjoin(_ATTACHMENT, and_(
        _ATTACHMENT.c.volume_id == _VOLUME.c.id, _ATTACHMENT.c.attach_status == "attached")))
    .where(_VOLUME.c.id == bindparam("volume_id")))
# What a connection needs of a volume, its type and the type's QoS specs, in one statement
# (``type_id`` None: no type, or one that is gone; ``qos_*`` None: no QoS specs).
_CONNECTION = (
    select(_VOLUME.c.encryption_key_id, _TYPE.c.id.label("type_id"), _TYPE.c.extra_specs,
           _QOS.c.consumer.label("qos_consumer"), _QOS.c.specs.label("qos_specs"))
    .select_from(_VOLUME.outerjoin(_TYPE, _TYPE.c.id == _VOLUME.c.volume_type_id)
                 .outerjoin(_QOS, _QOS.c.id == _TYPE.c.qos_specs_id))
    .where(_VOLUME.c.id == bindparam("volume_id")))
_CREATE_STATE = select(_VOLUME.c.size, _VOLUME.c.snapshot_id, _VOLUME.c.source_volid
                       ).where(_VOLUME.c.id == bindparam("volume_id"))


def read_connection(s: Session, volume_id: str) -> Row | None:
    """The volume's encryption key id, its type's id and extra specs and its QoS specs'
    consumer and specs (see ``_CONNECTION``), or None when the volume is gone."""
    return s.execute(_CONNECTION, {"volume_id": volume_id}).first()


def read_create_state(s: Session, volume_id: str) -> Row | None:
    """What cinder-volume's create reads: size, snapshot_id, source_volid."""
    return s.execute(_CREATE_STATE, {"volume_id": volume_id}).first()


def read_with_type_name(s: Session, volume_id: str) -> Row | None:
    """The volume's columns (by attribute name) and ``type_name``, or None."""
    return s.execute(_WITH_TYPE_NAME, {"volume_id": volume_id}).first()


def read_shown(s: Session, volume_id: str) -> tuple[Row | None, list[Attached]]:
    """The volume as :func:`read_with_type_name` answers it, and its ``attached``
    attachments; (None, []) when there is no such volume."""
    rows = s.execute(_SHOWN, {"volume_id": volume_id}).all()
    if not rows:
        return None, []
    n = len(Attached._fields)
    return rows[0], [Attached(*r[-n:]) for r in rows if r.att_id is not None]


def conditional_update(s: Session, volume_id: str, expected: Iterable[str] | str | None,
                       **values) -> bool:
    """Set ``values`` if the volume exists and its status is one of ``expected`` (any
    status when None); True when the row changed."""
    params = {_COLUMN[key]: value for key, value in {"updated_at": utcnow(), **values}.items()}
    params["b_id"] = volume_id
    if expected is None:
        return s.execute(_UPDATE, params).rowcount == 1
    stmt, statuses = _UPDATE_IF([expected] if isinstance(expected, str) else expected)
    return s.execute(stmt, {**params, **statuses}).rowcount == 1


def place(s: Session, volume_id: str, host: str, availability_zone: str | None) -> bool:
    """The scheduler's choice, as a compare-and-swap: only a volume still ``creating``
    with no host takes it. True when placed."""
    now = utcnow()
    return s.execute(_PLACE, {"b_id": volume_id, "host": host,
                              "availability_zone": availability_zone, "scheduled_at": now,
                              "updated_at": now}).rowcount == 1


def destroy(s: Session, volume_id: str, expected: Iterable[str] | str | None = None) -> bool:
    """Delete the row (status one of ``expected`` unless None); True when it was there."""
    q = delete(Volume).where(Volume.id == volume_id)
    if expected is not None:
        q = q.where(Volume.status.in_([expected] if isinstance(expected, str)
                                      else list(expected)))
    return s.execute(q.execution_options(synchronize_session=False)).rowcount == 1


@retry_on_deadlock
def set_status(cloud, volume_id: str, expected: Iterable[str] | str | None, **values) -> bool:
    """``conditional_update`` in a transaction of its own."""
    with cloud.db.writer_connection() as s:
        return conditional_update(s, volume_id, expected, **values)


class StatusChanged(errors.InvalidVolume):
    """A concurrent change won the compare-and-swap: the request acted on a stale status."""


def save(s: Session, row: Volume, expected: Iterable[str] | str | None = None,
         **values: Any) -> None:
    """Save ``values`` on a volume this transaction loaded, only if its status is one of
    ``expected`` (by default: still the one loaded), as a compare-and-swap; the loaded row
    then shows them. A lost swap raises StatusChanged (400) instead of overwriting the
    newer status."""
    values["updated_at"] = utcnow()
    _swap(s, row.id, row.status if expected is None else expected, values)
    for key, value in values.items():
        set_committed_value(row, key, value)


def _swap(s: Session, volume_id: str, expected, values: dict) -> None:
    if not conditional_update(s, volume_id, expected, **values):
        now = s.scalar(select(Volume.status).where(Volume.id == volume_id))
        raise StatusChanged(reason=f"Volume {volume_id} status changed to {now} meanwhile.")


@retry_on_deadlock
def swap(cloud, volume_id: str, expected: Iterable[str] | str, **values: Any) -> None:
    """``set_status`` that raises StatusChanged when the status is not one of ``expected``."""
    with cloud.db.writer() as s:
        _swap(s, volume_id, expected, values)


def update_fields(row: Volume, **values: Any) -> None:
    """Edit a loaded volume's descriptive fields (name, metadata, bootable, ...) in the
    caller's transaction; what no status decides needs no compare-and-swap."""
    for key, value in values.items():
        setattr(row, key, value)


def set_metadata(row: Volume, metadata: dict[str, str]) -> None:
    """The volume's user metadata, whole (the metadata API merges before it calls)."""
    row.metadata_ = metadata


def add(s: Session, **values: Any) -> str:
    """Insert a new volume row (the create flow's first task); returns its id."""
    values.setdefault("id", new_uuid())
    s.execute(_INSERT, {_COLUMN[key]: value for key, value in values.items()})
    return values["id"]
