"""Cinder v3 attachments API (3.27+; ``os-complete`` 3.44+) and the attach helpers that the
legacy volume actions share (cinder/api/v3/attachments.py, cinder/volume/api.py,
cinder/volume/manager.py ``attachment_update``/``attachment_delete``).

The new-style attach is: create (volume ``reserved``) → update with a connector
(``attaching``; answers ``connection_info``) → ``os-complete`` (``in-use``). Delete removes
the attachment; the volume's status is then worked out from the attachments left
(``available`` when none remain).

``connection_info`` (what the file backend honestly offers): os-brick's ``local``
protocol, flattened as Cinder's attachment_update flattens it::

    {"driver_volume_type": "local", "device_path": "<the volume file>", "volume_id": ...,
     "name": "volume-<id>", "discard": true, "qos_specs": null, "access_mode": "rw",
     "encrypted": false, "cacheable": false, "attachment_id": ..., "enforce_multipath": false}

NOTE: like Cinder, create and update answer with the attachment as the API held it
before the volume service ran: status ``reserved``, ``attached_at`` "" (only
``connection_info`` and ``attach_mode`` are fresh). GET shows the stored state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models import utcnow
from stackling.db.models_volume import Volume, VolumeAttachment
from stackling.volume import errors
from stackling.volume.api import common, views
from stackling.volume.api.validation import UUID, action_schema, validate
from stackling.volume.objects import attach_states, backends
from stackling.volume.objects import attachment as att_obj
from stackling.volume.objects.attachment import volume_attachments
from stackling.volume.objects import volume as vol_obj
from stackling.web.app import Request, empty_response, json_response, read_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

policy.register({
    "volume:attachment_create": common.OWNER_MEMBER,
    "volume:attachment_update": common.OWNER_MEMBER,
    "volume:attachment_delete": common.OWNER_MEMBER,
    "volume:attachment_complete": common.OWNER_MEMBER,
    "volume:multiattach_bootable_volume": common.OWNER_MEMBER,
    "volume:attachment_get": common.OWNER_READER,
})

# Cinder takes the connector as any object; the fields it stores in the attachment's
# columns (attached_host, mountpoint, attach_mode) must be text there, so they are typed.
_CONNECTOR_FIELDS = {"host": {"type": ["string", "null"], "maxLength": 255},
                     "mountpoint": {"type": ["string", "null"], "maxLength": 255},
                     "mode": {"type": "string", "enum": ["rw", "ro"]}}
CREATE_SCHEMA = {
    "type": "object",
    "properties": {"attachment": {
        "type": "object",
        "properties": {"instance_uuid": UUID,
                       "connector": {"type": ["object", "null"],
                                     "properties": _CONNECTOR_FIELDS},
                       "volume_uuid": UUID},
        "required": ["volume_uuid"], "additionalProperties": False}},
    "required": ["attachment"], "additionalProperties": False,
}
CREATE_SCHEMA_354 = {**CREATE_SCHEMA, "properties": {"attachment": {
    **CREATE_SCHEMA["properties"]["attachment"],
    "properties": {**CREATE_SCHEMA["properties"]["attachment"]["properties"],
                   "mode": {"type": "string", "enum": ["rw", "ro"]}}}}}
UPDATE_SCHEMA = {
    "type": "object",
    "properties": {"attachment": {
        "type": "object", "properties": {"connector": {
            "type": "object", "minProperties": 1, "properties": _CONNECTOR_FIELDS}},
        "required": ["connector"], "additionalProperties": False}},
    "required": ["attachment"], "additionalProperties": False,
}
COMPLETE_SCHEMA = action_schema("os-complete")
FILTERS = ("volume_id", "status", "instance_id", "attach_status")


_require = common.require_version


# -- shared by the attachments API and the legacy actions ------------------------------


def get_attachment(s: Session, req: Request, attachment_id: str, counted: bool = False
                   ) -> Row:
    """The attachment (a read-only row) with its volume's ``vol_*`` columns (and
    ``vol_attachments``, the number of its volume's attachments, when ``counted``)."""
    row = att_obj.read_with_volume(s, attachment_id, counted)
    ctx = req.context
    if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
        raise errors.VolumeAttachmentNotFound(filter=f"attachment_id = {attachment_id}")
    return row


def backend_topic(host: str | None, volume_id: str) -> str:
    if not host:
        raise errors.VolumeBackendAPIException(data=f"volume {volume_id} has no host")
    return f"{backends.VOLUME_TOPIC}.{host.split('#')[0]}"


def access_mode(admin_metadata: dict | None) -> str:
    """``_parse_connection_options`` from the volume's admin metadata: attached_mode, else
    ro for read-only volumes."""
    md = admin_metadata or {}
    if md.get("attached_mode"):
        return md["attached_mode"]
    return "ro" if md.get("readonly") in ("True", "true") else "rw"


def connect(cloud: Cloud, attachment_id: str, connector: dict, *, volume_id: str,
            host: str | None, mode_now: str | None, amode: str) -> dict:
    """cinder-volume ``attachment_update``: export, initialize, mark both ``attaching``
    and store the connection_info.

    The caller read the volume's id and host, the attachment's mode (``mode_now``) and
    the volume's access mode (``amode``). Returns Cinder's flattened connection_info
    (``data`` merged into the top level, plus ``attachment_id`` and ``enforce_multipath``).
    """
    mode = connector.get("mode", "rw")
    if mode_now != "null":
        mode = mode_now
        connector = {**connector, "mode": mode}
    info = cloud.rpc.call(backend_topic(host, volume_id), "initialize_connection",
                          volume_id=volume_id, connector=connector, access_mode=amode)
    conn = dict(info.get("data") or {})
    conn.update({k: v for k, v in info.items() if k != "data"})
    conn["attachment_id"] = attachment_id
    conn["enforce_multipath"] = connector.get("enforce_multipath", False)
    with cloud.db.writer_connection() as s:
        att_obj.connected(s, attachment_id, volume_id, connector=connector,
                          attached_host=connector.get("host", ""),
                          mountpoint=connector.get("mountpoint", "na"),
                          attach_time=utcnow(), attach_mode=mode, connection_info=conn)
    return conn


def finish_detach(s: Session, volume: Volume, attachment_id: str | None) -> list:
    """``volume_detached``: drop the attachment, recompute the volume from those left.
    The volume row is locked first, as Cinder locks it and as the attach swaps take it."""
    att_obj.lock(s, volume)
    if attachment_id:
        row = s.get(VolumeAttachment, attachment_id)
        if row is not None and row.volume_id == volume.id:
            s.delete(row)
            s.flush()
    remaining = volume_attachments(s, volume.id)
    values = attach_states.after_detach(volume.status, volume.migration_status,
                                        [a.attach_status for a in remaining])
    md = dict(volume.admin_metadata or {})
    if md.pop("attached_mode", None) is not None:
        values["admin_metadata"] = md
    vol_obj.save(s, volume, **values)   # the row is locked: this swap cannot lose
    return remaining


def disconnect(cloud: Cloud, host: str | None, volume_id: str, connector: dict | None,
               force: bool = False) -> None:
    """cinder-volume ``_connection_terminate`` + ``remove_export`` (skipped without a
    connector: nothing was ever connected)."""
    if not connector and not force:
        return
    topic = backend_topic(host, volume_id)
    try:
        cloud.rpc.call(topic, "terminate_connection", volume_id=volume_id,
                       connector=connector, force=force)
    except Exception as err:
        raise errors.VolumeBackendAPIException(
            data=f"Terminate volume connection failed: {err}") from None
    cloud.rpc.call(topic, "remove_export", volume_id=volume_id)


# -- handlers --------------------------------------------------------------------------


def create_attachment(req: Request):
    """POST /attachments (3.27): 200 with the detail view; the volume becomes ``reserved``
    (and ``attaching`` at once when a connector is given)."""
    _require(req, "3.27")
    body = read_json(req)
    with_mode = req.version.matches("3.54")
    validate(CREATE_SCHEMA_354 if with_mode else CREATE_SCHEMA, body)
    data = body["attachment"]
    instance_uuid = data.get("instance_uuid")
    connector = data.get("connector")
    mode = data.get("mode", "null") if with_mode else "null"
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        vol = common.read_volume(s, req, data["volume_uuid"])
        common.authorize(req, "volume:attachment_create", {"project_id": vol.project_id})
        attach_states.attachment_create_check(vol.id, vol.status)
        if vol.multiattach and vol.status == "in-use" and vol.bootable:
            common.authorize(req, "volume:multiattach_bootable_volume",
                             {"project_id": vol.project_id})
        att_obj.reserve(s, vol, instance_uuid)
        readonly = (vol.admin_metadata or {}).get("readonly") in ("True", "true")
        # Without a connector the attachment's final mode and connection_info are known
        # now: written with the row, not by a second transaction.
        final = {} if connector else {"attach_mode": "ro" if readonly else mode,
                                      "connection_info": {}}
        att = att_obj.add(s, volume_id=vol.id, project_id=vol.project_id,
                          volume_host=vol.host, attach_status="reserved",
                          instance_uuid=instance_uuid, **final)
        view = views.attachment_detail(att)
        att_id = att.id
    connection_info: dict = {}
    if connector:
        try:
            # a new attachment has no mode yet (Cinder's "null"): the connector's applies
            connection_info = connect(cloud, att_id, connector, volume_id=vol.id,
                                      host=vol.host, mode_now="null",
                                      amode=access_mode(vol.admin_metadata))
        except (exception.PolicyNotAuthorized, errors.InvalidVolume):
            raise
        except exception.StacklingError as ex:
            LOG.exception("Unable to create attachment for volume")
            raise exception.StacklingError(
                f"Unable to create attachment for volume ({ex.message}).") from None
    if readonly:
        LOG.warning("Using volume_admin_metadata to set Read Only mode is deprecated!  "
                    "Please use the mode argument in attachment-create.")
        mode = "ro"
    if connector:
        with cloud.db.writer() as s:
            att = s.get(VolumeAttachment, att_id)
            att.attach_mode = mode
            att.connection_info = connection_info
    view.update(attach_mode=mode, connection_info=connection_info)
    return json_response({"attachment": view})


def update_attachment(req: Request, attachment_id: str):
    """PUT /attachments/{id} (3.27): connect with the connector; 200 with the detail view
    and ``connection_info``; attachment and volume become ``attaching``."""
    _require(req, "3.27")
    body = read_json(req)
    validate(UPDATE_SCHEMA, body)
    connector = body["attachment"]["connector"]
    cloud = req.app.cloud
    with cloud.db.reader_connection() as s:
        att = get_attachment(s, req, attachment_id, counted=True)
        common.authorize(req, "volume:attachment_update", {"project_id": att.project_id})
        if "error" in att.vol_status:
            raise errors.ResourceConflict(
                reason=f"Volume attachments can not be updated if the volume is in an error "
                       f"state. The Volume {att.vol_id} currently has a status of: "
                       f"{att.vol_status} ")
        if att.vol_attachments > 1 and not att.vol_multiattach:
            others = att_obj.of_volumes(s, [att.vol_id])
            hosts = {(a.connector or {}).get("host") for a in others if a.connection_info}
            if hosts:
                raise errors.ResourceConflict(
                    reason=f"duplicate connectors detected on volume {att.vol_id}")
        view = views.attachment_detail(att)
    try:
        connection_info = connect(cloud, attachment_id, connector, volume_id=att.vol_id,
                                  host=att.vol_host, mode_now=att.attach_mode,
                                  amode=access_mode(att.vol_admin_metadata))
    except (exception.PolicyNotAuthorized, exception.Invalid, errors.Invalid):
        raise
    except exception.StacklingError as ex:
        LOG.exception("Unable to update attachment")
        raise exception.StacklingError(f"Unable to update attachment ({ex.message}).") \
            from None
    view["connection_info"] = connection_info
    return json_response({"attachment": view})


def attachment_action(req: Request, attachment_id: str):
    """POST /attachments/{id}/action: only ``os-complete`` (3.44) → 204."""
    _require(req, "3.44")
    body = read_json(req)
    if isinstance(body, dict) and len(body) == 1 and "os-complete" not in body:
        raise exception.BadRequest(f"There is no such action: {next(iter(body))}")
    validate(COMPLETE_SCHEMA, body)
    with req.app.cloud.db.writer_connection() as s:
        att = get_attachment(s, req, attachment_id)
        common.visible(req, att.vol_project_id, att.volume_id)
        common.authorize(req, "volume:attachment_complete", {"project_id": att.project_id})
        att_obj.completed(s, att.id, att.vol_id)
    return empty_response(204)


def delete_attachment(req: Request, attachment_id: str):
    """DELETE /attachments/{id} (3.27): 200 ``{"attachments": [...]}``, the volume's
    remaining attachments (summary view); the volume's status follows those left."""
    _require(req, "3.27")
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        att = get_attachment(s, req, attachment_id)
        common.authorize(req, "volume:attachment_delete", {"project_id": att.project_id})
        # NOTE: Cinder's bug-2004555 guard (409 when a non-service caller deletes an
        # attachment Nova still uses) is not implemented: any owner may delete.
        vol = s.get(Volume, att.volume_id)
        status, connector, host = att.attach_status, att.connector, vol.host if vol else None
    if vol is not None and status != "reserved":
        try:
            disconnect(cloud, host, vol.id, connector)
        except errors.VolumeBackendAPIException:
            LOG.warning("Failed to detach volume %s on the backend, ignoring", vol.id)
    with cloud.db.writer() as s:
        vol = s.get(Volume, att.volume_id)
        if vol is None:
            row = s.get(VolumeAttachment, attachment_id)
            if row is not None:
                s.delete(row)
            remaining = []
        else:
            remaining = finish_detach(s, vol, attachment_id)
        return json_response({"attachments": [views.attachment_summary(a)
                                              for a in remaining]})


def show_attachment(req: Request, attachment_id: str):
    _require(req, "3.27")
    with req.app.cloud.db.reader() as s:
        att = get_attachment(s, req, attachment_id)
        view = views.attachment_detail(att)
        vol = s.get(Volume, att.volume_id)
        fmt = (vol.admin_metadata or {}).get("format") if vol else None
        if fmt and isinstance(view["connection_info"], dict):
            view["connection_info"] = {**view["connection_info"], "format": fmt}
    return json_response({"attachment": view})


def _list(req: Request, detailed: bool):
    _require(req, "3.27")
    ctx = req.context
    params = req.GET
    with req.app.cloud.db.reader() as s:
        q = select(VolumeAttachment)
        if not (ctx.is_admin and "all_tenants" in params):
            q = q.where(VolumeAttachment.project_id == ctx.project_id)
        if params.get("volume_id"):
            q = q.where(VolumeAttachment.volume_id == params["volume_id"])
        if params.get("instance_id"):
            q = q.where(VolumeAttachment.instance_uuid == params["instance_id"])
        for key in ("status", "attach_status"):
            if params.get(key):
                q = q.where(VolumeAttachment.attach_status == params[key])
        rows = list(s.scalars(q))
        sort_key = params.get("sort_key", "created_at")
        reverse = params.get("sort_dir", "desc") != "asc"
        rows.sort(key=lambda r: (str(getattr(r, sort_key, None) or ""), r.id), reverse=reverse)
        if "marker" in params:
            ids = [r.id for r in rows]
            if params["marker"] not in ids:
                raise exception.NotFound(f"Marker {params['marker']} could not be found.")
            rows = rows[ids.index(params["marker"]) + 1:]
        try:
            rows = rows[int(params.get("offset", 0)):]
            if "limit" in params:
                rows = rows[:int(params["limit"])]
        except ValueError:
            raise exception.InvalidInput(reason="limit param must be an integer") from None
        view = views.attachment_detail if detailed else views.attachment_summary
        return json_response({"attachments": [view(r) for r in rows]})


def list_attachments(req: Request):
    return _list(req, detailed=False)


def list_attachments_detail(req: Request):
    return _list(req, detailed=True)
