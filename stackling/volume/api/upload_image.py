"""os-volume_upload_image: a new Glance image from a volume (cinder/api/contrib/
volume_actions.py _volume_upload_image and cinder/volume/api.py copy_volume_to_image).

The API moves the volume to ``uploading`` (compare-and-swap from ``available``, or
``in-use`` with ``force`` when ``enable_force_upload`` is set), creates the image in
Glance (``queued``) with the caller's token and casts to the volume's backend, which
uploads the bytes (converted to the requested disk format) and puts the volume back in
its previous status. The answer describes the new image.
"""

from __future__ import annotations

import copy

from stackling import clients, exception, policy
from stackling.db.models_volume import VolumeType
from stackling.volume import errors
from stackling.volume.api import common, views
from stackling.volume.api.validation import action_schema
from stackling.volume.objects import backends
from stackling.volume.objects import volume as vol_obj
from stackling.web import validation as web_validation
from stackling.web.app import Request, json_response

policy_rule = "volume_extension:volume_actions:upload_image"
policy.register({"volume_extension:volume_actions:upload_public": common.ADMIN})
DISK_FORMATS = ["raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"]
CONTAINER_FORMATS = ["bare", "ovf", "ova", "aki", "ari", "ami", "docker", "compressed"]
# cinder.conf [DEFAULT] glance_core_properties: the volume image metadata not copied
# into the new image as properties.
GLANCE_CORE_PROPERTIES = {"checksum", "container_format", "disk_format", "image_name",
                          "image_id", "min_disk", "min_ram", "name", "size"}

SCHEMA = action_schema("os-volume_upload_image", {
    "type": "object",
    "properties": {
        "image_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "force": web_validation.BOOLEAN,
        "disk_format": {"type": "string", "enum": DISK_FORMATS},
        "container_format": {"type": "string", "enum": CONTAINER_FORMATS},
    },
    "required": ["image_name"], "additionalProperties": False})
SCHEMA_V31 = copy.deepcopy(SCHEMA)
SCHEMA_V31["properties"]["os-volume_upload_image"]["properties"].update({
    "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
    "protected": web_validation.BOOLEAN})


def _type_primitive(row: VolumeType | None) -> dict | None:
    """The volume's type as Cinder's response carries it (the VolumeType object)."""
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "description": row.description,
            "is_public": row.is_public, "extra_specs": dict(row.extra_specs or {}),
            "projects": list(row.projects or []), "qos_specs_id": row.qos_specs_id,
            "created_at": views.ts(row.created_at), "updated_at": views.ts(row.updated_at),
            "deleted": False, "deleted_at": None}


def _image_meta(req: Request, params: dict, glance_metadata: dict) -> dict:
    meta = {"container_format": params.get("container_format", "bare"),
            "disk_format": params.get("disk_format", "raw"), "name": params["image_name"]}
    if req.version is not None and req.version.matches("3.1"):
        meta["visibility"] = params.get("visibility", "private")
        meta["protected"] = backends.is_true(params.get("protected", False))
    for key, value in (glance_metadata or {}).items():
        if key not in GLANCE_CORE_PROPERTIES and key not in meta and \
                not key.startswith("os_glance"):
            meta[key] = value
    return meta


def upload_image(req: Request, volume_id: str, params: dict):
    """202 with ``{"os-volume_upload_image": {...}}``: the volume and the queued image."""
    v31 = req.version is not None and req.version.matches("3.1")
    web_validation.check(req, {"os-volume_upload_image": params}, SCHEMA_V31 if v31 else SCHEMA)
    cloud = req.app.cloud
    force = backends.is_true(params.get("force", False)) and \
        cloud.config.cinder.enable_force_upload
    with cloud.db.reader() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, policy_rule, {"project_id": row.project_id})
        if row.encryption_key_id and (params.get("disk_format", "raw") != "raw" or
                                      params.get("container_format", "bare") != "bare"):
            raise exception.BadRequest("An encrypted volume uploaded as an image must use "
                                       "'raw' disk_format and 'bare' container_format, "
                                       "which are the defaults for these options.")
        meta = _image_meta(req, params, row.glance_metadata)
        if meta.get("visibility") == "public":
            common.authorize(req, "volume_extension:volume_actions:upload_public")
        vtype = _type_primitive(s.get(VolumeType, row.volume_type_id)
                                if row.volume_type_id else None)
        host = (row.host or "").split("#")[0]
    allowed = ("available", "in-use") if force else ("available",)
    with cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        previous = row.status
        if not vol_obj.conditional_update(s, volume_id, allowed, status="uploading",
                                          previous_status=previous):
            raise errors.InvalidVolume(reason=f"Volume {volume_id} status must be "
                                              f"{' or '.join(allowed)}")
    try:
        glance = clients.ServiceClient.for_context(req.context, "image", source="cinder")
        image = glance.request("POST", "/v2/images", meta)[1]
    except Exception as err:
        vol_obj.set_status(cloud, volume_id, "uploading", status=previous,
                           previous_status=None)
        raise exception.BadRequest(str(err)) from None
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "copy_volume_to_image",
                   volume_id=volume_id, image_id=image["id"],
                   disk_format=image["disk_format"], token=req.context.token or "")
    with cloud.db.reader() as s:
        row = common.get_volume(s, req, volume_id)
        out = {"id": row.id, "updated_at": views.ts(row.updated_at), "status": "uploading",
               "display_description": row.display_description, "size": row.size,
               "volume_type": vtype, "image_id": image["id"],
               "container_format": image["container_format"],
               "disk_format": image["disk_format"], "image_name": image.get("name")}
    if "protected" in image:
        out["protected"] = image["protected"]
    if "visibility" in image:
        out["visibility"] = image["visibility"]
    return json_response({"os-volume_upload_image": out}, status=202)
