"""Quotas (instances, cores, ram counted from instances; the rest as limits only) and
/os-quota-sets. The check on create raises Nova's TooManyInstances text as a 403."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from stackling import exception
from stackling.compute.api import common, schemas
from stackling.db.models_compute import Instance, Quota
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

# name → [quota] option; the order is Nova's (it decides the order of "overs").
RESOURCES = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
             "server_group_members")
LEGACY = {"fixed_ips": -1, "floating_ips": -1, "security_group_rules": -1,
          "security_groups": -1}
FILES = {"injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
         "injected_files": 5}


class TooManyInstances(exception.Forbidden):
    msg_fmt = ("Quota exceeded for %(overs)s: Requested %(req)s, but already used %(used)s "
               "of %(allowed)s %(overs)s")


def defaults(conf) -> dict[str, int]:
    return {r: getattr(conf.quota, r) for r in RESOURCES}


# Quota class rows (os-quota-class-sets) share the quota table under this project-id
# prefix; Nova keeps them in quota_classes. Only the ``default`` class is used, as in
# Nova: its values override the [quota] defaults for every project.
CLASS_PREFIX = "quota_class:"


def class_values(s: Session, quota_class: str) -> dict[str, int]:
    return {row.resource: row.hard_limit for row in s.scalars(
        select(Quota).where(Quota.project_id == CLASS_PREFIX + quota_class))}


def effective_defaults(s: Session, conf) -> dict[str, int]:
    values = defaults(conf)
    values.update({k: v for k, v in class_values(s, "default").items() if k in values})
    return values


_QUOTAS = Quota.__table__
_LIMIT_ROWS = (select(_QUOTAS.c.project_id, _QUOTAS.c.resource, _QUOTAS.c.hard_limit)
               .where(_QUOTAS.c.project_id.in_([CLASS_PREFIX + "default",
                                                bindparam("project_id")])))


def limits(s: Session, conf, project_id: str) -> dict[str, int]:
    """[quota] defaults, then the ``default`` class's values, then the project's: one
    read for both kinds of row (Core: a read on every create)."""
    values = defaults(conf)
    default_class = CLASS_PREFIX + "default"
    rows = s.execute(_LIMIT_ROWS, {"project_id": project_id})
    classes, projects = [], []
    for row in rows:
        (classes if row.project_id == default_class else projects).append(row)
    values.update({r.resource: r.hard_limit for r in classes if r.resource in values})
    values.update({r.resource: r.hard_limit for r in projects})
    return values


class MetadataLimitExceeded(exception.Forbidden):
    msg_fmt = "Maximum number of metadata items exceeds %(allowed)d"


def check_metadata(s: Session, conf, project_id: str, count: int) -> None:
    """nova.compute.api._check_metadata_properties_quota: the server's whole metadata
    (none is always within the limit: nothing to read)."""
    if not count:
        return
    allowed = limits(s, conf, project_id)["metadata_items"]
    if 0 <= allowed < count:
        raise MetadataLimitExceeded(allowed=allowed)


_INSTANCES = Instance.__table__
_USAGE = (select(func.count(_INSTANCES.c.id), func.coalesce(func.sum(_INSTANCES.c.vcpus), 0),
                 func.coalesce(func.sum(_INSTANCES.c.memory_mb), 0))
          .where(_INSTANCES.c.project_id == bindparam("project_id"),
                 _INSTANCES.c.deleted == 0))


def usage(s: Session, project_id: str) -> dict[str, int]:
    count, cores, ram = s.execute(_USAGE, {"project_id": project_id}).one()
    return {"instances": int(count), "cores": int(cores), "ram": int(ram)}


def check_instances(s: Session, conf, project_id: str, vcpus: int, memory_mb: int,
                    min_count: int, max_count: int) -> int:
    """How many instances (min..max) may be created; TooManyInstances if not even min.

    Follows nova.compute.utils.check_num_instances_quota.
    """
    quotas = limits(s, conf, project_id)
    used = usage(s, project_id)
    deltas = {"instances": max_count, "cores": max_count * vcpus, "ram": max_count * memory_mb}
    overs = [r for r in ("instances", "cores", "ram")
             if quotas[r] >= 0 and used[r] + deltas[r] > quotas[r]]
    if not overs:
        return max_count
    headroom = {r: (quotas[r] - used[r]) if quotas[r] >= 0 else 10 ** 9
                for r in ("instances", "cores", "ram")}
    allowed = headroom["instances"]
    if vcpus:
        allowed = min(allowed, headroom["cores"] // vcpus)
    if memory_mb:
        allowed = min(allowed, headroom["ram"] // memory_mb)
    if allowed > 0 and min_count <= allowed <= max_count:
        return check_instances(s, conf, project_id, vcpus, memory_mb, min_count, allowed)
    num = str(min_count) if min_count == max_count else f"{min_count}-{max_count}"
    requested = {"instances": num, "cores": max_count * vcpus, "ram": max_count * memory_mb}
    raise TooManyInstances(
        overs=", ".join(overs),
        req=", ".join(str(requested[r]) for r in overs),
        used=", ".join(str(quotas[r] - headroom[r]) for r in overs),
        allowed=", ".join(str(quotas[r]) for r in overs))


def check_upsize(s: Session, conf, project_id: str, old_flavor: dict,
                 new_flavor: dict) -> None:
    """``_check_quota_for_upsize``: a resize needs quota for what the new flavor adds
    (cores, ram); a downsize needs none. TooManyInstances (403) names what is over."""
    deltas = {r: int(new_flavor.get(k) or 0) - int(old_flavor.get(k) or 0)
              for r, k in (("cores", "vcpus"), ("ram", "ram"))}
    deltas = {r: d for r, d in deltas.items() if d > 0}
    if not deltas:
        return
    quotas = limits(s, conf, project_id)
    used = usage(s, project_id)
    overs = [r for r in deltas if quotas[r] >= 0 and used[r] + deltas[r] > quotas[r]]
    if overs:
        raise TooManyInstances(overs=", ".join(overs),
                               req=", ".join(str(deltas[r]) for r in overs),
                               used=", ".join(str(used[r]) for r in overs),
                               allowed=", ".join(str(quotas[r]) for r in overs))


# -- handlers --------------------------------------------------------------------------


def _view(req: Request, project_id: str, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": project_id}
    out.update(values)
    if not req.version.matches("2.36"):
        out.update(LEGACY)
    if not req.version.matches("2.57"):
        out.update(FILES)
    return out


def _detail(values: dict[str, int], used: dict[str, int]) -> dict[str, dict]:
    return {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()}


def show_quota_set(req: Request, project_id_q: str):
    project_id = project_id_q
    common.authorize(req, "os_compute_api:os-quota-sets:show", {"project_id": project_id})
    with req.app.cloud.db.reader() as s:
        values = limits(s, common.conf(req), project_id)
    return json_response({"quota_set": _view(req, project_id, values)})


def show_quota_set_detail(req: Request, project_id_q: str):
    project_id = project_id_q
    common.authorize(req, "os_compute_api:os-quota-sets:detail", {"project_id": project_id})
    with req.app.cloud.db.reader() as s:
        values = limits(s, common.conf(req), project_id)
        used = usage(s, project_id)
    view = _view(req, project_id, values)
    detail = _detail({k: v for k, v in view.items() if k != "id"}, used)
    return json_response({"quota_set": {"id": project_id, **detail}})


def show_defaults(req: Request, project_id_q: str):
    project_id = project_id_q
    common.authorize(req, "os_compute_api:os-quota-sets:defaults")
    with req.app.cloud.db.reader() as s:
        values = effective_defaults(s, common.conf(req))
    return json_response({"quota_set": _view(req, project_id, values)})


# -- quota classes ---------------------------------------------------------------------


def _class_view(req: Request, quota_class: str, s: Session) -> dict[str, Any]:
    stored = class_values(s, quota_class)
    view = _view(req, quota_class, effective_defaults(s, common.conf(req)))
    view.update({k: v for k, v in stored.items() if k in view})
    if not req.version.matches("2.50"):     # quota classes drop network entries at 2.50
        view.update({k: stored.get(k, v) for k, v in LEGACY.items()})
        view.pop("server_groups", None)
        view.pop("server_group_members", None)
    return view


def _class_keys(req: Request) -> set[str]:
    allowed = set(RESOURCES)
    if not req.version.matches("2.50"):
        allowed |= set(LEGACY)
    if not req.version.matches("2.57"):
        allowed |= set(FILES)
    return allowed


def show_quota_class_set(req: Request, quota_class: str):
    common.authorize(req, "os_compute_api:os-quota-class-sets:show",
                     {"quota_class": quota_class})
    with req.app.cloud.db.reader() as s:
        view = _class_view(req, quota_class, s)
    return json_response({"quota_class_set": view})


@validation.schema(schemas.quota_update("quota_class_set", {*RESOURCES, *LEGACY, *FILES},
                                        force=False))
def update_quota_class_set(req: Request, quota_class: str):
    """200 with the class's values (without ``id``)."""
    common.authorize(req, "os_compute_api:os-quota-class-sets:update",
                     {"quota_class": quota_class})
    data = common.body_key(read_json(req), "quota_class_set")
    common.reject_extra("quota_class_set", data, _class_keys(req))
    if len(quota_class) > 255:
        raise exception.BadRequest("The quota class name must be at most 255 characters.")
    with req.app.cloud.db.writer() as s:
        for resource, value in data.items():
            limit = common.validate_integer(value, resource, -1)
            row = s.scalar(select(Quota).where(Quota.project_id == CLASS_PREFIX + quota_class,
                                               Quota.resource == resource))
            if row is None:
                s.add(Quota(project_id=CLASS_PREFIX + quota_class, resource=resource,
                            hard_limit=limit))
            else:
                row.hard_limit = limit
        s.flush()
        view = _class_view(req, quota_class, s)
    view.pop("id")
    return json_response({"quota_class_set": view})


@validation.schema(schemas.quota_update("quota_set", {*RESOURCES, *LEGACY, *FILES}))
def update_quota_set(req: Request, project_id_q: str):
    project_id = project_id_q
    """200 with the new limits (without ``id``, as Nova answers)."""
    common.authorize(req, "os_compute_api:os-quota-sets:update")
    data = common.body_key(read_json(req), "quota_set")
    allowed = set(RESOURCES) | {"force"}
    if not req.version.matches("2.36"):
        allowed |= set(LEGACY)
    if not req.version.matches("2.57"):
        allowed |= set(FILES)
    common.reject_extra("quota_set", data, allowed)
    with req.app.cloud.db.writer() as s:
        for resource, value in data.items():
            if resource not in RESOURCES:
                continue
            limit = common.validate_integer(value, resource, -1)
            row = s.scalar(select(Quota).where(Quota.project_id == project_id,
                                               Quota.resource == resource))
            if row is None:
                s.add(Quota(project_id=project_id, resource=resource, hard_limit=limit))
            else:
                row.hard_limit = limit
        s.flush()
        values = limits(s, common.conf(req), project_id)
    view = _view(req, project_id, values)
    view.pop("id")
    return json_response({"quota_set": view})


def delete_quota_set(req: Request, project_id_q: str):
    project_id = project_id_q
    common.authorize(req, "os_compute_api:os-quota-sets:delete")
    with req.app.cloud.db.writer() as s:
        for row in s.scalars(select(Quota).where(Quota.project_id == project_id)):
            s.delete(row)
    return empty_response(202)


def show_limits(req: Request):
    """/limits: absolute limits and usage of the caller's project (or ?tenant_id, admin)."""
    common.authorize(req, "os_compute_api:limits")
    project_id = req.context.project_id
    if req.GET.get("tenant_id") and req.version.matches("2.39"):
        common.authorize(req, "os_compute_api:limits:other_project")
        project_id = req.GET["tenant_id"]
    with req.app.cloud.db.reader() as s:
        q = limits(s, common.conf(req), project_id)
        used = usage(s, project_id)
    absolute = {
        "maxServerMeta": q["metadata_items"], "maxTotalInstances": q["instances"],
        "maxTotalCores": q["cores"], "maxTotalRAMSize": q["ram"],
        "maxTotalKeypairs": q["key_pairs"], "maxServerGroups": q["server_groups"],
        "maxServerGroupMembers": q["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0,
    }
    if not req.version.matches("2.36"):
        absolute.update(maxTotalFloatingIps=-1, totalFloatingIpsUsed=0, maxSecurityGroups=-1,
                        totalSecurityGroupsUsed=0, maxSecurityGroupRules=-1)
    if not req.version.matches("2.39"):
        absolute["maxImageMeta"] = 128
    if not req.version.matches("2.57"):
        absolute.update(maxPersonality=5, maxPersonalitySize=10240)
    return json_response({"limits": {"rate": [], "absolute": absolute}})
