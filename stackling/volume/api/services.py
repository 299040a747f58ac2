"""os-services (admin): cinder-scheduler and one cinder-volume per ``host@backend``."""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, servicegroup
from stackling.db.models import Service
from stackling.volume.api import common, views
from stackling.volume.objects import backends
from stackling.web.app import Request, empty_response, json_response, read_json


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
            row.binary == backends.VOLUME_TOPIC:
        out["backend_state"] = "up" if up and row.capabilities else "down"
    return out


def list_services(req: Request):
    common.authorize(req, "volume_extension:services:index")
    down = backends.down_time(req.app.cloud)
    with req.app.cloud.db.reader() as s:
        q = select(Service).where(Service.project == "cinder").order_by(Service.id)
        if "binary" in req.GET:
            q = q.where(Service.binary == req.GET["binary"])
        rows = s.scalars(q).all()
        if "host" in req.GET:
            rows = [r for r in rows if host_matches(r.host, req.GET["host"])]
        return json_response({"services": [_view(req, r, down) for r in rows]})


def host_matches(host: str | None, value: str) -> bool:
    """Cinder's host filter: ``pool`` (value has ``#``) is an exact match, ``backend``
    (value has ``@``) also matches ``value#pool``, ``host`` also ``value@...``."""
    if host is None:
        return False
    if host == value:
        return True
    if "#" in value:
        return False
    if "@" in value:
        return host.startswith(value + "#")
    return host.startswith(value + "@") or host.startswith(value + "#")


def _string_field(body: dict, key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required and key not in body:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        detail = (f"{value!r} is not of type 'string'" if not isinstance(value, str)
                  else f"{value!r} is too long" if len(value) > 255
                  else f"{value!r} should be non-empty")
        raise exception.ValidationError(field=key, value=value, detail=detail)
    return value


def _validate(body, action: str) -> dict:
    """The request schemas of cinder/api/schemas/services.py."""
    if not isinstance(body, dict):
        raise exception.ValidationError(field="body", value=body,
                                        detail=f"{body!r} is not of type 'object'")
    allowed = {"host", "cluster"}
    if action in ("enable", "disable", "disable-log-reason"):
        allowed |= {"binary", "service"}
    if action == "disable-log-reason":
        allowed.add("disabled_reason")
    extra = sorted(set(body) - allowed)
    if extra:
        quoted = ", ".join(f"'{k}'" for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise exception.BadRequest(f"Invalid input for field/attribute {extra[0]}. Value: "
                                   f"{body[extra[0]]}. Additional properties are not "
                                   f"allowed ({quoted} {verb} unexpected)")
    for key in allowed - {"host", "cluster"}:
        _string_field(body, key)
    if action in ("enable", "disable", "disable-log-reason") and \
            "binary" not in body and "service" not in body:
        raise exception.ValidationError(field="binary", value=None,
                                        detail="'binary' is a required property")
    host = body.get("host")
    if host is not None and (not isinstance(host, str) or not 1 <= len(host) <= 255):
        raise exception.ValidationError(field="host", value=host,
                                        detail=f"{host!r} is not a valid host")
    return body


def _freeze_thaw(req: Request, body: dict, frozen: bool):
    """freeze/thaw: every cinder-volume service of the host; 400 when there is none."""
    host = body.get("host")
    if not host:
        raise exception.InvalidInput(reason="Host field is missing.")
    with req.app.cloud.db.writer() as s:
        rows = [r for r in s.scalars(select(Service).where(
                    Service.project == "cinder", Service.binary == backends.VOLUME_TOPIC))
                if host_matches(r.host, host)]
        if not rows:
            raise exception.InvalidInput(reason=f"No service found with host={host}")
        for r in rows:
            if frozen and r.frozen:
                raise exception.InvalidInput(reason="Volume service is already frozen.")
            if not frozen and not r.frozen:
                raise exception.InvalidInput(reason="Volume service is not frozen.")
            r.frozen = frozen
    return empty_response(200)


def update_service(req: Request, action: str):
    """PUT os-services/enable | disable | disable-log-reason with {"host", "binary"};
    freeze | thaw with {"host"}."""
    common.authorize(req, "volume_extension:services:update")
    if action not in ("enable", "disable", "disable-log-reason", "freeze", "thaw"):
        raise exception.NotFound("Unknown action")
    body = _validate(read_json(req), action)
    if action in ("freeze", "thaw"):
        return _freeze_thaw(req, body, action == "freeze")
    host = body.get("host")
    if not host:
        raise exception.InvalidInput(reason="Host field is missing.")
    # Cinder: the deprecated "service" key is kept; "binary" takes precedence.
    service, binary = body.get("service", ""), body.get("binary", "")
    reason = body.get("disabled_reason") if action == "disable-log-reason" else None
    with req.app.cloud.db.writer() as s:
        row = s.scalar(select(Service).where(Service.project == "cinder",
                                             Service.host == host,
                                             Service.binary == (binary or service)))
        if row is None:
            raise exception.NotFound(f"Service {binary or service} could not be found.")
        row.disabled = action != "enable"
        if action == "enable":
            row.disabled_reason = None
        elif reason:
            row.disabled_reason = reason
        status = "disabled" if row.disabled else "enabled"
    out = {"host": host, "service": service, "binary": binary, "status": status,
           "disabled": status == "disabled"}
    if action == "disable-log-reason":
        out["disabled_reason"] = reason
    return json_response(out)
