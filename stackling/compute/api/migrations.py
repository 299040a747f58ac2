"""``/os-migrations`` and ``/servers/{id}/migrations`` (nova/api/openstack/compute/
migrations.py, server_migrations.py): 2.23 ``migration_type`` and links, 2.59 ``uuid``
with paging and ``changes-since``, 2.66 ``changes-before``, 2.80 user and project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import instance as instances
from stackling.compute.objects import migration
from stackling.db.models_compute import Flavor, Migration
from stackling.web.app import Request, json_response

# nova/policies/{migrations,servers_migrations}.py (2025.2+): a project manager lists its
# own project's migrations, without the host fields (index:host is admin's).
PROJECT_MANAGER_OR_ADMIN = "role:admin or (role:manager and owner)"
policy.register({
    "os_compute_api:os-migrations:index": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:os-migrations:index:all_projects": common.ADMIN,
    "os_compute_api:os-migrations:index:host": common.ADMIN,
    "os_compute_api:servers:migrations:index": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:servers:migrations:index:host": common.ADMIN,
    "os_compute_api:servers:migrations:show": common.ADMIN,
})
HOST_FIELDS = ("source_node", "dest_node", "source_compute", "dest_compute", "dest_host")


def _hide_hosts(views: list[dict[str, Any]], show: bool) -> list[dict[str, Any]]:
    """Without ``index:host`` the host fields are there, but null (as Nova answers)."""
    if not show:
        for view in views:
            view.update(dict.fromkeys(HOST_FIELDS))
    return views

FILTERS = ("hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")
TYPES = {"resize": "resize", "migration": "migration", "live-migration": "live-migration",
         "evacuation": "evacuation"}


def _view(req: Request, m: Migration, flavor_ids: dict[str, int]) -> dict[str, Any]:
    """``old/new_instance_type_id`` are the flavors' database ids (integers), as Nova's."""
    out: dict[str, Any] = {
        "id": m.id, "created_at": common.isotime(m.created_at),
        "updated_at": common.isotime(m.updated_at), "source_node": m.source_node,
        "dest_node": m.dest_node, "source_compute": m.source_compute,
        "dest_compute": m.dest_compute, "dest_host": m.dest_host, "status": m.status,
        "instance_uuid": m.instance_uuid,
        "old_instance_type_id": flavor_ids.get((m.old_flavor or {}).get("id")),
        "new_instance_type_id": flavor_ids.get((m.new_flavor or {}).get("id"))}
    if req.version.matches("2.23"):
        out["migration_type"] = m.migration_type
        if m.migration_type == "live-migration" and m.status in migration.IN_PROGRESS:
            base = req.app.cloud.public_url("compute")
            out["links"] = [{"rel": "self", "href": f"{base}/v2.1/servers/{m.instance_uuid}"
                                                    f"/migrations/{m.id}"},
                            {"rel": "bookmark", "href": f"{base}/servers/{m.instance_uuid}"
                                                        f"/migrations/{m.id}"}]
    if req.version.matches("2.59"):
        out["uuid"] = m.uuid
    if req.version.matches("2.80"):
        out["user_id"], out["project_id"] = m.user_id, m.project_id
    return out


def list_migrations(req: Request):
    ctx = req.context
    # Nova checks index against the caller's own project (context.can's default target).
    common.authorize(req, "os_compute_api:os-migrations:index", {"project_id": ctx.project_id})
    params = req.GET
    own_only = params.get("project_id") and params["project_id"] == ctx.project_id
    if not own_only:
        common.authorize(req, "os_compute_api:os-migrations:index:all_projects")
    allowed = set(FILTERS)
    if req.version.matches("2.59"):
        allowed |= {"limit", "marker", "changes-since"}
        if req.version.matches("2.66"):
            allowed.add("changes-before")
        if req.version.matches("2.80"):
            allowed |= {"user_id", "project_id"}
        extra = sorted(set(params) - allowed)
        if extra:
            raise exception.BadRequest(f"Invalid input for query parameters {extra[0]}. "
                                       f"Value: {params[extra[0]]}. Additional properties "
                                       f"are not allowed ('{extra[0]}' was unexpected)")
    q = select(Migration)
    if own_only:
        q = q.where(Migration.project_id == ctx.project_id)
    for key in ("instance_uuid", "source_compute", "status", "migration_type", "user_id",
                "project_id"):
        if key in allowed and params.get(key):
            q = q.where(getattr(Migration, key) == params[key])
    if params.get("host"):
        q = q.where((Migration.source_compute == params["host"])
                    | (Migration.dest_compute == params["host"]))
    if req.version.matches("2.59"):
        if params.get("changes-since"):
            q = q.where(Migration.updated_at >= common.parse_time(params["changes-since"],
                                                                  "changes-since"))
        if params.get("changes-before"):
            q = q.where(Migration.updated_at <= common.parse_time(params["changes-before"],
                                                                  "changes-before"))
    with req.app.cloud.db.reader() as s:
        rows = list(s.scalars(q.order_by(Migration.created_at.desc(), Migration.id.desc())))
    body: dict[str, Any] = {}
    if req.version.matches("2.59"):
        marker = params.get("marker")
        if marker:
            ids = [m.uuid for m in rows]
            if marker not in ids:
                raise exception.BadRequest(f"Marker {marker} could not be found.")
            rows = rows[ids.index(marker) + 1:]
        limit = params.get("limit")
        if limit is not None:
            n = common.validate_integer(limit, "limit", 0)
            if len(rows) > n and n:
                base = req.app.cloud.public_url("compute")
                body["migrations_links"] = [{"rel": "next", "href": (
                    f"{base}/v2.1/os-migrations?limit={n}&marker={rows[n - 1].uuid}")}]
            rows = rows[:n]
    with req.app.cloud.db.reader() as s:
        flavor_ids = dict(s.execute(select(Flavor.flavorid, Flavor.id)).all())
    body["migrations"] = _hide_hosts([_view(req, m, flavor_ids) for m in rows], common.can(
        req, "os_compute_api:os-migrations:index:host"))
    return json_response(body)


def list_server_migrations(req: Request, server_id: str):
    """Only live migrations in progress (2.23+)."""
    if not req.version.matches("2.23"):
        raise exception.NotFound("The resource could not be found.")
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:migrations:index",
                         {"project_id": inst.project_id})
        rows = list(s.scalars(select(Migration).where(
            Migration.instance_uuid == server_id,
            Migration.migration_type == "live-migration",
            Migration.status.in_(migration.IN_PROGRESS))))
        show_hosts = common.can(req, "os_compute_api:servers:migrations:index:host",
                                {"project_id": inst.project_id})
    return json_response({"migrations": _hide_hosts([_live_view(req, m) for m in rows],
                                                    show_hosts)})


def show_server_migration(req: Request, server_id: str, migration_id: str):
    if not req.version.matches("2.23"):
        raise exception.NotFound("The resource could not be found.")
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:migrations:show",
                         {"project_id": inst.project_id})
        m = s.get(Migration, int(migration_id)) if migration_id.isdigit() else None
        if m is None or m.instance_uuid != server_id or \
                m.migration_type != "live-migration" or m.status not in migration.IN_PROGRESS:
            raise exception.NotFound(f"In-progress live migration {migration_id} is not "
                                     f"found for server {server_id}.")
        return json_response({"migration": _live_view(req, m)})


def _live_view(req: Request, m: Migration) -> dict[str, Any]:
    out = {"id": m.id, "server_uuid": m.instance_uuid, "source_node": m.source_node,
           "dest_node": m.dest_node, "source_compute": m.source_compute,
           "dest_compute": m.dest_compute, "dest_host": m.dest_host, "status": m.status,
           "created_at": common.isotime(m.created_at),
           "updated_at": common.isotime(m.updated_at),
           "memory_total_bytes": None, "memory_processed_bytes": None,
           "memory_remaining_bytes": None, "disk_total_bytes": None,
           "disk_processed_bytes": None, "disk_remaining_bytes": None}
    if req.version.matches("2.59"):
        out["uuid"] = m.uuid
    if req.version.matches("2.80"):
        out["user_id"], out["project_id"] = m.user_id, m.project_id
    return out
