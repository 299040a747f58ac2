"""/servers/{id}/os-volume_attachments: list, show, attach, detach (reference 5.1).

Attach: the API checks the volume (404, already attached, cross-AZ), reserves a device
name and a Cinder attachment (``reserved``) and casts ``attach_volume`` to the host,
which connects it (``attaching`` → ``in-use``). 200 with the attachment before 2.101,
202 without a body from 2.101. Swap (PUT) answers as Nova. Detach: ``os-begin_detaching``
(``detaching``), then the host deletes the attachment (``available``). 202.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute import block_device as bd
from stackling.compute import cinder as volume_api
from stackling.compute import volume_zones
from stackling.compute.api import common, schemas, server_volumes
from stackling.compute.objects import bdm, instance_action
from stackling.compute.objects import instance as instances
from stackling.db.models_compute import BlockDeviceMapping, Instance
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

ALLOWED_STATES = ("active", "paused", "stopped", "resized", "soft-delete", "shelved",
                  "shelved_offloaded")
DEVICE_RE = re.compile(r"^/dev/x{0,1}[a-z]{0,1}d{0,1}[a-z]+[0-9]*$")
POLICY = "os_compute_api:os-volumes-attachments:"


def view(b: BlockDeviceMapping, version) -> dict:
    out: dict = {}
    if not version.matches("2.89"):
        out["id"] = b.volume_id
    out["volumeId"] = b.volume_id
    out["serverId"] = b.instance_uuid
    if b.device_name:
        out["device"] = b.device_name
    if version.matches("2.70"):
        out["tag"] = b.tag
    if version.matches("2.79"):
        out["delete_on_termination"] = b.delete_on_termination
    if version.matches("2.89"):
        out["attachment_id"] = b.attachment_id
        out["bdm_uuid"] = b.uuid
    return out


def _volume_bdms(s, instance_uuid: str) -> list[BlockDeviceMapping]:
    return list(s.scalars(select(BlockDeviceMapping).where(
        BlockDeviceMapping.instance_uuid == instance_uuid,
        BlockDeviceMapping.destination_type == "volume",
        BlockDeviceMapping.volume_id.is_not(None)).order_by(BlockDeviceMapping.id)))


def list_attachments(req: Request, server_id: str):
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, POLICY + "index", {"project_id": inst.project_id})
        rows = _volume_bdms(s, inst.uuid)
    params = req.GET
    offset = common.validate_integer(params.get("offset", 0), "offset", 0)
    rows = rows[offset:]
    if "limit" in params:
        rows = rows[:common.validate_integer(params["limit"], "limit", 0)]
    return json_response({"volumeAttachments": [view(b, req.version) for b in rows]})


def _not_attached(server_id: str, volume_id: str) -> exception.NotFound:
    return exception.NotFound(f"Instance {server_id} is not attached to volume {volume_id}")


def show_attachment(req: Request, server_id: str, volume_id: str):
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, POLICY + "show", {"project_id": inst.project_id})
        row = next((b for b in _volume_bdms(s, inst.uuid) if b.volume_id == volume_id), None)
    if row is None or (req.version.matches("2.89") and row.attachment_id is None):
        raise _not_attached(server_id, volume_id)
    return json_response({"volumeAttachment": view(row, req.version)})


def _check_state(inst: Instance, action: str) -> None:
    if inst.vm_state not in ALLOWED_STATES or inst.task_state is not None:
        attr, state = ("task_state", inst.task_state) if inst.task_state is not None \
            and inst.vm_state in ALLOWED_STATES else ("vm_state", inst.vm_state)
        raise exception.Conflict(
            f"Cannot '{action}' instance {inst.uuid} while it is in {attr} {state}")


def _body(req: Request) -> dict:
    data = common.body_key(read_json(req), "volumeAttachment")
    allowed = {"volumeId", "device"}
    if req.version.matches("2.49"):
        allowed.add("tag")
    if req.version.matches("2.79"):
        allowed.add("delete_on_termination")
    common.reject_extra("volumeAttachment", data, allowed)
    if "volumeId" not in data:
        raise exception.ValidationError(field="volumeAttachment", value=data,
                                        detail="'volumeId' is a required property")
    vid = data["volumeId"]
    if not isinstance(vid, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}", vid):
        raise exception.ValidationError(field="volumeAttachment/volumeId", value=vid,
                                        detail=f"{vid!r} is not a 'uuid'")
    dot = data.get("delete_on_termination", False)
    if not isinstance(dot, bool):
        raise exception.ValidationError(field="volumeAttachment/delete_on_termination",
                                        value=dot, detail=f"{dot!r} is not of type "
                                                          "'boolean'")
    return data


@validation.schema(schemas.VOLUME_ATTACHMENT_CREATE)
def attach(req: Request, server_id: str):
    """200 ``{"volumeAttachment": {...}}``; from 2.101 a 202 without a body."""
    cloud = req.app.cloud
    data = _body(req)
    volume_id, device = data["volumeId"], data.get("device")
    with cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, POLICY + "create", {"project_id": inst.project_id})
        if inst.locked and not req.context.is_admin:
            raise exception.Conflict(f"Instance {inst.uuid} is locked")
        _check_state(inst, "attach_volume")
        host, inst_zone = inst.host, inst.availability_zone
        offloaded = inst.vm_state == "shelved_offloaded"
        used = [b.device_name for b in s.scalars(select(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == inst.uuid))]
    if device and not DEVICE_RE.match(device):
        raise exception.BadRequest(f"The supplied device path ({device}) is invalid.")
    caller = volume_api.Caller.from_context(req.context)
    cinder = volume_api.CinderAPI(cloud, caller)
    volume = cinder.get(volume_id)
    with cloud.db.reader() as s:
        holders = [b.instance_uuid for b in s.scalars(select(BlockDeviceMapping).where(
            BlockDeviceMapping.volume_id == volume_id))]
    if holders and not volume.get("multiattach"):
        raise volume_api.InvalidVolume(reason=f"volume {volume_id} is already attached to "
                                              f"instances: {' '.join(holders)}")
    if server_id in holders:
        raise volume_api.InvalidVolume(reason=f"volume {volume_id} already attached")
    conf = cloud.config
    release = conf.stackling.stackling.behaviour_release
    error = volume_zones.cross_az_error(conf.nova.cinder.cross_az_attach, server_id,
                                        inst_zone, volume_id,
                                        volume.get("availability_zone"))
    if error:
        raise exception.BadRequest(error)
    if volume.get("multiattach") and not req.version.matches("2.60"):
        raise exception.BadRequest("Multiattach volumes are only supported starting with "
                                   "compute API version 2.60.")
    if device and bd.strip_dev(device) in {bd.strip_dev(u) for u in used if u}:
        device = None
    # Shelved offloaded: the device is named when the server is unshelved on a host.
    device = None if offloaded else device or bd.next_device_name(used)
    attachment_id = None
    if volume_zones.is_2016(release):
        try:
            cinder.action(volume_id, "os-reserve")
        except exception.InvalidInput as err:
            raise volume_api.InvalidVolume(reason=err.message) from None
    else:
        try:
            attachment_id = cinder.attachment_create(volume_id, server_id)["id"]
        except exception.InvalidInput as err:
            raise exception.BadRequest(err.message) from None
    with cloud.db.writer() as s:
        row = bdm.add(
            s, instance_uuid=server_id, source_type="volume", destination_type="volume",
            boot_index=None, device_name=device, volume_id=volume_id,
            volume_size=volume.get("size"), tag=data.get("tag"), no_device=False,
            delete_on_termination=bool(data.get("delete_on_termination", False)),
            attachment_id=attachment_id)
        bdm_id = row.id
        out = view(row, req.version)
        out.pop("attachment_id", None)
        out.pop("bdm_uuid", None)
        out["id"] = volume_id
    if offloaded:
        _attach_offloaded(req, cinder, server_id, bdm_id, volume_id, attachment_id)
        out["device"] = None
    else:
        cloud.rpc.cast(f"compute.{host}", "attach_volume", instance_uuid=server_id,
                       bdm_id=bdm_id, caller=caller.as_dict())
    if req.version.matches("2.101"):
        return empty_response(202)
    ordered = {k: out[k] for k in ("id", "serverId", "volumeId", "device", "tag",
                                   "delete_on_termination") if k in out}
    return json_response({"volumeAttachment": ordered})


def _attach_offloaded(req: Request, cinder: volume_api.CinderAPI, server_id: str,
                      bdm_id: int, volume_id: str, attachment_id: str | None) -> None:
    """``_attach_volume_shelved_offloaded``: no host to connect to, so the API completes
    the attachment without a connector (the volume shows ``in-use``); unshelve connects
    it on the new host. On failure the mapping goes again."""
    cloud, ctx = req.app.cloud, req.context
    try:
        with cloud.db.writer() as s:
            instance_action.record(s, ctx, server_id, "attach_volume")
        with instance_action.event(cloud, server_id, ctx.request_id, "api_attach_volume"):
            if attachment_id:
                cinder.attachment_complete(attachment_id)
            else:       # 2016: os-reserve was done, os-attach marks it in-use
                cinder.action(volume_id, "os-attach",
                              {"instance_uuid": server_id, "mountpoint": None, "mode": "rw"})
    except Exception:
        bdm.destroy(cloud, bdm_id)
        raise


def _detach_offloaded(req: Request, cinder: volume_api.CinderAPI, server_id: str,
                      row: dict) -> None:
    """``_detach_volume_shelved_offloaded``: the attachment is deleted (and the volume
    too with delete_on_termination) and the mapping dropped, all in the API."""
    cloud, ctx = req.app.cloud, req.context
    if not row["attachment_id"]:
        try:
            cinder.action(row["volume_id"], "os-begin_detaching")
        except exception.InvalidInput as err:
            raise volume_api.InvalidVolume(reason=err.message) from None
    with cloud.db.writer() as s:
        instance_action.record(s, ctx, server_id, "detach_volume")
    with instance_action.event(cloud, server_id, ctx.request_id, "api_detach_volume"):
        if not row["attachment_id"]:    # 2016: no connector was stashed; os-detach
            cinder.action(row["volume_id"], "os-detach", {})
        server_volumes.local_cleanup(cloud, cinder.caller, server_id, [row])
        bdm.destroy(cloud, row["id"])


def detach(req: Request, server_id: str, volume_id: str):
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, POLICY + "delete", {"project_id": inst.project_id})
        if inst.locked and not req.context.is_admin:
            raise exception.Conflict(f"Instance {inst.uuid} is locked")
    caller = volume_api.Caller.from_context(req.context)
    cinder = volume_api.CinderAPI(cloud, caller)
    cinder.get(volume_id)
    with cloud.db.reader() as s:
        row = next((b for b in _volume_bdms(s, server_id) if b.volume_id == volume_id), None)
        if row is None:
            raise _not_attached(server_id, volume_id)
        is_root, bdm_id = row.boot_index == 0, row.id
    release = cloud.config.stackling.stackling.behaviour_release
    if is_root:
        raise exception.BadRequest("Can't detach root device volume"
                                   if volume_zones.is_2016(release) else
                                   "Cannot detach a root device volume")
    _check_state(inst, "detach_volume")
    if inst.vm_state == "shelved_offloaded":
        row = next(b for b in bdm.load(cloud, server_id) if b["id"] == bdm_id)
        _detach_offloaded(req, cinder, server_id, row)
        return empty_response(202)
    try:
        cinder.action(volume_id, "os-begin_detaching")
    except exception.InvalidInput as err:
        raise volume_api.InvalidVolume(reason=err.message) from None
    cloud.rpc.cast(f"compute.{inst.host}", "detach_volume", instance_uuid=server_id,
                   bdm_id=bdm_id, caller=caller.as_dict())
    return empty_response(202)


policy.register({POLICY + "swap": "role:admin or role:service"})


def _update_body(req: Request) -> dict:
    """update (volumeId only) before 2.85; update_v285 adds the GET response's fields."""
    data = common.body_key(read_json(req), "volumeAttachment")
    allowed = {"volumeId"}
    if req.version.matches("2.85"):
        allowed |= {"device", "tag", "delete_on_termination", "serverId", "id"}
    common.reject_extra("volumeAttachment", data, allowed)
    if "volumeId" not in data:
        raise exception.ValidationError(field="volumeAttachment", value=data,
                                        detail="'volumeId' is a required property")
    vid = data["volumeId"]
    if not isinstance(vid, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}", vid):
        raise exception.ValidationError(field="volumeAttachment/volumeId", value=vid,
                                        detail=f"{vid!r} is not a 'uuid'")
    return data


def update_attachment(req: Request, server_id: str, volume_id: str):
    """PUT: swap to ``volumeId`` (always before 2.85), else update delete_on_termination.

    Nova only swaps for Cinder, during a volume migration or retype; stackling's Cinder
    migrates no attached volume, so every swap ends in one of Nova's refusals.
    """
    data = _update_body(req)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
    only_swap = not req.version.matches("2.85")
    swap = only_swap or data["volumeId"] != volume_id
    if swap:
        common.authorize(req, POLICY + "swap", {})
    else:
        common.authorize(req, POLICY + "update", {"project_id": inst.project_id})
    if not only_swap:
        _update_regular(req, server_id, volume_id, data)
    if swap:
        _swap(req, server_id, volume_id, data["volumeId"])
    return empty_response(202)


def _update_regular(req: Request, server_id: str, volume_id: str, data: dict) -> None:
    with req.app.cloud.db.writer() as s:
        row = next((b for b in _volume_bdms(s, server_id) if b.volume_id == volume_id), None)
        if row is None:
            raise _bdm_not_found(volume_id)
        for key, current in (("id", volume_id), ("serverId", server_id),
                             ("device", row.device_name), ("tag", row.tag)):
            if key in data and data[key] != current:
                raise exception.BadRequest(f"The {key} property is not mutable")
        if "delete_on_termination" in data:
            bdm.update_fields(
                row, delete_on_termination=_strict_bool(data["delete_on_termination"]))


def _strict_bool(value) -> bool:
    """oslo's bool_from_string(strict=True) behind Nova's ``boolean`` parameter type."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise exception.ValidationError(field="volumeAttachment/delete_on_termination",
                                    value=value, detail=f"{value!r} is not a 'boolean'")


def _bdm_not_found(volume_id: str) -> exception.NotFound:
    return exception.NotFound(f"No volume Block Device Mapping with id {volume_id}.")


def _swap(req: Request, server_id: str, old_id: str, new_id: str) -> None:
    """VolumeAttachmentController._update_volume_swap, in Nova's order of checks."""
    cinder = volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))
    old = cinder.get(old_id)                      # 404 Volume <id> could not be found.
    if not old.get("migration_status"):
        raise exception.Conflict(f"volume {old_id} is not migrating; this API should only "
                                 "be called by Cinder")
    try:
        cinder.get(new_id)
    except volume_api.VolumeNotFound as err:      # in the body, not the URI: 400
        raise exception.BadRequest(err.message) from None
    with req.app.cloud.db.reader() as s:
        if not any(b.volume_id == old_id for b in _volume_bdms(s, server_id)):
            raise _bdm_not_found(old_id)
    raise exception.Conflict("stackling does not swap volumes: its Cinder migrates no "
                             "attached volume (doc/api-versions.md)")
