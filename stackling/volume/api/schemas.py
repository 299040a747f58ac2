"""Request schemas of the Cinder API, faithful to cinder/api/schemas (types and ranges).

Which keys a microversion accepts stays in the handlers (``_check_unknown``); these
schemas type every field and bound every number, as Cinder's do at every version.
"""

from __future__ import annotations

from stackling import exception
from stackling.volume.api.validation import UUID_OR_NULL, action_schema
from stackling.web.validation import BOOLEAN, MAX_INT, METADATA, obj, register_format, wrap

# cinder/api/validation/parameter_types.py
_NAME = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_SIZE = {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$", "minimum": 1,
         "maximum": MAX_INT}
_METADATA_OR_NULL = {**METADATA, "type": ["object", "null"]}

VOLUME_CREATE = wrap("volume", obj({
    "name": _NAME, "description": _DESCRIPTION, "display_name": _NAME,
    "display_description": _DESCRIPTION, "volume_type": _NAME,
    "metadata": _METADATA_OR_NULL, "snapshot_id": UUID_OR_NULL,
    "source_volid": UUID_OR_NULL, "consistencygroup_id": UUID_OR_NULL,
    "availability_zone": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "multiattach": {**BOOLEAN, "type": ["boolean", "string", "null"],
                    "enum": BOOLEAN["enum"] + [None]},
    "image_id": _NAME, "imageRef": _NAME, "group_id": UUID_OR_NULL,
    "backup_id": UUID_OR_NULL}, additional=True))
VOLUME_UPDATE = wrap("volume", obj({
    "name": _NAME, "description": _DESCRIPTION, "display_name": _NAME,
    "display_description": _DESCRIPTION, "metadata": METADATA}, additional=True))
SNAPSHOT_CREATE = wrap("snapshot", obj({
    "name": _NAME, "display_name": _NAME, "description": _DESCRIPTION,
    "display_description": _DESCRIPTION, "volume_id": UUID_OR_NULL, "force": BOOLEAN,
    "metadata": _METADATA_OR_NULL}, additional=True))
SNAPSHOT_UPDATE = wrap("snapshot", obj({
    "name": _NAME, "description": _DESCRIPTION, "display_name": _NAME,
    "display_description": _DESCRIPTION, "metadata": METADATA}, additional=True))

# cinder/objects/fields.py
VOLUME_STATUSES = (
    "creating", "available", "deleting", "error", "error_deleting", "error_managing",
    "managing", "attaching", "in-use", "detaching", "maintenance", "restoring-backup",
    "error_restoring", "reserved", "awaiting-transfer", "backing-up", "error_backing-up",
    "error_extending", "downloading", "uploading", "retyping", "extending")
SNAPSHOT_STATUSES = ("error", "available", "creating", "deleting", "deleted", "updating",
                     "error_deleting", "unmanaging", "backing-up", "restoring")
MIGRATION_STATUSES = ("migrating", "error", "success", "completing", "none", "starting")
ATTACH_STATUSES = ("attached", "detached")


def _status_format(name: str, label: str, valid: tuple[str, ...], required: bool) -> None:
    """Cinder's status formats raise InvalidParameterValue: a 400 with this text."""

    @register_format(name)
    def check(value) -> bool:
        if not isinstance(value, str):
            return True
        if (value or required) and value.lower() not in valid:
            raise exception.BadRequest(
                f"{label} status: {value} is invalid, valid statuses are: {list(valid)}.")
        return True


_status_format("volume_status", "Volume", VOLUME_STATUSES, False)
_status_format("volume_attach_status", "Volume attach", ATTACH_STATUSES, False)
_status_format("volume_migration_status", "Volume migration", MIGRATION_STATUSES, False)
_status_format("snapshot_status", "Snapshot", SNAPSHOT_STATUSES, True)


@register_format("validate_volume_reset_body")
def _reset_body(value) -> bool:
    if isinstance(value, dict) and not any(
            value.get(k) for k in ("status", "attach_status", "migration_status")):
        raise exception.BadRequest("Must specify 'status', 'attach_status' or "
                                   "'migration_status' for update.")
    return True


RESET_STATUS_VOLUME = action_schema("os-reset_status", {
    "type": "object", "format": "validate_volume_reset_body",
    "properties": {
        "status": {"type": ["string", "null"], "format": "volume_status"},
        "attach_status": {"type": ["string", "null"], "format": "volume_attach_status"},
        "migration_status": {"type": ["string", "null"],
                             "format": "volume_migration_status"}},
    "additionalProperties": False})
RESET_STATUS_SNAPSHOT = action_schema("os-reset_status", {
    "type": "object", "properties": {"status": {"type": "string",
                                                "format": "snapshot_status"}},
    "required": ["status"], "additionalProperties": False})
FORCE_DELETE = action_schema("os-force_delete", {})
EXTEND = action_schema("os-extend", {
    "type": "object", "properties": {"new_size": {**_SIZE, "type": ["integer", "string"]}},
    "required": ["new_size"], "additionalProperties": False})
UPDATE_SNAPSHOT_STATUS = action_schema("os-update_snapshot_status", {
    "type": "object", "properties": {"status": {"type": "string"},
                                     "progress": {"type": "string"}},
    "required": ["status"], "additionalProperties": False})

# schemas/volume_types.py and types_extra_specs.py
_EXTRA_SPECS = {"type": "object", "patternProperties": {
    "^[a-zA-Z0-9-_:.]{1,255}$": {"type": ["string", "null"], "minLength": 0,
                                 "maxLength": 255}}, "additionalProperties": False}
_EXTRA_SPECS_OR_NULL = {"type": ["object", "null"], "patternProperties": {
    "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False}
TYPE_CREATE = wrap("volume_type", obj({
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": _DESCRIPTION, "extra_specs": _EXTRA_SPECS_OR_NULL,
    "os-volume-type-access:is_public": BOOLEAN}, ("name",), additional=True))
TYPE_UPDATE = wrap("volume_type", obj({
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "description": _DESCRIPTION, "is_public": BOOLEAN}, additional=True))
EXTRA_SPECS_CREATE = obj({"extra_specs": _EXTRA_SPECS}, ("extra_specs",))
