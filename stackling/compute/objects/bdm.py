"""Block device mapping rows: build them from the API's dicts, add, load, save, destroy.
The only code that writes BlockDeviceMapping rows (tests/unit/test_process_lines.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from stackling.compute import block_device as bd
from stackling.db.inlist import InList
from stackling.db.models_compute import BlockDeviceMapping

if TYPE_CHECKING:
    from stackling.cloud import Cloud


_TABLE = BlockDeviceMapping.__table__
# Core statements built once; the columns they write come from each execution's parameters.
_INSERT = insert(_TABLE)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("bdm_id"))


def rows(instance_uuid: str, bdms: list[dict]) -> list[dict]:
    """The column values of the server's mappings (device names filled in)."""
    bd.device_names(bdms)
    keys = ("source_type", "destination_type", "boot_index", "device_name", "device_type",
            "disk_bus", "guest_format", "image_id", "snapshot_id", "volume_id",
            "volume_size", "volume_type", "tag", "attachment_id")
    out = []
    for b in bdms:
        row = {"instance_uuid": instance_uuid, "no_device": bool(b.get("no_device")),
               "delete_on_termination": bool(b.get("delete_on_termination")),
               **{k: b.get(k) for k in keys}}
        if row["boot_index"] is not None and row["boot_index"] < 0:
            row["boot_index"] = -1
        out.append(row)
    return out


def add_all(s, instance_uuid: str, bdms: list[dict]) -> None:
    """The server's block devices, in the transaction that creates the server (one Core
    INSERT; the columns' defaults apply as with ORM objects)."""
    values = rows(instance_uuid, bdms)
    if values:
        s.execute(_INSERT, values)


def add(s, **values) -> BlockDeviceMapping:
    """One new mapping (a volume attached later), flushed so it has its id."""
    row = BlockDeviceMapping(**values)
    s.add(row)
    s.flush()
    return row


def update_fields(row: BlockDeviceMapping, **values) -> None:
    """Save ``values`` on a mapping the caller loaded, in the caller's transaction."""
    for key, value in values.items():
        setattr(row, key, value)


def bdm_dict(row: BlockDeviceMapping) -> dict[str, Any]:
    return {c: getattr(row, c) for c in (
        "id", "uuid", "instance_uuid", "source_type", "destination_type", "boot_index",
        "device_name", "image_id", "snapshot_id", "volume_id", "volume_size", "volume_type",
        "delete_on_termination", "tag", "attachment_id", "no_device")}


_OF_INSTANCE = (select(_TABLE).where(_TABLE.c.instance_uuid == bindparam("uuid"))
                .order_by(_TABLE.c.id))


def of_instance(s, instance_uuid: str) -> list[dict]:
    """The instance's mappings as dicts, read in the caller's session (Core rows)."""
    return [bdm_dict(r) for r in s.execute(_OF_INSTANCE, {"uuid": instance_uuid})]


_VOLUMES_OF = InList("uuid", lambda marks: (
    select(_TABLE.c.instance_uuid, _TABLE.c.volume_id, _TABLE.c.delete_on_termination)
    .where(_TABLE.c.instance_uuid.in_(marks), _TABLE.c.destination_type == "volume",
           _TABLE.c.volume_id.is_not(None))
    .order_by(_TABLE.c.id)))


def volumes_of(s, instance_uuids: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """(volume id, delete_on_termination) of each instance's volumes, by instance uuid,
    in one query (the server views' ``volumes_attached``)."""
    out: dict[str, list[tuple[str, bool]]] = {}
    if instance_uuids:
        for r in s.execute(*_VOLUMES_OF(instance_uuids)):
            out.setdefault(r.instance_uuid, []).append((r.volume_id,
                                                        r.delete_on_termination))
    return out


def load(cloud, instance_uuid: str) -> list[dict]:
    with cloud.db.reader() as s:
        return of_instance(s, instance_uuid)


def update(s, bdm_id: int, **values) -> None:
    """One UPDATE inside the caller's write transaction (a mapping deleted meanwhile is
    left alone); Core, no ORM objects."""
    s.execute(_UPDATE, {"bdm_id": bdm_id, **values})


def save(cloud: Cloud, bdm_id: int, **values) -> None:
    """``update`` in a write transaction of its own."""
    with cloud.db.writer_connection() as s:
        update(s, bdm_id, **values)


def destroy(cloud: Cloud, bdm_id: int) -> None:
    with cloud.db.writer() as s:
        row = s.get(BlockDeviceMapping, bdm_id)
        if row is not None:
            s.delete(row)
