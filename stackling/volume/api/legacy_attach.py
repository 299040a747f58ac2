"""The 2016 attach/detach volume actions, still served (cinder/api/contrib/volume_actions.py,
``os-force_detach`` from cinder/api/contrib/admin_actions.py).

``POST /v3/{p}/volumes/{id}/action`` with one of: os-reserve, os-unreserve,
os-initialize_connection (200 with ``connection_info``), os-attach, os-begin_detaching,
os-roll_detaching, os-terminate_connection, os-detach, os-force_detach (admin). All
others answer 202 with no body. They share the attachment rows of the attachments API.
"""

from __future__ import annotations

from stackling import exception, policy
from stackling.db.models import utcnow
from stackling.db.models_volume import VolumeAttachment
from stackling.volume import errors
from stackling.volume.api import attachments, common
from stackling.volume.api.validation import UUID, UUID_OR_NULL, action_schema, validate
from stackling.volume.objects import attach_states
from stackling.volume.objects import attachment as att_obj
from stackling.volume.objects import volume as vol_obj
from stackling.web.app import Request, empty_response, json_response

P = "volume_extension:volume_actions:"
policy.register({P + name: common.OWNER_MEMBER for name in (
    "reserve", "unreserve", "begin_detaching", "roll_detaching", "initialize_connection",
    "terminate_connection", "attach", "detach")})
policy.register({"volume_extension:volume_admin_actions:force_detach": common.ADMIN})

ATTACH_SCHEMA = action_schema("os-attach", {
    "type": "object",
    "properties": {"instance_uuid": UUID,
                   "mountpoint": {"type": "string", "minLength": 1, "maxLength": 255},
                   "host_name": {"type": "string", "maxLength": 255},
                   "mode": {"type": "string", "enum": ["rw", "ro"]}},
    "required": ["mountpoint"],
    "anyOf": [{"required": ["instance_uuid"]}, {"required": ["host_name"]}],
    "additionalProperties": False})
DETACH_SCHEMA = action_schema("os-detach", {
    "type": ["object", "null"], "properties": {"attachment_id": UUID_OR_NULL},
    "additionalProperties": False})
INIT_SCHEMA = action_schema("os-initialize_connection", {
    "type": "object", "properties": {"connector": {"type": ["object", "string"]}},
    "required": ["connector"], "additionalProperties": False})
TERMINATE_SCHEMA = action_schema("os-terminate_connection", {
    "type": "object", "properties": {"connector": {"type": ["string", "object", "null"]}},
    "required": ["connector"], "additionalProperties": False})


def _volume(s, req: Request, volume_id: str, action: str):
    row = common.get_volume(s, req, volume_id)
    common.authorize(req, P + action, {"project_id": row.project_id})
    return row


def _reserve(req: Request, volume_id: str, args: dict):
    """available (or in-use, multiattach) → attaching; else 400."""
    validate(action_schema("os-reserve"), {"os-reserve": args})
    with req.app.cloud.db.writer() as s:
        vol = _volume(s, req, volume_id, "reserve")
        att_obj.swap_status(s, vol, lambda v: attach_states.legacy_reserve(
            v.status, v.multiattach))
    return empty_response(202)


def _unreserve(req: Request, volume_id: str, args: dict):
    """attaching → in-use if attachments remain, else available; otherwise nothing."""
    with req.app.cloud.db.writer() as s:
        vol = _volume(s, req, volume_id, "unreserve")
        _do_unreserve(s, vol)
    return empty_response(202)


def _do_unreserve(s, vol) -> None:
    att_obj.swap_status(s, vol, lambda v: attach_states.legacy_unreserve(v.status, any(
        a.attach_status != "detached" for a in attachments.volume_attachments(s, v.id))))


def _begin_detaching(req: Request, volume_id: str, args: dict):
    with req.app.cloud.db.writer() as s:
        vol = _volume(s, req, volume_id, "begin_detaching")
        att_obj.swap_status(s, vol, lambda v: attach_states.begin_detaching(
            v.status, v.attach_status, v.migration_status))
    return empty_response(202)


def _roll_detaching(req: Request, volume_id: str, args: dict):
    with req.app.cloud.db.writer() as s:
        vol = _volume(s, req, volume_id, "roll_detaching")
        att_obj.swap_status(s, vol, lambda v: attach_states.roll_detaching(v.status))
    return empty_response(202)


def _initialize_connection(req: Request, volume_id: str, args: dict):
    """200 ``{"connection_info": {"driver_volume_type", "data", "enforce_multipath"}}``."""
    validate(INIT_SCHEMA, {"os-initialize_connection": args})
    connector = args["connector"]
    if not isinstance(connector, dict):
        connector = {}
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        vol = _volume(s, req, volume_id, "initialize_connection")
        if vol.status == "maintenance":
            raise errors.InvalidVolume(reason="The volume connection cannot be initialized "
                                              "in maintenance mode.")
        host, mode = vol.host, attachments.access_mode(vol.admin_metadata)
    try:
        info = cloud.rpc.call(attachments.backend_topic(host, volume_id),
                              "initialize_connection", volume_id=volume_id,
                              connector=connector, access_mode=mode)
    except exception.InvalidInput as err:
        raise exception.BadRequest(err.message) from None
    except errors.VolumeBackendAPIException:
        raise exception.StacklingError("Unable to fetch connection information from "
                                       "backend.") from None
    info["data"]["enforce_multipath"] = connector.get("enforce_multipath", False)
    info["enforce_multipath"] = connector.get("enforce_multipath", False)
    return json_response({"connection_info": info})


def _terminate_connection(req: Request, volume_id: str, args: dict):
    """Unexport, then unreserve (attaching → available/in-use). 202."""
    validate(TERMINATE_SCHEMA, {"os-terminate_connection": args})
    cloud = req.app.cloud
    connector = args.get("connector")
    with cloud.db.reader() as s:
        vol = _volume(s, req, volume_id, "terminate_connection")
        host = vol.host
    try:
        cloud.rpc.call(attachments.backend_topic(host, volume_id), "terminate_connection",
                       volume_id=volume_id,
                       connector=connector if isinstance(connector, dict) else None)
    except Exception:
        raise exception.StacklingError("Unable to terminate volume connection from "
                                       "backend.") from None
    with cloud.db.writer() as s:
        _do_unreserve(s, common.get_volume(s, req, volume_id))
    return empty_response(202)


def _attach(req: Request, volume_id: str, args: dict):
    """os-attach: a new attachment ``attached`` at once, the volume ``in-use``. 202."""
    validate(ATTACH_SCHEMA, {"os-attach": args})
    instance_uuid = args.get("instance_uuid")
    host_name = args.get("host_name") or None
    mountpoint = args["mountpoint"]
    mode = args.get("mode", "rw")
    with req.app.cloud.db.writer() as s:
        vol = _volume(s, req, volume_id, "attach")
        att_obj.lock(s, vol)  # one os-attach at a time decides on the volume's attachments
        md = dict(vol.admin_metadata or {})
        md.setdefault("readonly", "False")
        attach_states.legacy_attach_api_check(vol.id, vol.status, mode,
                                              md["readonly"] == "True")
        existing = [a for a in attachments.volume_attachments(s, vol.id)
                    if (a.instance_uuid == instance_uuid if instance_uuid
                        else a.attached_host == host_name)]
        if existing:
            vol_obj.save(s, vol, status="in-use", admin_metadata=md)
            return empty_response(202)
        try:
            attach_states.legacy_attach_manager_check(
                vol.status, vol.multiattach, vol.migration_status, md.get("attached_mode"),
                mode)
        except errors.InvalidVolume as err:
            raise exception.BadRequest(
                f"Error attaching volume - InvalidVolume: {err.message}") from None
        md["attached_mode"] = mode
        s.add(VolumeAttachment(
            volume_id=vol.id, project_id=vol.project_id, volume_host=vol.host,
            attach_status="attached", instance_uuid=instance_uuid, attached_host=host_name,
            mountpoint=mountpoint, attach_mode=mode, attach_time=utcnow()))
        vol_obj.save(s, vol, status="in-use", attach_status="attached", admin_metadata=md)
    return empty_response(202)


def _detach_volume(req: Request, volume_id: str, attachment_id: str | None,
                   what: str) -> None:
    """cinder-volume ``detach_volume``: remove the export, then ``finish_detach``."""
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        vol = common.get_volume(s, req, volume_id)
        if vol.status == "maintenance":
            raise errors.InvalidVolume(reason="The volume cannot be detached in maintenance "
                                              "mode.")
        atts = attachments.volume_attachments(s, vol.id)
        if attachment_id:
            if attachment_id not in {a.id for a in atts}:
                attachments.finish_detach(s, vol, attachment_id)
                return
        elif len(atts) > 1:
            raise exception.BadRequest(
                f"Error {what} volume - InvalidVolume: Invalid volume: Detach volume failed: "
                "More than one attachment, but no attachment_id provided.")
        elif not atts:
            vol_obj.save(s, vol, status="available", attach_status="detached")
            return
        else:
            attachment_id = atts[0].id
        host = vol.host
    if host:
        cloud.rpc.call(attachments.backend_topic(host, volume_id), "remove_export",
                       volume_id=volume_id)
    with cloud.db.writer() as s:
        attachments.finish_detach(s, common.get_volume(s, req, volume_id), attachment_id)


def _detach(req: Request, volume_id: str, args: dict):
    """os-detach: drop the attachment (the only one, or ``attachment_id``). 202."""
    validate(DETACH_SCHEMA, {"os-detach": args})
    with req.app.cloud.db.reader() as s:
        _volume(s, req, volume_id, "detach")
    _detach_volume(req, volume_id, (args or {}).get("attachment_id"), "detaching")
    return empty_response(202)


def _force_detach(req: Request, volume_id: str, args: dict):
    """os-force_detach (admin): terminate the connection with force, then detach. 202."""
    common.authorize(req, "volume_extension:volume_admin_actions:force_detach")
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        vol = common.get_volume(s, req, volume_id)
        host = vol.host
    if host:
        cloud.rpc.call(attachments.backend_topic(host, volume_id), "terminate_connection",
                       volume_id=volume_id, connector=args.get("connector"), force=True)
    _detach_volume(req, volume_id, args.get("attachment_id"), "force detaching")
    return empty_response(202)


ACTIONS = {"os-reserve": _reserve, "os-unreserve": _unreserve,
           "os-begin_detaching": _begin_detaching, "os-roll_detaching": _roll_detaching,
           "os-initialize_connection": _initialize_connection,
           "os-terminate_connection": _terminate_connection, "os-attach": _attach,
           "os-detach": _detach, "os-force_detach": _force_detach}
