"""Flavors: objects, the seed set, and /flavors (+ os-extra_specs, os-flavor-access)."""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from stackling import exception
from stackling.compute.api import common, schemas
from stackling.db.models_compute import Flavor, FlavorExtraSpec, FlavorProject
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# The classic m1 set (nova's old defaults), plus a 0-disk flavor for volume-only boots.
SEED = [
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("42", "m1.nano", 192, 1, 0),
]


class FlavorNotFound(exception.NotFound):
    msg_fmt = "Flavor %(flavor_id)s could not be found."


def seed(cloud: Cloud) -> None:
    for flavorid, name, ram, vcpus, disk in SEED:
        create(cloud, name=name, ram=ram, vcpus=vcpus, disk=disk, flavorid=flavorid)


def to_dict(f: Flavor) -> dict[str, Any]:
    return _as_dict(f, {e.key: e.value for e in f.extra_specs},
                    [p.project_id for p in f.projects])


def _as_dict(f, extra_specs: dict[str, str], projects: list[str]) -> dict[str, Any]:
    """``f``: a Flavor or a row of its table."""
    return {"id": f.flavorid, "name": f.name, "ram": f.memory_mb, "vcpus": f.vcpus,
            "disk": f.root_gb, "ephemeral": f.ephemeral_gb, "swap": f.swap,
            "rxtx_factor": f.rxtx_factor, "is_public": f.is_public, "disabled": f.disabled,
            "description": f.description, "extra_specs": extra_specs, "projects": projects}


def _visible(q, ctx):
    if ctx.is_admin:
        return q
    return q.where(or_(Flavor.is_public.is_(True),
                       Flavor.projects.any(FlavorProject.project_id == ctx.project_id)))


def _get(s: Session, flavorid: str) -> Flavor:
    f = s.scalar(select(Flavor).where(Flavor.flavorid == flavorid))
    if f is None:
        raise FlavorNotFound(flavor_id=flavorid)
    return f


# get(), read on every server create: Core statements on the tables (no ORM objects).
_FLAVORS, _SPECS, _PROJECTS = Flavor.__table__, FlavorExtraSpec.__table__, \
    FlavorProject.__table__
_BY_FLAVORID = select(_FLAVORS).where(_FLAVORS.c.flavorid == bindparam("flavorid"))
_SPECS_OF = (select(_SPECS.c.key, _SPECS.c.value)
             .where(_SPECS.c.flavor_id == bindparam("id")).order_by(_SPECS.c.id))
_PROJECTS_OF = (select(_PROJECTS.c.project_id)
                .where(_PROJECTS.c.flavor_id == bindparam("id")).order_by(_PROJECTS.c.id))


def get(cloud: Cloud, flavorid: str, ctx=None) -> dict:
    """The flavor as a dict; a private flavor the caller cannot see is not found."""
    with cloud.db.reader_connection() as s:
        f = s.execute(_BY_FLAVORID, {"flavorid": flavorid}).first()
        if f is None:
            raise FlavorNotFound(flavor_id=flavorid)
        projects = list(s.scalars(_PROJECTS_OF, {"id": f.id}))
        if ctx is not None and not ctx.is_admin and not f.is_public and \
                ctx.project_id not in projects:
            raise FlavorNotFound(flavor_id=flavorid)
        return _as_dict(f, dict(s.execute(_SPECS_OF, {"id": f.id}).all()), projects)


def create(cloud: Cloud, name: str, ram: int, vcpus: int, disk: int,
           flavorid: str | None = None, ephemeral: int = 0, swap: int = 0,
           rxtx_factor: float = 1.0, is_public: bool = True,
           description: str | None = None) -> dict:
    with cloud.db.writer() as s:
        if s.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
            raise exception.Conflict(f"Flavor with name {name} already exists.")
        flavorid = flavorid or str(uuidlib.uuid4())
        if s.scalar(select(Flavor.id).where(Flavor.flavorid == flavorid)) is not None:
            raise exception.Conflict(f"Flavor with ID {flavorid} already exists.")
        f = Flavor(flavorid=flavorid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
                   ephemeral_gb=ephemeral, swap=swap, rxtx_factor=rxtx_factor,
                   is_public=is_public, description=description)
        s.add(f)
        s.flush()
        return to_dict(f)


# -- views -----------------------------------------------------------------------------


def _links(req: Request, flavorid: str) -> list[dict]:
    base = req.app.cloud.public_url("compute")
    project = req.context.project_id
    return [{"rel": "self", "href": f"{base}/v2.1/{project}/flavors/{flavorid}"},
            {"rel": "bookmark", "href": f"{base}/{project}/flavors/{flavorid}"}]


def view(req: Request, f: dict, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f["id"], "name": f["name"]}
    if detail:
        out.update({
            "ram": f["ram"], "disk": f["disk"], "vcpus": f["vcpus"],
            "OS-FLV-EXT-DATA:ephemeral": f["ephemeral"],
            "OS-FLV-DISABLED:disabled": f["disabled"],
            "swap": f["swap"] if (f["swap"] or req.version.matches("2.75")) else "",
            "rxtx_factor": f["rxtx_factor"],
            "os-flavor-access:is_public": f["is_public"],
        })
    out["links"] = _links(req, f["id"])
    if req.version.matches("2.55"):
        out["description"] = f["description"]
    if detail and req.version.matches("2.61") and \
            common.can(req, "os_compute_api:os-flavor-extra-specs:index",
                       {"project_id": req.context.project_id}):
        out["extra_specs"] = f["extra_specs"]
    return out


# -- handlers --------------------------------------------------------------------------


_SORT_KEYS = {"flavorid": Flavor.flavorid, "name": Flavor.name, "memory_mb": Flavor.memory_mb,
              "vcpus": Flavor.vcpus, "root_gb": Flavor.root_gb, "swap": Flavor.swap,
              "ephemeral_gb": Flavor.ephemeral_gb, "rxtx_factor": Flavor.rxtx_factor,
              "id": Flavor.id, "created_at": Flavor.created_at}


def _list(req: Request, detail: bool):
    ctx = req.context
    params = req.GET
    q = select(Flavor)
    is_public = params.get("is_public")
    if ctx.is_admin and is_public is not None:
        if is_public.lower() in ("none",):
            pass
        else:
            q = q.where(Flavor.is_public.is_(is_public.lower() in ("true", "1", "yes", "t")))
    else:
        q = _visible(q, ctx)
    if "minRam" in params:
        q = q.where(Flavor.memory_mb >= common.validate_integer(params["minRam"], "minRam"))
    if "minDisk" in params:
        q = q.where(Flavor.root_gb >= common.validate_integer(params["minDisk"], "minDisk"))
    if req.version.matches("2.102") and "name" in params:
        q = q.where(Flavor.name.contains(params["name"]))
    key = _SORT_KEYS.get(params.get("sort_key", "flavorid"))
    if key is None:
        raise exception.BadRequest("Invalid sort key")
    q = q.order_by(key.desc() if params.get("sort_dir") == "desc" else key.asc(), Flavor.id)
    with req.app.cloud.db.reader() as s:
        flavors = [to_dict(f) for f in s.scalars(q)]
    marker = params.get("marker")
    if marker is not None:
        ids = [f["id"] for f in flavors]
        if marker not in ids:
            raise exception.BadRequest(f"marker [{marker}] not found")
        flavors = flavors[ids.index(marker) + 1:]
    body: dict[str, Any] = {}
    limit = params.get("limit")
    if limit is not None:
        n = common.validate_integer(limit, "limit", 0)
        if len(flavors) > n and n:
            flavors = flavors[:n]
            base = req.app.cloud.public_url("compute")
            path = "flavors/detail" if detail else "flavors"
            body["flavors_links"] = [{"rel": "next", "href": (
                f"{base}/v2.1/{ctx.project_id}/{path}?limit={n}&marker={flavors[-1]['id']}")}]
        else:
            flavors = flavors[:n] if n else flavors
    body["flavors"] = [view(req, f, detail) for f in flavors]
    return json_response(dict(sorted(body.items(), key=lambda kv: kv[0] != "flavors")))


def list_flavors(req: Request):
    return _list(req, detail=False)


def list_flavors_detail(req: Request):
    return _list(req, detail=True)


def show_flavor(req: Request, flavor_id: str):
    return json_response({"flavor": view(req, get(req.app.cloud, flavor_id, req.context))})


def _int_field(data: dict, name: str, key: str, minimum: int, default: Any = None) -> int:
    value = data.get(key, default)
    try:
        number = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and value != number):
            raise ValueError
    except (TypeError, ValueError):
        raise exception.ValidationError(field=key, value=value,
                                        detail=f"{value!r} is not of type 'integer', "
                                               "'string'") from None
    if number < minimum:
        raise exception.ValidationError(field=key, value=value,
                                        detail=f"{value!r} is less than the minimum of "
                                               f"{minimum}")
    return number


_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}


def _boolean(field: str, value) -> bool:
    """Nova's parameter_types.boolean: JSON booleans or true/false-like strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise exception.ValidationError(field=field, value=value,
                                    detail=f"{value!r} is not one of the boolean values")


@validation.schema(schemas.FLAVOR_CREATE, "2.1", "2.54")
@validation.schema(schemas.FLAVOR_CREATE_V255, "2.55")
def create_flavor(req: Request):
    """200 with the flavor (Nova answers 200, not 201)."""
    common.authorize(req, "os_compute_api:os-flavor-manage:create")
    data = common.body_key(read_json(req), "flavor")
    allowed = {"name", "ram", "vcpus", "disk", "id", "OS-FLV-EXT-DATA:ephemeral", "swap",
               "rxtx_factor", "os-flavor-access:is_public"}
    if req.version.matches("2.55"):
        allowed.add("description")
    common.reject_extra("flavor", data, allowed)
    for required in ("name", "ram", "vcpus", "disk"):
        if required not in data:
            raise exception.ValidationError(field="flavor", value=data,
                                            detail=f"'{required}' is a required property")
    name = common.check_name("name", data["name"]).strip()
    flavorid = data.get("id")
    if flavorid is not None:
        flavorid = str(flavorid).strip()
    f = create(req.app.cloud, name=name, flavorid=flavorid,
               ram=_int_field(data, "ram", "ram", 1), vcpus=_int_field(data, "vcpus", "vcpus", 1),
               disk=_int_field(data, "disk", "disk", 0),
               ephemeral=_int_field(data, "ephemeral", "OS-FLV-EXT-DATA:ephemeral", 0, 0),
               swap=_int_field(data, "swap", "swap", 0, 0),
               rxtx_factor=float(data.get("rxtx_factor", 1.0)),
               is_public=_boolean("os-flavor-access:is_public",
                                  data.get("os-flavor-access:is_public", True)),
               description=data.get("description"))
    return json_response({"flavor": view(req, f)})


@validation.schema(schemas.FLAVOR_UPDATE, "2.55")
def update_flavor(req: Request, flavor_id: str):
    """2.55+: only the description may change."""
    if not req.version.matches("2.55"):
        raise exception.MethodNotAllowed()
    common.authorize(req, "os_compute_api:os-flavor-manage:update")
    data = common.body_key(read_json(req), "flavor")
    common.reject_extra("flavor", data, {"description"})
    with req.app.cloud.db.writer() as s:
        f = _get(s, flavor_id)
        f.description = data.get("description")
        s.flush()
        result = to_dict(f)
    return json_response({"flavor": view(req, result)})


def delete_flavor(req: Request, flavor_id: str):
    common.authorize(req, "os_compute_api:os-flavor-manage:delete")
    with req.app.cloud.db.writer() as s:
        s.delete(_get(s, flavor_id))
    return empty_response(202)


# -- extra specs -----------------------------------------------------------------------


def _specs_target(req: Request) -> dict:
    return {"project_id": req.context.project_id}


def list_extra_specs(req: Request, flavor_id: str):
    common.authorize(req, "os_compute_api:os-flavor-extra-specs:index", _specs_target(req))
    return json_response({"extra_specs": get(req.app.cloud, flavor_id, req.context)[
        "extra_specs"]})


def _set_specs(req: Request, flavor_id: str, specs: dict) -> dict:
    for key, value in specs.items():
        if not isinstance(value, (str, int, float, bool)) or not 1 <= len(key) <= 255:
            raise exception.ValidationError(field=key, value=value,
                                            detail="is not a valid extra spec")
    with req.app.cloud.db.writer() as s:
        f = _get(s, flavor_id)
        existing = {e.key: e for e in f.extra_specs}
        for key, value in specs.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if key in existing:
                existing[key].value = text
            else:
                f.extra_specs.append(FlavorExtraSpec(key=key, value=text))
        s.flush()
        return {e.key: e.value for e in f.extra_specs}


def create_extra_specs(req: Request, flavor_id: str):
    common.authorize(req, "os_compute_api:os-flavor-extra-specs:create")
    specs = common.body_key(read_json(req), "extra_specs")
    _set_specs(req, flavor_id, specs)
    return json_response({"extra_specs": specs})


def show_extra_spec(req: Request, flavor_id: str, key: str):
    common.authorize(req, "os_compute_api:os-flavor-extra-specs:show", _specs_target(req))
    specs = get(req.app.cloud, flavor_id, req.context)["extra_specs"]
    if key not in specs:
        raise exception.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return json_response({key: specs[key]})


def update_extra_spec(req: Request, flavor_id: str, key: str):
    common.authorize(req, "os_compute_api:os-flavor-extra-specs:update")
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Request body contains too many items")
    if key not in body:
        raise exception.BadRequest("Request body and URI mismatch")
    _set_specs(req, flavor_id, body)
    return json_response(body)


def delete_extra_spec(req: Request, flavor_id: str, key: str):
    common.authorize(req, "os_compute_api:os-flavor-extra-specs:delete")
    with req.app.cloud.db.writer() as s:
        f = _get(s, flavor_id)
        spec = next((e for e in f.extra_specs if e.key == key), None)
        if spec is None:
            raise exception.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        f.extra_specs.remove(spec)
    return empty_response(200)


# -- access ----------------------------------------------------------------------------


def _access(flavor: dict) -> dict:
    return {"flavor_access": [{"flavor_id": flavor["id"], "tenant_id": p}
                              for p in flavor["projects"]]}


def list_flavor_access(req: Request, flavor_id: str):
    common.authorize(req, "os_compute_api:os-flavor-access")
    f = get(req.app.cloud, flavor_id)
    if f["is_public"]:
        raise exception.NotFound("Access list not available for public flavors.")
    return json_response(_access(f))


def flavor_action(req: Request, flavor_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    action, data = next(iter(body.items()))
    if action not in ("addTenantAccess", "removeTenantAccess") or \
            not isinstance(data, dict) or not isinstance(data.get("tenant"), str):
        raise exception.ValidationError(field=action, value=data,
                                        detail="'tenant' is a required property")
    tenant = data["tenant"]
    with req.app.cloud.db.writer() as s:
        f = _get(s, flavor_id)
        current = {p.project_id: p for p in f.projects}
        if action == "addTenantAccess":
            common.authorize(req, "os_compute_api:os-flavor-access:add_tenant_access")
            if f.is_public:
                raise exception.Conflict("Can not add access to a public flavor.")
            if tenant in current:
                raise exception.Conflict(
                    f"Flavor access already exists for flavor {flavor_id} and project "
                    f"{tenant} combination.")
            f.projects.append(FlavorProject(project_id=tenant))
        else:
            common.authorize(req, "os_compute_api:os-flavor-access:remove_tenant_access")
            if tenant not in current:
                raise exception.NotFound(
                    f"Flavor access not found for {flavor_id} / {tenant} combination.")
            f.projects.remove(current[tenant])
        s.flush()
        result = to_dict(f)
    return json_response(_access(result))
