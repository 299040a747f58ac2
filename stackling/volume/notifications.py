"""Cinder's notifications: ``volume.create.start`` / ``volume.create.end`` of the volume
manager's create flow (cinder/volume/volume_utils.py ``notify_about_volume_usage``) and
the scheduler's ``scheduler.create_volume`` error (``_set_volume_state_and_notify``).

Sent over the broker when cinder.conf sets ``[oslo_messaging_notifications] driver``
(``messagingv2``), as Cinder does; nothing is sent (or read) otherwise. Other processes
may consume them: a nova-compute process that hears them polls a volume it waits for as
soon as its creation ended (stackling/compute/__init__.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from stackling.db.models import utcnow
from stackling.db.models_volume import Volume, VolumeAttachment

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

_VOLUMES, _ATTACHMENTS = Volume.__table__, VolumeAttachment.__table__
_VOLUME = select(_VOLUMES).where(_VOLUMES.c.id == bindparam("id"))
_ATTACHED = (select(_ATTACHMENTS).where(_ATTACHMENTS.c.volume_id == bindparam("id"))
             .order_by(_ATTACHMENTS.c.created_at))


def _iso(value: dt.datetime | None, now: dt.datetime) -> str:
    return (value or now).isoformat()


def volume_payload(row, attachments: list) -> dict:
    """``_usage_from_volume``: the volume's usage fields, its attachments and its image
    metadata (a list of key/value items, as Cinder's rows)."""
    now = utcnow()
    status = "deleting" if row.status == "error_managing_deleting" else row.status
    payload = {
        "tenant_id": row.project_id, "host": row.host, "user_id": row.user_id,
        "availability_zone": row.availability_zone, "volume_id": row.id,
        "volume_type": row.volume_type_id, "display_name": row.display_name,
        "launched_at": _iso(row.launched_at, now), "created_at": _iso(row.created_at, now),
        "status": status, "snapshot_id": row.snapshot_id, "size": row.size,
        "replication_status": row.replication_status,
        "replication_extended_status": None, "replication_driver_data": None,
        "metadata": [{"key": k, "value": v}
                     for k, v in (row._mapping["metadata"] or {}).items()],
        "volume_attachment": [
            {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
             for k, v in a._mapping.items() if k != "connection_info"}
            for a in attachments]}
    if row.glance_metadata:
        payload["glance_metadata"] = [{"volume_id": row.id, "key": k, "value": v}
                                      for k, v in row.glance_metadata.items()]
    return payload


def volume_usage(cloud: Cloud, volume_id: str, suffix: str, host: str) -> None:
    """``volume.<suffix>`` (``create.start``, ``create.end``) from ``volume.<host>``. Never
    raises: a notice that cannot be read or sent must not fail (or leave ``creating``)
    the volume whose work it reports."""
    if not cloud.rpc.notifies("cinder"):
        return
    try:
        with cloud.db.reader_connection() as s:
            row = s.execute(_VOLUME, {"id": volume_id}).first()
            if row is None:
                return
            attachments = s.execute(_ATTACHED, {"id": volume_id}).all()
    except Exception:
        LOG.exception("Could not read volume %s for its volume.%s notification",
                      volume_id, suffix)
        return
    cloud.rpc.notify("cinder", f"volume.{host}", f"volume.{suffix}",
                     volume_payload(row, attachments))


def scheduler_error(cloud: Cloud, request_spec: dict, reason: str) -> None:
    """``scheduler.create_volume`` (priority error): the volume could not be scheduled."""
    if not cloud.rpc.notifies("cinder"):
        return
    payload = {"request_spec": request_spec,
               "volume_properties": request_spec.get("volume_properties") or {},
               "volume_id": request_spec.get("volume_id"), "state": "error",
               "method": "create_volume", "reason": reason}
    cloud.rpc.notify("cinder", f"scheduler.{cloud.topology.controller}",
                     "scheduler.create_volume", payload, priority="error")
