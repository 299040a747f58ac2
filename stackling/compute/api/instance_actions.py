"""``/servers/{id}/os-instance-actions`` (nova/api/openstack/compute/instance_actions.py).

2.21 deleted servers stay readable; 2.51 members see events (without tracebacks); 2.58
``updated_at``, ``changes-since``/``limit``/``marker`` and links; 2.62 ``hostId`` (and
``host`` for admins) in events; 2.66 ``changes-before``; 2.84 ``details`` for admins.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import instance as instances
from stackling.db.models_compute import Instance, InstanceAction, InstanceActionEvent
from stackling.web.app import Request, json_response

policy.register({
    "os_compute_api:os-instance-actions:list": common.OWNER_READER,
    "os_compute_api:os-instance-actions:show": common.OWNER_READER,
    "os_compute_api:os-instance-actions:events": common.ADMIN,
    "os_compute_api:os-instance-actions:events:details": common.ADMIN,
})


def _instance(s, req: Request, server_id: str) -> Instance:
    if not req.version.matches("2.21"):
        return instances.get(s, req.context, server_id)
    inst = s.scalar(select(Instance).where(Instance.uuid == server_id)
                    .order_by(Instance.deleted))
    if inst is None or (inst.project_id != req.context.project_id
                        and not req.context.is_admin):
        raise instances.InstanceNotFound(instance_id=server_id)
    return inst


def _action_view(req: Request, a: InstanceAction) -> dict[str, Any]:
    out = {"action": a.action, "instance_uuid": a.instance_uuid, "request_id": a.request_id,
           "user_id": a.user_id, "project_id": a.project_id,
           "start_time": common.isotime(a.start_time), "message": a.message}
    if req.version.matches("2.58"):
        out["updated_at"] = common.isotime(a.updated_at or a.start_time)
    return out


def _event_view(req: Request, e: InstanceActionEvent, project_id: str,
                admin_events: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"event": e.event, "start_time": common.isotime(e.start_time),
                           "finish_time": common.isotime(e.finish_time), "result": e.result}
    if admin_events:
        out["traceback"] = e.traceback
    if req.version.matches("2.62"):
        out["hostId"] = hashlib.sha224((project_id + (e.host or "")).encode()).hexdigest() \
            if e.host else ""
        if admin_events:
            out["host"] = e.host or ""
    if req.version.matches("2.84") and common.can(
            req, "os_compute_api:os-instance-actions:events:details"):
        out["details"] = e.details
    return out


def list_actions(req: Request, server_id: str):
    params = req.GET
    with req.app.cloud.db.reader() as s:
        inst = _instance(s, req, server_id)
        common.authorize(req, "os_compute_api:os-instance-actions:list",
                         {"project_id": inst.project_id})
        q = select(InstanceAction).where(InstanceAction.instance_uuid == server_id)
        paging = req.version.matches("2.58")
        since = params.get("changes-since") if paging else None
        before = params.get("changes-before") if req.version.matches("2.66") else None
        since_t = common.parse_time(since, "changes-since") if since else None
        before_t = common.parse_time(before, "changes-before") if before else None
        if since_t and before_t and since_t > before_t:
            raise exception.BadRequest("The value of changes-since must be less than or "
                                       "equal to changes-before.")
        rows = list(s.scalars(q.order_by(InstanceAction.created_at.desc(),
                                         InstanceAction.id.desc())))
        if since_t:
            rows = [a for a in rows if (a.updated_at or a.created_at) >= since_t]
        if before_t:
            rows = [a for a in rows if (a.updated_at or a.created_at) <= before_t]
        limit = None
        if paging:
            marker = params.get("marker")
            if marker:
                ids = [a.request_id for a in rows]
                if marker not in ids:
                    raise exception.BadRequest(f"Marker {marker} could not be found.")
                rows = rows[ids.index(marker) + 1:]
            if params.get("limit") is not None:
                limit = common.validate_integer(params["limit"], "limit", 0)
        max_limit = common.conf(req).api.max_limit
        n = min(limit, max_limit) if limit is not None else max_limit
        more, rows = len(rows) > n, rows[:n]
        body: dict[str, Any] = {"instanceActions": [_action_view(req, a) for a in rows]}
    if paging and more and rows:
        base = req.app.cloud.public_url("compute")
        body["links"] = [{"rel": "next", "href": (
            f"{base}/v2.1/servers/{server_id}/os-instance-actions?limit={n}"
            f"&marker={rows[-1].request_id}")}]
    return json_response(body)


def show_action(req: Request, server_id: str, request_id: str):
    with req.app.cloud.db.reader() as s:
        inst = _instance(s, req, server_id)
        target = {"project_id": inst.project_id}
        common.authorize(req, "os_compute_api:os-instance-actions:show", target)
        action = s.scalar(select(InstanceAction).where(
            InstanceAction.instance_uuid == server_id,
            InstanceAction.request_id == request_id).order_by(InstanceAction.id.desc()))
        if action is None:
            raise exception.NotFound(f"Action {request_id} not found")
        out = _action_view(req, action)
        admin_events = common.can(req, "os_compute_api:os-instance-actions:events", target)
        if admin_events or req.version.matches("2.51"):
            events = s.scalars(select(InstanceActionEvent).where(
                InstanceActionEvent.action_id == action.id)
                .order_by(InstanceActionEvent.start_time.desc(),
                          InstanceActionEvent.id.desc()))
            out["events"] = [_event_view(req, e, inst.project_id, admin_events)
                             for e in events]
    return json_response({"instanceAction": out})
