"""Volume types and their extra specs (``volume_backend_name``, ``RESKEY:availability_zones``)."""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Volume, VolumeType
from stackling.volume import errors
from stackling.volume.api import common, schemas, views
from stackling.volume.objects import backends, volume_types
from stackling.web import validation as web_validation
from stackling.web.app import Request, empty_response, json_response, read_json

DEFAULT_TYPE = "__DEFAULT__"


def seed_default(cloud) -> None:
    """A fresh database gets ``__DEFAULT__`` (Cinder's migration creates it too)."""
    with cloud.db.writer() as s:
        if s.scalar(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE)) is None:
            s.add(VolumeType(name=DEFAULT_TYPE, description="Default Volume Type",
                             is_public=True, extra_specs={}))


def list_types(req: Request):
    common.authorize(req, "volume_extension:type_get_all")
    is_public = req.GET.get("is_public")
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(VolumeType).order_by(VolumeType.name)).all()
        if not req.context.is_admin:
            # Cinder: public types plus the private ones shared with the project
            rows = [r for r in rows if volume_types.type_visible(r, req.context)]
        elif is_public is None or is_public.lower() != "none":
            # admins choose with is_public (default: public, and those shared with them)
            want = True if is_public is None else backends.is_true(is_public)
            project = req.context.project_id
            rows = [r for r in rows if r.is_public == want or
                    (want and project in (r.projects or []))]
        return json_response({"volume_types": [views.type_view(req, r) for r in rows]})


def show_type(req: Request, type_id: str):
    common.authorize(req, "volume_extension:type_get")
    with req.app.cloud.db.reader() as s:
        if type_id == "default":
            row = volume_types.default_type(req.app.cloud, s)
        else:
            row = s.get(VolumeType, type_id)
            if row is None or not volume_types.type_visible(row, req.context):
                raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        return json_response({"volume_type": views.type_view(req, row)})


@web_validation.schema(schemas.TYPE_CREATE)
def create_type(req: Request):
    common.authorize(req, "volume_extension:types_manage")
    data = common.entity_body(req, "volume_type")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise exception.ValidationError(field="name", value=name,
                                        detail="Name has a minimum character requirement of 1.")
    specs = data.get("extra_specs") or {}
    is_public = data.get("os-volume-type-access:is_public", data.get("is_public", True))
    with req.app.cloud.db.writer() as s:
        if s.scalar(select(VolumeType).where(VolumeType.name == name)) is not None:
            raise errors.VolumeTypeExists(id=name)
        row = VolumeType(name=name, description=data.get("description"),
                         is_public=backends.is_true(is_public),
                         extra_specs={str(k): str(v) for k, v in specs.items()})
        s.add(row)
        s.flush()
        return json_response({"volume_type": views.type_view(req, row, action="create")})


@web_validation.schema(schemas.TYPE_UPDATE)
def update_type(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_manage")
    data = common.entity_body(req, "volume_type")
    with req.app.cloud.db.writer() as s:
        row = s.get(VolumeType, type_id)
        if row is None:
            raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        if data.get("name"):
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"]
        if "is_public" in data:
            row.is_public = backends.is_true(data["is_public"])
        s.flush()
        return json_response({"volume_type": views.type_view(req, row, action="update")})


def delete_type(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_manage")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = s.get(VolumeType, type_id)
        if row is None:
            raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        if row.name == cloud.config.cinder.default_volume_type:
            raise exception.BadRequest("Target volume type is still in use. Default volume "
                                       "type can not be deleted.")
        if s.scalar(select(Volume.id).where(Volume.volume_type_id == type_id).limit(1)):
            raise exception.BadRequest("Target volume type is still in use. Volume Type "
                                       f"{type_id} deletion is not allowed with volumes "
                                       "present with the type.")
        s.delete(row)
    return empty_response(202)


def _get(s, type_id: str, context=None) -> VolumeType:
    """The type; with a ``context``, a private type the project cannot see is 404."""
    row = s.get(VolumeType, type_id)
    if row is None or (context is not None and not volume_types.type_visible(row, context)):
        raise errors.VolumeTypeNotFound(volume_type_id=type_id)
    return row


def list_extra_specs(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_extra_specs:index")
    with req.app.cloud.db.reader() as s:
        return json_response({"extra_specs": dict(
            _get(s, type_id, req.context).extra_specs or {})})


@web_validation.schema(schemas.EXTRA_SPECS_CREATE)
def create_extra_specs(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_extra_specs:create")
    data = common.entity_body(req, "extra_specs")
    specs = {str(k): str(v) if not isinstance(v, bool) else str(v) for k, v in data.items()}
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        row.extra_specs = {**(row.extra_specs or {}), **specs}
    return json_response({"extra_specs": specs})


def show_extra_spec(req: Request, type_id: str, key: str):
    with req.app.cloud.db.reader() as s:
        specs = _get(s, type_id, req.context).extra_specs or {}
        if key not in specs:
            raise errors.VolumeTypeExtraSpecsNotFound(volume_type_id=type_id,
                                                      extra_specs_key=key)
        return json_response({key: specs[key]})


def update_extra_spec(req: Request, type_id: str, key: str):
    common.authorize(req, "volume_extension:types_extra_specs:create")
    body = read_json(req)
    if not isinstance(body, dict) or key not in body or len(body) > 1:
        raise exception.BadRequest("Request body and URI mismatch")
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        row.extra_specs = {**(row.extra_specs or {}), key: str(body[key])}
    return json_response({key: str(body[key])})


def delete_extra_spec(req: Request, type_id: str, key: str):
    common.authorize(req, "volume_extension:types_extra_specs:create")
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        specs = dict(row.extra_specs or {})
        if key not in specs:
            raise errors.VolumeTypeExtraSpecsNotFound(volume_type_id=type_id,
                                                      extra_specs_key=key)
        del specs[key]
        row.extra_specs = specs
    return empty_response(202)


# -- encryption (types/{id}/encryption) ------------------------------------------------

ENCRYPTION_KEYS = ("provider", "cipher", "key_size", "control_location")
CONTROL_LOCATIONS = ("front-end", "back-end")


def _encryption_body(req: Request, creating: bool) -> dict:
    data = common.entity_body(req, "encryption")
    extra = sorted(set(data) - set(ENCRYPTION_KEYS))
    if extra:
        raise exception.ValidationError(
            field="encryption", value=data,
            detail="Additional properties are not allowed (" +
                   ", ".join(f"'{k}'" for k in extra) +
                   (" was" if len(extra) == 1 else " were") + " unexpected)")
    if creating and not data.get("provider"):
        raise exception.ValidationError(field="provider", value=None,
                                        detail="'provider' is a required property")
    if "provider" in data and (not isinstance(data["provider"], str) or
                               not 0 < len(data["provider"]) <= 255):
        raise exception.ValidationError(field="provider", value=data["provider"],
                                        detail="provider must be a non-empty string")
    if data.get("cipher") is not None and not isinstance(data["cipher"], str):
        raise exception.ValidationError(field="cipher", value=data["cipher"],
                                        detail="cipher must be a string or null")
    size = data.get("key_size")
    if size is not None:
        try:
            size = int(size)
            if isinstance(data["key_size"], bool) or size < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise exception.ValidationError(field="key_size", value=data["key_size"],
                                            detail="key_size must be a non-negative "
                                                   "integer") from None
        data["key_size"] = size
    if creating:
        data.setdefault("control_location", "front-end")
    if "control_location" in data and data["control_location"] not in CONTROL_LOCATIONS:
        raise exception.ValidationError(field="control_location",
                                        value=data["control_location"],
                                        detail=f"{data['control_location']!r} is not one of "
                                               "['front-end', 'back-end']")
    return data


def _type_in_use(s, type_id: str) -> bool:
    return s.scalar(select(Volume.id).where(Volume.volume_type_id == type_id).limit(1)) \
        is not None


def _encryption_view(type_id: str, enc: dict) -> dict:
    return {"volume_type_id": type_id, "encryption_id": enc["encryption_id"],
            "provider": enc.get("provider"), "cipher": enc.get("cipher"),
            "key_size": enc.get("key_size"),
            "control_location": enc.get("control_location"),
            "created_at": enc.get("created_at"), "updated_at": enc.get("updated_at"),
            "deleted_at": None, "deleted": False}


def show_encryption(req: Request, type_id: str):
    """The type's encryption, or ``{}`` when it has none (Cinder answers 200 either way)."""
    common.authorize(req, "volume_extension:volume_type_encryption")
    with req.app.cloud.db.reader() as s:
        enc = _get(s, type_id).encryption
        return json_response(_encryption_view(type_id, enc) if enc else {})


def show_encryption_item(req: Request, type_id: str, key: str):
    common.authorize(req, "volume_extension:volume_type_encryption")
    with req.app.cloud.db.reader() as s:
        enc = _get(s, type_id).encryption
        view = _encryption_view(type_id, enc) if enc else {}
        if key not in view:
            raise errors.VolumeTypeEncryptionNotFound(type_id=type_id)
        return json_response({key: view[key]})


def create_encryption(req: Request, type_id: str):
    common.authorize(req, "volume_extension:volume_type_encryption")
    data = _encryption_body(req, creating=True)
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        if _type_in_use(s, type_id):
            raise exception.BadRequest("Cannot create encryption specs. Volume type in use.")
        if row.encryption:
            raise errors.VolumeTypeEncryptionExists(type_id=type_id)
        from stackling.db.models import new_uuid, utcnow

        enc = {"encryption_id": new_uuid(), "provider": data["provider"],
               "cipher": data.get("cipher"), "key_size": data.get("key_size"),
               "control_location": data["control_location"],
               "created_at": views.ts(utcnow()), "updated_at": None}
        row.encryption = enc
    out = {k: v for k, v in _encryption_view(type_id, enc).items()
           if k in ("volume_type_id", "encryption_id") + ENCRYPTION_KEYS}
    return json_response({"encryption": out})


def update_encryption(req: Request, type_id: str, key: str):
    common.authorize(req, "volume_extension:volume_type_encryption")
    data = _encryption_body(req, creating=False)
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        if _type_in_use(s, type_id):
            raise exception.BadRequest("Cannot update encryption specs. Volume type in use.")
        if not row.encryption:
            raise errors.VolumeTypeEncryptionNotFound(type_id=type_id)
        from stackling.db.models import utcnow

        row.encryption = {**row.encryption, **data, "updated_at": views.ts(utcnow())}
    return json_response({"encryption": data})


def delete_encryption(req: Request, type_id: str, key: str):
    common.authorize(req, "volume_extension:volume_type_encryption")
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        if not row.encryption:
            raise errors.VolumeTypeEncryptionNotFound(type_id=type_id)
        if _type_in_use(s, type_id):
            raise exception.BadRequest("Cannot delete encryption specs. Volume type in use.")
        row.encryption = None
    return empty_response(202)


# -- access (private types) ------------------------------------------------------------

policy.register({"volume_extension:volume_type_access": policy.ANY,
                 "volume_extension:volume_type_access:addProjectAccess": common.ADMIN,
                 "volume_extension:volume_type_access:removeProjectAccess": common.ADMIN})


def list_type_access(req: Request, type_id: str):
    common.authorize(req, "volume_extension:volume_type_access:addProjectAccess")
    with req.app.cloud.db.reader() as s:
        row = _get(s, type_id)
        if row.is_public:
            raise exception.NotFound("Access list not available for public volume types.")
        return json_response({"volume_type_access": [
            {"volume_type_id": row.id, "project_id": p} for p in (row.projects or [])]})


def type_action(req: Request, type_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    name, args = next(iter(body.items()))
    if name not in ("addProjectAccess", "removeProjectAccess"):
        raise exception.BadRequest(f"There is no such action: {name}")
    common.authorize(req, f"volume_extension:volume_type_access:{name}")
    project = args.get("project") if isinstance(args, dict) else None
    if not isinstance(project, str) or not 1 <= len(project) <= 255:
        raise exception.ValidationError(field="project", value=project,
                                        detail="'project' is a required property")
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        if row.is_public:
            raise exception.BadRequest("Invalid volume type: Type access modification is "
                                       "not applicable to public volume type.")
        projects = list(row.projects or [])
        if name == "addProjectAccess":
            if project in projects:
                raise exception.Conflict(f"Volume type access for {type_id} / {project} "
                                         "combination already exists.")
            projects.append(project)
        else:
            if project not in projects:
                raise exception.NotFound(f"Volume type access not found for {type_id} / "
                                         f"{project} combination.")
            projects.remove(project)
        row.projects = projects
    return empty_response(202)
