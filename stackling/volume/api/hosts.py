"""Admin views of the volume hosts: os-hosts (list, show usage), scheduler-stats/get_pools
and capabilities/{host}, as cinder/api/contrib/hosts.py, scheduler_stats.py and
capabilities.py.

Pools come from cinder-scheduler and capabilities from the backend's cinder-volume (RPC
calls, as in Cinder); os-hosts reads the service table.
"""

from __future__ import annotations

from sqlalchemy import func, select

from stackling import exception, policy, servicegroup
from stackling.db.models import Service
from stackling.db.models_volume import Snapshot, Volume
from stackling.volume.api import common, views
from stackling.volume.api.services import host_matches
from stackling.volume.objects import backends, volume_types
from stackling.web.app import Request, json_response

policy.register({
    "volume_extension:hosts": common.ADMIN,
    "scheduler_extension:scheduler_stats:get_pools": common.ADMIN,
    "volume_extension:capabilities": common.ADMIN,
})


def _hosts(req: Request) -> list[dict]:
    """Every enabled Cinder service, up or not (``_list_hosts``), ``?zone=`` filtered."""
    down = backends.down_time(req.app.cloud)
    zone = req.GET.get("zone")
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(Service).where(Service.project == "cinder",
                                               Service.disabled.is_(False))
                         .order_by(Service.id)).all()
    return [{"host_name": r.host, "service": r.topic, "zone": r.availability_zone,
             "service-status": "available" if servicegroup.is_up(r, down) else "unavailable",
             "service-state": "disabled" if r.disabled else "enabled",
             "last-update": views.ts(r.updated_at)}
            for r in rows if not zone or r.availability_zone == zone]


def list_hosts(req: Request):
    common.authorize(req, "volume_extension:hosts")
    return json_response({"hosts": _hosts(req)})


def _usage(s, host: str, project: str | None) -> dict:
    """Counts and gigabytes of the volumes (and their snapshots) on ``host``."""
    on_host = (Volume.host == host) | Volume.host.like(f"{host}#%")
    vq = select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0)).where(on_host)
    sq = (select(func.count(Snapshot.id), func.coalesce(func.sum(Snapshot.volume_size), 0))
          .join(Volume, Volume.id == Snapshot.volume_id).where(on_host))
    if project is not None:
        vq = vq.where(Volume.project_id == project)
        sq = sq.where(Snapshot.project_id == project)
    (count, size), (snaps, snap_size) = s.execute(vq).one(), s.execute(sq).one()
    return {"volume_count": str(count), "total_volume_gb": str(int(size)),
            "snapshot_count": str(snaps), "total_snapshot_gb": str(int(snap_size))}


def show_host(req: Request, host: str):
    """The volume usage on a cinder-volume host: a ``(total)`` row, then one per project."""
    common.authorize(req, "volume_extension:hosts")
    with req.app.cloud.db.reader() as s:
        svc = s.scalar(select(Service).where(Service.project == "cinder",
                                             Service.topic == backends.VOLUME_TOPIC,
                                             Service.host == host))
        if svc is None:
            raise exception.NotFound(f"Service {backends.VOLUME_TOPIC} could not be found "
                                     f"on host {host}.")
        projects = sorted(set(s.scalars(select(Volume.project_id).where(
            (Volume.host == host) | Volume.host.like(f"{host}#%")))))
        rows = [{"host": host, "project": "(total)", **_usage(s, host, None)}]
        rows += [{"host": host, "project": p, **_usage(s, host, p)} for p in projects]
    return json_response({"host": [{"resource": r} for r in rows]})


def get_pools(req: Request):
    """GET /scheduler-stats/get_pools[?detail=true]; 3.28 filters by ``name`` and
    ``volume_type``."""
    common.authorize(req, "scheduler_extension:scheduler_stats:get_pools")
    detail = backends.is_true(req.GET.get("detail", "false"))
    filters = {}
    if req.version is not None and req.version.matches("3.28"):
        filters = {k: v for k, v in req.GET.items() if k not in ("detail",)}
        if "volume_type" in filters:
            with req.app.cloud.db.reader() as s:
                filters["volume_type"] = volume_types.type_dict(
                    volume_types.find_type(s, filters["volume_type"]))
    pools = req.app.cloud.rpc.call(backends.SCHEDULER_TOPIC, "get_pools", filters=filters)
    if not detail:
        pools = [{"name": p["name"]} for p in pools]
    return json_response({"pools": pools})


def show_capabilities(req: Request, host: str):
    common.authorize(req, "volume_extension:capabilities")
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(Service.host).where(
            Service.project == "cinder", Service.binary == backends.VOLUME_TOPIC)).all()
    matches = [h for h in rows if host_matches(h, host)]
    if not matches:
        raise exception.NotFound(f"Can't find service: {host}")
    caps = req.app.cloud.rpc.call(f"{backends.VOLUME_TOPIC}.{matches[0]}",
                                  "get_capabilities", discover=False)
    return json_response({
        "namespace": f"OS::Storage::Capabilities::{matches[0]}",
        "vendor_name": caps.get("vendor_name"),
        "volume_backend_name": caps.get("volume_backend_name"),
        "pool_name": caps.get("pool_name"), "driver_version": caps.get("driver_version"),
        "storage_protocol": caps.get("storage_protocol"),
        "display_name": caps.get("display_name"), "description": caps.get("description"),
        "visibility": caps.get("visibility"),
        "replication_targets": caps.get("replication_targets", []),
        "properties": caps.get("properties")})
