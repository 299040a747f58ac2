"""/os-services: list, enable/disable (with reason), forced_down, delete (Nova's shapes)."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import delete, func, select

from stackling import exception
from stackling.compute.api import common
from stackling.compute.objects import zones as az
from stackling.db.models import AggregateHost, Service
from stackling.db.models_compute import ComputeNode, Instance
from stackling.web.app import Request, empty_response, json_response, read_json


def _detail(req: Request, svc: az.ServiceZone) -> dict[str, Any]:
    out = {"binary": svc.binary, "host": svc.host,
           "id": svc.uuid if req.version.matches("2.53") else svc.id,
           "zone": svc.zone, "status": "disabled" if svc.disabled else "enabled",
           "state": "up" if svc.up else "down",
           "updated_at": common.isotime(svc.updated_at),
           "disabled_reason": svc.disabled_reason}
    if req.version.matches("2.11"):
        out["forced_down"] = svc.forced_down
    return out


def list_services(req: Request):
    common.authorize(req, "os_compute_api:os-services:list")
    conf = common.conf(req)
    with req.app.cloud.db.reader() as s:
        services = az.nova_services(s, conf, host=req.GET.get("host"),
                                    binary=req.GET.get("binary"))
    return json_response({"services": [_detail(req, svc) for svc in services]})


def _one(req: Request, service_id: int | str) -> az.ServiceZone:
    with req.app.cloud.db.reader() as s:
        for svc in az.nova_services(s, common.conf(req)):
            if svc.id == service_id or svc.uuid == service_id:
                return svc
    raise exception.NotFound(f"Service {service_id} could not be found.")


def _save(req: Request, service_id: int, **values: Any) -> None:
    with req.app.cloud.db.writer() as s:
        row = s.get(Service, service_id)
        for k, v in values.items():
            setattr(row, k, v)


def update_service(req: Request, service_id: str):
    common.authorize(req, "os_compute_api:os-services:update")
    body = read_json(req)
    if not isinstance(body, dict):
        raise exception.BadRequest("Malformed request body")
    if req.version.matches("2.53"):
        return _update_v253(req, service_id, body)
    return _update_v21(req, service_id, body)


def _update_v253(req: Request, service_id: str, body: dict):
    try:
        uuidlib.UUID(service_id)
    except ValueError:
        raise exception.BadRequest(f"Invalid uuid {service_id}") from None
    common.reject_extra("", body, {"status", "disabled_reason", "forced_down"})
    svc = _one(req, service_id)
    if svc.binary != "nova-compute":
        raise exception.BadRequest(
            f"Updating a {svc.binary} service is not supported. Only nova-compute services "
            "can be updated.")
    changes: dict[str, Any] = {}
    status = body.get("status")
    if "status" in body and status not in ("enabled", "disabled"):
        raise exception.ValidationError(field="status", value=status,
                                        detail=f"{status!r} is not one of ['enabled', "
                                               "'disabled']")
    if status == "enabled":
        if body.get("disabled_reason"):
            raise exception.BadRequest(
                "Specifying 'disabled_reason' with status 'enabled' is invalid.")
        changes.update(disabled=False, disabled_reason=None)
    elif status == "disabled":
        changes.update(disabled=True, disabled_reason=body.get("disabled_reason"))
    if "forced_down" in body:
        if not isinstance(body["forced_down"], bool):
            raise exception.ValidationError(
                field="forced_down", value=body["forced_down"],
                detail=f"{body['forced_down']!r} is not of type 'boolean'")
        changes["forced_down"] = body["forced_down"]
    if not changes:
        raise exception.BadRequest("No updates were requested. Fields 'status' or "
                                   "'forced_down' should be specified.")
    _save(req, svc.id, **changes)
    return json_response({"service": _detail(req, _one(req, svc.id))})


def _update_v21(req: Request, action: str, body: dict):
    actions = {"enable", "disable", "disable-log-reason"}
    if req.version.matches("2.11"):
        actions.add("force-down")
    if action not in actions:
        raise exception.NotFound("Unknown action")
    host, binary = body.get("host"), body.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        missing = "host" if not isinstance(host, str) else "binary"
        raise exception.ValidationError(field="", value=body,
                                        detail=f"'{missing}' is a required property")
    if binary != "nova-compute":
        raise exception.BadRequest(
            f"Updating a {binary} service is not supported. Only nova-compute services can "
            "be updated.")
    with req.app.cloud.db.reader() as s:
        row = s.scalar(select(Service).where(Service.project == "nova", Service.host == host,
                                             Service.binary == binary))
    if row is None:
        raise exception.NotFound(f"Could not find binary {binary} on host {host}.")
    if action == "enable":
        _save(req, row.id, disabled=False, disabled_reason=None)
        result = {"host": host, "binary": binary, "status": "enabled"}
    elif action == "disable":
        _save(req, row.id, disabled=True)
        result = {"host": host, "binary": binary, "status": "disabled"}
    elif action == "disable-log-reason":
        reason = body.get("disabled_reason")
        if not reason:
            raise exception.BadRequest("Missing disabled reason field")
        _save(req, row.id, disabled=True, disabled_reason=reason)
        result = {"host": host, "binary": binary, "status": "disabled",
                  "disabled_reason": reason}
    else:
        if "forced_down" not in body:
            raise exception.BadRequest("Missing forced_down field")
        forced = body["forced_down"] in (True, "true", "True", "1", 1, "yes")
        _save(req, row.id, forced_down=forced)
        result = {"host": host, "binary": binary, "forced_down": forced}
    return json_response({"service": result})


def delete_service(req: Request, service_id: str):
    """204; a compute service that hosts instances is a 409."""
    common.authorize(req, "os_compute_api:os-services:delete")
    if req.version.matches("2.53"):
        try:
            uuidlib.UUID(service_id)
        except ValueError:
            raise exception.BadRequest(f"Invalid uuid {service_id}") from None
        key: int | str = service_id
    else:
        key = common.validate_integer(service_id, "id")
    try:
        svc = _one(req, key)
    except exception.NotFound:
        raise exception.NotFound(f"Service {service_id} not found.") from None
    with req.app.cloud.db.writer() as s:
        if svc.binary == "nova-compute":
            count = s.scalar(select(func.count(Instance.id)).where(
                Instance.host == svc.host, Instance.deleted == 0))
            if count:
                raise exception.Conflict(
                    "Unable to delete compute service that is hosting instances. Migrate "
                    "or delete the instances first.")
            s.execute(delete(AggregateHost).where(AggregateHost.host == svc.host))
            s.execute(delete(ComputeNode).where(ComputeNode.host == svc.host))
        s.execute(delete(Service).where(Service.id == svc.id))
    req.app.cloud.heartbeat.service_ids = [
        i for i in req.app.cloud.heartbeat.service_ids if i != svc.id]
    return empty_response(204)
