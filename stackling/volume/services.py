"""os-services (admin): cinder-scheduler and one cinder-volume per ``host@backend``."""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, servicegroup
from stackling.db.models import Service
from stackling.volume import common, views
from stackling.web.app import Request, json_response, read_json


def _view(req: Request, row: Service, down: int) -> dict:
    up = servicegroup.is_up(row, down)
    out = {"binary": row.binary, "host": row.host, "zone": row.availability_zone,
           "status": "disabled" if row.disabled else "enabled", "state": "up" if up else "down",
           "updated_at": views.ts(row.updated_at), "disabled_reason": row.disabled_reason,
           "replication_status": row.replication_status or "disabled",
           "active_backend_id": row.active_backend_id, "frozen": row.frozen}
    if req.version is not None and req.version.matches("3.7"):
        out["cluster"] = row.cluster_name
    if req.version is not None and req.version.matches("3.49") and \
            row.binary == common.VOLUME_TOPIC:
        out["backend_state"] = "up" if up and row.capabilities else "down"
    return out


def list_services(req: Request):
    common.authorize(req, "volume_extension:services:index")
    down = common.down_time(req.app.cloud)
    with req.app.cloud.db.reader() as s:
        q = select(Service).where(Service.project == "cinder").order_by(Service.id)
        if "host" in req.GET:
            q = q.where(Service.host == req.GET["host"])
        if "binary" in req.GET:
            q = q.where(Service.binary == req.GET["binary"])
        rows = s.scalars(q).all()
        return json_response({"services": [_view(req, r, down) for r in rows]})


def update_service(req: Request, action: str):
    """PUT os-services/enable | disable | disable-log-reason with {"host", "binary"}."""
    common.authorize(req, "volume_extension:services:update")
    if action not in ("enable", "disable", "disable-log-reason"):
        raise exception.NotFound("Unknown action")
    body = read_json(req)
    host, binary = body.get("host"), body.get("binary", common.VOLUME_TOPIC)
    if not host:
        raise exception.BadRequest("Missing required element 'host' in request body.")
    reason = body.get("disabled_reason") if action == "disable-log-reason" else None
    with req.app.cloud.db.writer() as s:
        row = s.scalar(select(Service).where(Service.project == "cinder",
                                             Service.host == host, Service.binary == binary))
        if row is None:
            raise exception.NotFound("Unknown service")
        row.disabled = action != "enable"
        row.disabled_reason = reason if row.disabled else None
        status = "disabled" if row.disabled else "enabled"
    out = {"host": host, "binary": binary, "status": status, "disabled": status == "disabled"}
    if reason:
        out["disabled_reason"] = reason
    return json_response(out)
