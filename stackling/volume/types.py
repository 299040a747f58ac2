"""Volume types and their extra specs (``volume_backend_name``, ``RESKEY:availability_zones``)."""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception
from stackling.db.models_volume import Volume, VolumeType
from stackling.volume import common, errors, views
from stackling.web.app import Request, empty_response, json_response, read_json

DEFAULT_TYPE = "__DEFAULT__"


def seed_default(cloud) -> None:
    """A fresh database gets ``__DEFAULT__`` (Cinder's migration creates it too)."""
    with cloud.db.writer() as s:
        if s.scalar(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE)) is None:
            s.add(VolumeType(name=DEFAULT_TYPE, description="Default Volume Type",
                             is_public=True, extra_specs={}))


def _body(req: Request, key: str) -> dict:
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.ValidationError(field=key, value=None,
                                        detail=f"'{key}' is a required property")
    return body[key]


def list_types(req: Request):
    common.authorize(req, "volume_extension:type_get_all")
    is_public = req.GET.get("is_public")
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(VolumeType).order_by(VolumeType.name)).all()
        if not req.context.is_admin or (is_public is not None and
                                        is_public.lower() not in ("none",)):
            want = True if is_public is None else common.is_true(is_public)
            rows = [r for r in rows if r.is_public == want]
        return json_response({"volume_types": [views.type_view(req, r) for r in rows]})


def show_type(req: Request, type_id: str):
    common.authorize(req, "volume_extension:type_get")
    with req.app.cloud.db.reader() as s:
        if type_id == "default":
            row = common.default_type(req.app.cloud, s)
        else:
            row = s.get(VolumeType, type_id)
            if row is None or (not row.is_public and not req.context.is_admin):
                raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        return json_response({"volume_type": views.type_view(req, row)})


def create_type(req: Request):
    common.authorize(req, "volume_extension:types_manage")
    data = _body(req, "volume_type")
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
                         is_public=common.is_true(is_public),
                         extra_specs={str(k): str(v) for k, v in specs.items()})
        s.add(row)
        s.flush()
        return json_response({"volume_type": views.type_view(req, row, action="create")})


def update_type(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_manage")
    data = _body(req, "volume_type")
    with req.app.cloud.db.writer() as s:
        row = s.get(VolumeType, type_id)
        if row is None:
            raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        if data.get("name"):
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"]
        if "is_public" in data:
            row.is_public = common.is_true(data["is_public"])
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


def _get(s, type_id: str) -> VolumeType:
    row = s.get(VolumeType, type_id)
    if row is None:
        raise errors.VolumeTypeNotFound(volume_type_id=type_id)
    return row


def list_extra_specs(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_extra_specs:index")
    with req.app.cloud.db.reader() as s:
        return json_response({"extra_specs": dict(_get(s, type_id).extra_specs or {})})


def create_extra_specs(req: Request, type_id: str):
    common.authorize(req, "volume_extension:types_extra_specs:create")
    data = _body(req, "extra_specs")
    specs = {str(k): str(v) if not isinstance(v, bool) else str(v) for k, v in data.items()}
    with req.app.cloud.db.writer() as s:
        row = _get(s, type_id)
        row.extra_specs = {**(row.extra_specs or {}), **specs}
    return json_response({"extra_specs": specs})


def show_extra_spec(req: Request, type_id: str, key: str):
    with req.app.cloud.db.reader() as s:
        specs = _get(s, type_id).extra_specs or {}
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
