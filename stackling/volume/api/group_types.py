"""Group types and their group specs (3.11+), as cinder/api/v3/group_types.py and
group_specs.py.

Cinder's database migration seeds ``default_cgsnapshot_type`` (the type consistency
groups were migrated to); groups of that type belong to the CG API and are refused
here. ``GET /group_types/default`` answers the ``default_group_type`` option, unset
by default (then 404).
"""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Group, GroupType
from stackling.volume.api import common
from stackling.volume.api.volumes import paginate
from stackling.volume.objects import backends
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "group:group_types:create": common.ADMIN, "group:group_types:update": common.ADMIN,
    "group:group_types:delete": common.ADMIN,
    "group:access_group_types_specs": common.ADMIN,
    "group:group_types_specs:get": common.ADMIN,
    "group:group_types_specs:get_all": common.ADMIN,
    "group:group_types_specs:create": common.ADMIN,
    "group:group_types_specs:update": common.ADMIN,
    "group:group_types_specs:delete": common.ADMIN,
})

DEFAULT_CGSNAPSHOT_TYPE = "default_cgsnapshot_type"
GROUP_TYPE_VERSION = "3.11"
SORT_KEYS = {"id", "name", "description", "is_public", "created_at", "updated_at"}


class GroupTypeNotFound(exception.NotFound):
    msg_fmt = "Group type %(group_type_id)s could not be found."


class GroupTypeNotFoundByName(exception.NotFound):
    msg_fmt = "Group type with name %(group_type_name)s could not be found."


class GroupTypeExists(exception.Conflict):
    msg_fmt = "Group Type %(id)s already exists."


def seed_default(cloud) -> None:
    """Cinder's initial migration creates ``default_cgsnapshot_type`` with
    ``consistent_group_snapshot_enabled: <is> True``."""
    with cloud.db.writer() as s:
        if s.scalar(select(GroupType).where(GroupType.name == DEFAULT_CGSNAPSHOT_TYPE)) is None:
            s.add(GroupType(name=DEFAULT_CGSNAPSHOT_TYPE, is_public=True,
                            description="Default group type for migrating cgsnapshot",
                            group_specs={"consistent_group_snapshot_enabled": "<is> True"}))


def visible(row: GroupType, context) -> bool:
    return context.is_admin or row.is_public or context.project_id in (row.projects or [])


def get_type(s, ref: str, context=None) -> GroupType:
    """By id, then by name (Cinder retries a uuid-like name); 404 in Cinder's words."""
    row = s.get(GroupType, ref) or s.scalar(select(GroupType).where(GroupType.name == ref))
    if row is not None and (context is None or visible(row, context)):
        return row
    if common.UUID_RE.match(ref):
        raise GroupTypeNotFound(group_type_id=ref)
    raise GroupTypeNotFoundByName(group_type_name=ref)


def _by_id(s, req: Request, type_id: str) -> GroupType:
    row = s.get(GroupType, type_id)
    if row is None or not visible(row, req.context):
        raise GroupTypeNotFound(group_type_id=type_id)
    return row


def is_cgsnapshot_type(s, type_id: str | None) -> bool:
    row = s.get(GroupType, type_id) if type_id else None
    return row is not None and row.name == DEFAULT_CGSNAPSHOT_TYPE


def type_view(req: Request, row: GroupType) -> dict:
    out = {"id": row.id, "name": row.name, "description": row.description,
           "is_public": row.is_public}
    if policy.check(req.context, "group:access_group_types_specs"):
        out["group_specs"] = dict(row.group_specs or {})
    return out


BOOL_STRINGS = ("1", "t", "true", "on", "y", "yes", "0", "f", "false", "off", "n", "no")


def _bool(data: dict, key: str):
    """strutils.bool_from_string(strict=True): a boolean or one of its strings."""
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in BOOL_STRINGS:
        return backends.is_true(value)
    raise exception.ValidationError(field=key, value=value,
                                    detail=f"{value!r} is not of type 'boolean'")


def _check_specs(specs) -> dict:
    if not isinstance(specs, dict):
        raise exception.ValidationError(field="group_specs", value=specs,
                                        detail=f"{specs!r} is not of type 'object'")
    for k, v in specs.items():
        if not 1 <= len(k) <= 255 or not isinstance(v, str) or len(v) > 255:
            raise exception.ValidationError(field="group_specs", value=specs,
                                            detail=f"Invalid input for field/attribute {k}.")
    return {str(k): v for k, v in specs.items()}


def _check_name(name, required: bool) -> None:
    if name is None and not required:
        return
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise exception.ValidationError(field="name", value=name,
                                        detail=f"{name!r} is not a valid name")


# -- group types -----------------------------------------------------------------------


def create_group_type(req: Request):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types:create")
    data = common.entity_body(req, "group_type")
    extra = set(data) - {"name", "description", "is_public", "group_specs"}
    if extra:
        raise exception.ValidationError(field="group_type", value=None,
                                        detail="Additional properties are not allowed ("
                                        + ", ".join(f"'{k}'" for k in sorted(extra))
                                        + " unexpected)")
    _check_name(data.get("name"), required=True)
    is_public = _bool(data, "is_public")
    specs = _check_specs(data.get("group_specs") or {})
    with req.app.cloud.db.writer() as s:
        if s.scalar(select(GroupType).where(GroupType.name == data["name"])) is not None:
            raise GroupTypeExists(id=data["name"])
        row = GroupType(name=data["name"], description=data.get("description"),
                        is_public=True if is_public is None else is_public,
                        group_specs=specs, projects=[])
        s.add(row)
        s.flush()
        return json_response({"group_type": type_view(req, row)}, status=202)


def list_group_types(req: Request):
    common.require_version(req, GROUP_TYPE_VERSION)
    ctx = req.context
    want: bool | None = True
    raw = req.GET.get("is_public")
    if ctx.is_admin and raw is not None:
        # api_utils._parse_is_public: "none" lists every type
        want = None if raw.lower() == "none" else backends.is_true(raw)
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(GroupType)).all()
        if want is None:
            rows = [r for r in rows if visible(r, ctx)]
        else:
            rows = [r for r in rows if r.is_public == want or
                    (want and ctx.project_id in (r.projects or []))]
        items = [{**type_view(req, r), "created_at": r.created_at.isoformat()} for r in rows]
    out = paginate(req, items, "group_types", "group_types", valid_keys=SORT_KEYS)
    for item in out["group_types"]:
        item.pop("created_at")
    if "group_types_links" in out:
        out["group_type_links"] = out.pop("group_types_links")
    return json_response(out)


def show_group_type(req: Request, type_id: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        if type_id == "default":
            name = cloud.config.cinder.default_group_type
            row = s.scalar(select(GroupType).where(GroupType.name == name)) if name else None
            if row is None:
                raise exception.NotFound("Default group type can not be found.")
        else:
            row = _by_id(s, req, type_id)
        return json_response({"group_type": type_view(req, row)})


def update_group_type(req: Request, type_id: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types:update")
    data = common.entity_body(req, "group_type")
    name, description = data.get("name"), data.get("description")
    is_public = _bool(data, "is_public")
    if name is not None:
        _check_name(name, required=False)
        if not name.strip():
            raise exception.BadRequest("Group type name can not be empty.")
    if name is None and description is None and is_public is None:
        raise exception.BadRequest("Specify group type name, description or a combination "
                                   "thereof.")
    with req.app.cloud.db.writer() as s:
        row = _by_id(s, req, type_id)
        if name is not None and name != row.name:
            if s.scalar(select(GroupType).where(GroupType.name == name)) is not None:
                raise GroupTypeExists(id=name)
            row.name = name
        if description is not None:
            row.description = description
        if is_public is not None:
            row.is_public = is_public
        s.flush()
        return json_response({"group_type": type_view(req, row)})


def delete_group_type(req: Request, type_id: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types:delete")
    with req.app.cloud.db.writer() as s:
        row = _by_id(s, req, type_id)
        if s.scalar(select(Group.id).where(Group.group_type_id == row.id).limit(1)):
            raise exception.BadRequest(
                "Target group type is still in use. Group Type "
                f"{row.id} deletion is not allowed with groups present with the type.")
        s.delete(row)
    return empty_response(202)


# -- group specs -----------------------------------------------------------------------


def list_group_specs(req: Request, type_id: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types_specs:get_all")
    with req.app.cloud.db.reader() as s:
        row = _by_id(s, req, type_id)
        return json_response({"group_specs": dict(row.group_specs or {})})


def create_group_specs(req: Request, type_id: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types_specs:create")
    body = read_json(req)
    if not isinstance(body, dict) or "group_specs" not in body:
        raise exception.ValidationError(field="group_specs", value=None,
                                        detail="'group_specs' is a required property")
    specs = _check_specs(body["group_specs"])
    with req.app.cloud.db.writer() as s:
        row = _by_id(s, req, type_id)
        row.group_specs = {**(row.group_specs or {}), **specs}
    return json_response(body, status=202)


def show_group_spec(req: Request, type_id: str, key: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types_specs:get")
    with req.app.cloud.db.reader() as s:
        specs = _by_id(s, req, type_id).group_specs or {}
        if key not in specs:
            raise exception.NotFound(f"Group Type {type_id} has no extra spec with key "
                                     f"{key}.")
        return json_response({key: specs[key]})


def update_group_spec(req: Request, type_id: str, key: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types_specs:update")
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.ValidationError(field="group_specs", value=body,
                                        detail="Invalid input: one key and value expected")
    specs = _check_specs(body)
    with req.app.cloud.db.writer() as s:
        row = _by_id(s, req, type_id)
        if key not in specs:
            raise exception.BadRequest("Request body and URI mismatch")
        row.group_specs = {**(row.group_specs or {}), **specs}
    return json_response(body)


def delete_group_spec(req: Request, type_id: str, key: str):
    common.require_version(req, GROUP_TYPE_VERSION)
    common.authorize(req, "group:group_types_specs:delete")
    with req.app.cloud.db.writer() as s:
        row = _by_id(s, req, type_id)
        specs = dict(row.group_specs or {})
        if key not in specs:
            raise exception.NotFound(f"Group Type {type_id} has no specs with key {key}.")
        del specs[key]
        row.group_specs = specs
    return empty_response(202)
