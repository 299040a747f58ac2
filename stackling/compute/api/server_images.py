"""createImage: a Glance image of a server's disk, or Cinder snapshots of its volumes behind
an image that boots new volumes from them (nova-lifecycle reference §1).

Image-backed (``nova/compute/api.py snapshot``): the API creates the queued image with the
properties Nova gives it, sets ``image_snapshot_pending`` and casts to the server's host,
which uploads the disk. Volume-backed (``snapshot_volume_backed``): synchronous in the API,
no task state; forced Cinder snapshots of every volume and a 0-byte active image whose
``block_device_mapping`` property lists them.
"""

from __future__ import annotations

import json
from typing import Any

from stackling import exception, policy
from stackling.compute import block_device as bd
from stackling.compute import cinder as volume_api
from stackling.compute import glance as image_api
from stackling.compute.api import common, quotas
from stackling.compute.api.server_actions import check_state
from stackling.compute.objects import bdm, instance_action
from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response

policy.register({
    "os_compute_api:servers:create_image": common.OWNER,
    "os_compute_api:servers:create_image:allow_volume_backed": common.OWNER,
    "os_compute_api:os-create-backup": common.OWNER,
})

SNAPSHOT_STATES = ("active", "stopped", "paused", "suspended")
# [DEFAULT] non_inheritable_image_properties and what Nova never copies to a snapshot.
NON_INHERITABLE = {"cache_in_nova", "bittorrent", "cinder_encryption_key_id",
                   "cinder_encryption_key_deletion_policy", "block_device_mapping",
                   "bdm_v2", "root_device_name", "image_type", "instance_uuid", "user_id",
                   "base_image_ref", "image_location", "image_state", "owner_id",
                   "owner_project_name", "owner_user_name", "stores"}
# nova/utils.py VIM_IMAGE_ATTRIBUTES: a boot volume's image metadata that is no property;
# and what Glance owns on every image.
NOT_PROPERTIES = {"image_id", "image_name", "size", "checksum", "container_format",
                  "disk_format", "min_ram", "min_disk", "os_hash_algo", "os_hash_value",
                  "virtual_size", "status", "owner", "id", "created_at", "updated_at",
                  "os_hidden", "protected", "visibility", "name"}


def _image_body(req: Request, data: Any) -> tuple[str, dict]:
    """``schemas/servers.py create_image``: a name, optional string metadata."""
    if not isinstance(data, dict) or "name" not in data:
        raise exception.ValidationError(field="createImage", value=data,
                                        detail="'name' is a required property")
    common.reject_extra("createImage", data, {"name", "metadata"})
    name = common.check_name("createImage/name", data["name"])
    return name, _image_metadata(req, "createImage", data)


def _image_metadata(req: Request, action: str, data: dict) -> dict:
    """The optional string ``metadata`` of createImage/createBackup; before 2.39 it counts
    against the metadata_items quota."""
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict) or any(
            not isinstance(v, str) or not 1 <= len(k) <= 255 or len(v) > 255
            for k, v in metadata.items()):
        raise exception.ValidationError(field=f"{action}/metadata", value=metadata,
                                        detail="is not a valid metadata dict")
    if metadata and not req.version.matches("2.39"):
        with req.app.cloud.db.reader() as s:
            quotas.check_metadata(s, common.conf(req), req.context.project_id, len(metadata))
    return dict(metadata)


def glance(req: Request) -> image_api.GlanceAPI:
    return image_api.GlanceAPI(req.app.cloud, req.context)


def _boot_image(req: Request, inst: Instance) -> dict:
    """What the instance's system metadata keeps of its boot image (``image_*``): the
    image itself, or a boot volume's ``volume_image_metadata``."""
    if inst.image_ref:
        try:
            return glance(req).get(inst.image_ref)
        except exception.StacklingError:
            return {"id": inst.image_ref, "properties": {}}
    root = next((b for b in bdm.load(req.app.cloud, inst.uuid)
                 if b["boot_index"] == 0 and b["volume_id"]), None)
    if root is None:
        return {"properties": {}}
    cinder = volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))
    try:
        meta = dict(cinder.get(root["volume_id"]).get("volume_image_metadata") or {})
    except exception.StacklingError:
        return {"properties": {}}
    return {"id": meta.get("image_id"), "min_ram": meta.get("min_ram", 0),
            "min_disk": meta.get("min_disk", 0), "properties": meta}


def snapshot_meta(req: Request, inst: Instance, name: str, image_type: str | None,
                  metadata: dict) -> dict:
    """``initialize_instance_snapshot_metadata``: the new image's record (Nova's shape)."""
    boot = _boot_image(req, inst)
    ctx = req.context
    props = {k: v for k, v in (boot.get("properties") or {}).items()
             if k not in NON_INHERITABLE and k not in NOT_PROPERTIES and not k.startswith(("img_signature", "os_glance"))
             and v is not None}
    if boot.get("id"):
        props["base_image_ref"] = boot["id"]
    if ctx.project_id == inst.project_id:
        props.update(owner_project_name=ctx.project_name, owner_user_name=ctx.user_name)
    if image_type is not None:
        props.update(instance_uuid=inst.uuid, user_id=str(ctx.user_id), image_type=image_type)
    props.update(metadata)
    return {"name": name, "min_ram": int(boot.get("min_ram") or 0),
            "min_disk": int(boot.get("min_disk") or 0),
            "visibility": "private" if ctx.project_id == inst.project_id else "shared",
            "properties": {k: v for k, v in props.items() if v is not None}}


def create_queued(req: Request, inst: Instance, meta: dict) -> str:
    """The queued Glance image; the owner project is a member when an admin snapshots."""
    api = glance(req)
    image = api.create(meta)
    if meta["visibility"] == "shared":
        api.add_member(image["id"], inst.project_id)
    return image["id"]


def _respond(req: Request, image_id: str):
    if req.version.matches("2.45"):
        return json_response({"image_id": image_id}, status=202)
    url = req.app.cloud.public_url("image").rstrip("/")
    return empty_response(202, headers={"Location": f"{url}/images/{image_id}"})


def create_image(req: Request, server_id: str, data: Any):
    name, metadata = _image_body(req, data)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:create_image",
                         {"project_id": inst.project_id})
        volume_backed = bool((inst.scheduler_hints or {}).get("_is_bfv"))
        if volume_backed:
            common.authorize(req, "os_compute_api:servers:create_image:allow_volume_backed",
                             {"project_id": inst.project_id})
        # The lock is not checked (nova/compute/api.py snapshot).
        check_state(inst, "createImage", SNAPSHOT_STATES)
        s.expunge(inst)
    if volume_backed:
        return _respond(req, _snapshot_volume_backed(req, inst, name, metadata))
    image_id = create_queued(req, inst, snapshot_meta(req, inst, name, "snapshot", metadata))
    try:
        host = _begin_snapshot(req, server_id)
    except exception.StacklingError:
        glance(req).delete(image_id)
        raise
    req.app.cloud.rpc.cast(f"compute.{host}", "snapshot_instance", instance_uuid=server_id,
                           image_id=image_id,
                           caller=volume_api.Caller.from_context(req.context).as_dict(),
                           request_id=req.context.request_id)
    return _respond(req, image_id)


def _begin_snapshot(req: Request, server_id: str, action: str = "createImage",
                    task: str = "image_snapshot_pending") -> str:
    """``instance.save(expected_task_state=[None])`` with the new task, and the action."""
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        check_state(inst, action, SNAPSHOT_STATES)
        instances.update_fields(inst, task_state=task, updated_at=utcnow())
        instance_action.record(s, req.context, inst.uuid, action)
        return inst.host


def _snapshot_volume_backed(req: Request, inst: Instance, name: str, metadata: dict) -> str:
    cloud, ctx = req.app.cloud, req.context
    cinder = volume_api.CinderAPI(cloud, volume_api.Caller.from_context(ctx))
    mappings = bdm.load(cloud, inst.uuid)
    volumes = [b for b in mappings if b["volume_id"] and b["destination_type"] == "volume"]
    if volumes:
        limits = cinder.absolute_limits()
        allowed = int(limits.get("maxTotalSnapshots", -1))
        if allowed != -1 and int(limits.get("totalSnapshotsUsed", 0)) + len(volumes) > allowed:
            raise exception.Forbidden("Quota exceeded for resources: snapshots")
    meta = snapshot_meta(req, inst, name, None, {})
    with cloud.db.writer() as s:
        instance_action.record(s, ctx, inst.uuid, "createImage")
    image_bdms = []
    with instance_action.event(cloud, inst.uuid, ctx.request_id, "api_snapshot_instance"):
        for b in mappings:
            if b["volume_id"] and b["destination_type"] == "volume":
                description = cinder.get(b["volume_id"]).get("description") or ""
                snap = cinder.create_snapshot_force(b["volume_id"], f"snapshot for {name}",
                                                    description)
                image_bdms.append(bd.snapshot_from_bdm(snap["id"], b))
            elif b["destination_type"] == "local" and b["source_type"] == "blank":
                image_bdms.append({k: v for k, v in b.items() if k not in (
                    "id", "uuid", "instance_uuid", "attachment_id")})
    root = bd.root_bdm(mappings)
    device = (root or {}).get("device_name") or "vda"
    meta["properties"].update(
        root_device_name=device if device.startswith("/dev/") else f"/dev/{device}",
        bdm_v2="True", block_device_mapping=json.dumps(image_bdms), **metadata)
    meta.update(disk_format="raw", container_format="bare")
    image_id = create_queued(req, inst, meta)
    # nova/image/glance.py create: a 0-byte upload makes the image active.
    glance(req).upload(image_id, iter(()), 0)
    return image_id


# -- createBackup ----------------------------------------------------------------------

def _rotation(value: Any) -> int:
    """``parameter_types.non_negative_integer``: an integer or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise exception.ValidationError(field="createBackup/rotation", value=value,
                                        detail=f"{value!r} is not of type 'integer', "
                                               "'string'")
    if isinstance(value, str) and (not value or not value.isdigit() or not value.isascii()):
        raise exception.ValidationError(field="createBackup/rotation", value=value,
                                        detail=f"{value!r} does not match '^[0-9]*$'"
                                        if value else f"{value!r} is too short")
    if int(value) < 0:
        raise exception.ValidationError(field="createBackup/rotation", value=value,
                                        detail=f"{value!r} is less than the minimum of 0")
    return int(value)


def _backup_body(req: Request, data: Any) -> tuple[str, str, int, dict]:
    """``schemas/create_backup.py``: (name, backup_type, rotation, metadata)."""
    if not isinstance(data, dict):
        raise exception.ValidationError(field="createBackup", value=data,
                                        detail=f"{data!r} is not of type 'object'")
    for key in ("name", "backup_type", "rotation"):
        if key not in data:
            raise exception.ValidationError(field="createBackup", value=data,
                                            detail=f"'{key}' is a required property")
    common.reject_extra("createBackup", data, {"name", "backup_type", "rotation", "metadata"})
    name = common.check_name("createBackup/name", data["name"])
    backup_type = data["backup_type"]
    if not isinstance(backup_type, str):
        raise exception.ValidationError(field="createBackup/backup_type", value=backup_type,
                                        detail=f"{backup_type!r} is not of type 'string'")
    rotation = _rotation(data["rotation"])
    return name, backup_type, rotation, _image_metadata(req, "createBackup", data)


def create_backup(req: Request, server_id: str, data: Any):
    """createBackup (nova/api/openstack/compute/create_backup.py): an image-backed
    snapshot of image_type ``backup``; the host then deletes the oldest backups of the
    same ``backup_type`` beyond ``rotation``. Like createImage the lock is not checked."""
    name, backup_type, rotation, metadata = _backup_body(req, data)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-create-backup",
                         {"project_id": inst.project_id})
        check_state(inst, "createBackup", SNAPSHOT_STATES)
        s.expunge(inst)
    if (inst.scheduler_hints or {}).get("_is_bfv"):
        raise exception.BadRequest("Backup is not supported for volume-backed instances.")
    meta = snapshot_meta(req, inst, name, "backup", {**metadata, "backup_type": backup_type})
    image_id = create_queued(req, inst, meta)
    try:
        host = _begin_snapshot(req, server_id, "createBackup", "image_backup")
    except exception.StacklingError:
        glance(req).delete(image_id)
        raise
    req.app.cloud.rpc.cast(f"compute.{host}", "backup_instance", instance_uuid=server_id,
                           image_id=image_id, backup_type=backup_type, rotation=rotation,
                           caller=volume_api.Caller.from_context(req.context).as_dict(),
                           request_id=req.context.request_id)
    if req.version.matches("2.45"):
        return json_response({"image_id": image_id}, status=202)
    # Before 2.45: a Location under the compute API's /images, only with a rotation.
    headers = {}
    if rotation > 0:
        headers["Location"] = f"{req.app.cloud.public_url('compute')}/v2.1/images/{image_id}"
    return empty_response(202, headers=headers)
