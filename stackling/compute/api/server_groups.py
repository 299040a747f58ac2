"""/os-server-groups and the group scheduler hint (affinity / anti-affinity filters).

Up to 2.63 a group is created with ``policies`` (a one-item list); from 2.64 with
``policy`` and ``rules``. 2.13 adds ``project_id``/``user_id`` to the views; 2.15 the
soft policies. Members are the live servers created with ``{"group": <id>}`` as a
scheduler hint. The scheduler keeps members of an affinity group on one host and those of
an anti-affinity group on different hosts (the soft policies only weigh in Nova; here
they place freely).
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import server_group
from stackling.db.models_compute import ServerGroup
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "os_compute_api:os-server-groups:create": common.OWNER,
    "os_compute_api:os-server-groups:delete": common.OWNER,
    "os_compute_api:os-server-groups:index": common.OWNER_READER,
    "os_compute_api:os-server-groups:index:all_projects": common.ADMIN,
    "os_compute_api:os-server-groups:show": common.OWNER_READER,
})


class GroupNotFound(exception.NotFound):
    msg_fmt = "Instance group %(group_uuid)s could not be found."



def _view(req: Request, g: ServerGroup, s) -> dict[str, Any]:
    out: dict[str, Any] = {"id": g.uuid, "name": g.name}
    if req.version.matches("2.64"):
        out["policy"] = g.policy
        out["rules"] = g.rules or {}
    else:
        out["policies"] = [g.policy]
    out["members"] = [i.uuid for i in server_group.members(s, g.uuid)]
    if not req.version.matches("2.64"):
        out["metadata"] = {}
    if req.version.matches("2.13"):
        out["project_id"] = g.project_id
        out["user_id"] = g.user_id
    return out


def _get(s, req: Request, group_id: str) -> ServerGroup:
    g = s.scalar(select(ServerGroup).where(ServerGroup.uuid == group_id))
    if g is None or (g.project_id != req.context.project_id and not req.context.is_admin):
        raise GroupNotFound(group_uuid=group_id)
    return g


def create_group(req: Request):
    ctx = req.context
    common.authorize(req, "os_compute_api:os-server-groups:create",
                     {"project_id": ctx.project_id, "user_id": ctx.user_id})
    data = common.body_key(read_json(req), "server_group")
    allowed_policies = server_group.HARD + (server_group.SOFT if req.version.matches("2.15")
                                            else ())
    if req.version.matches("2.64"):
        common.reject_extra("server_group", data, {"name", "policy", "rules"})
        if "policy" not in data:
            raise exception.ValidationError(field="server_group", value=data,
                                            detail="'policy' is a required property")
        chosen = data["policy"]
        rules = data.get("rules") or {}
        if not isinstance(rules, dict) or set(rules) - {"max_server_per_host"}:
            raise exception.ValidationError(field="rules", value=rules,
                                            detail="Additional properties are not allowed")
        limit = rules.get("max_server_per_host", 1)
        text = str(limit)
        if isinstance(limit, bool) or not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise exception.ValidationError(  # parameter_types.positive_integer
                field="rules/max_server_per_host", value=limit,
                detail=f"{limit!r} is not valid under any of the given schemas")
        if rules and chosen != "anti-affinity":
            raise exception.BadRequest("Only anti-affinity policy supports rules.")
    else:
        common.reject_extra("server_group", data, {"name", "policies"})
        pols = data.get("policies")
        if not isinstance(pols, list) or len(pols) != 1:
            raise exception.ValidationError(field="policies", value=pols,
                                            detail=f"{pols!r} is not a one-item list")
        chosen, rules = pols[0], {}
    if "name" not in data:
        raise exception.ValidationError(field="server_group", value=data,
                                        detail="'name' is a required property")
    name = common.check_name("name", data["name"])
    if chosen not in allowed_policies:
        raise exception.ValidationError(
            field="policy", value=chosen,
            detail=f"{chosen!r} is not one of {list(allowed_policies)!r}")
    with req.app.cloud.db.writer() as s:
        g = ServerGroup(name=name, project_id=ctx.project_id, user_id=ctx.user_id or "",
                        policy=chosen, rules=rules)
        s.add(g)
        s.flush()
        view = _view(req, g, s)
    return json_response({"server_group": view})


def list_groups(req: Request):
    ctx = req.context
    common.authorize(req, "os_compute_api:os-server-groups:index",
                     {"project_id": ctx.project_id})
    q = select(ServerGroup).order_by(ServerGroup.id)
    every = "all_projects" in req.GET and common.can(
        req, "os_compute_api:os-server-groups:index:all_projects")
    if not every:
        q = q.where(ServerGroup.project_id == ctx.project_id)
    with req.app.cloud.db.reader() as s:
        groups = list(s.scalars(q))
        offset = common.validate_integer(req.GET.get("offset", 0), "offset", 0)
        limit = req.GET.get("limit")
        groups = groups[offset:]
        if limit is not None:
            groups = groups[:common.validate_integer(limit, "limit", 0)]
        body = [_view(req, g, s) for g in groups]
    return json_response({"server_groups": body})


def show_group(req: Request, group_id: str):
    with req.app.cloud.db.reader() as s:
        g = _get(s, req, group_id)
        common.authorize(req, "os_compute_api:os-server-groups:show",
                         {"project_id": g.project_id})
        view = _view(req, g, s)
    return json_response({"server_group": view})


def delete_group(req: Request, group_id: str):
    with req.app.cloud.db.writer() as s:
        g = _get(s, req, group_id)
        common.authorize(req, "os_compute_api:os-server-groups:delete",
                         {"project_id": g.project_id})
        s.delete(g)
    return empty_response(204)


# -- server create and scheduling ------------------------------------------------------


def check_hint(req: Request, hints: dict) -> None:
    """The ``group`` hint must name an existing group of the caller (400 otherwise)."""
    group = hints.get("group")
    if group is None:
        return
    if not isinstance(group, str):
        raise exception.ValidationError(field="group", value=group,
                                        detail=f"{group!r} is not of type 'string'")
    try:
        uuidlib.UUID(group)
    except ValueError:
        raise exception.ValidationError(field="group", value=group,
                                        detail=f"{group!r} is not a 'uuid'") from None
    with req.app.cloud.db.reader() as s:
        g = s.scalar(select(ServerGroup).where(ServerGroup.uuid == group))
        if g is None or (g.project_id != req.context.project_id
                         and not req.context.is_admin):
            raise exception.BadRequest(f"Instance group {group} could not be found.")


