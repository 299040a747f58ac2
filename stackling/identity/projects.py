"""Keystone projects: CRUD, with domains shown through the projects API (is_domain).

Keystone stores domains as projects with ``is_domain`` true; stackling keeps domains in
their own table and shows them through the projects API with the fields Keystone gives.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from stackling import policy
from stackling.db.models import Domain, Project, RoleAssignment
from stackling.identity import common, crud, domains
from stackling.identity.common import Noun, authorize
from stackling.web.app import Request, json_response

policy.register({"identity:get_project": "role:admin or owner"})


def _view(row: Project) -> dict[str, Any]:
    out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
           "description": row.description or "", "enabled": row.enabled,
           "parent_id": row.parent_id or row.domain_id, "is_domain": False,
           "tags": row.tags or [], "options": {}}
    out.update(row.extra or {})
    return out


def _apply(req: Request, s, row: Project, data: dict, creating: bool) -> None:
    common.in_domain(req, s, row, data, creating)
    if creating:
        row.parent_id = data.get("parent_id") or row.domain_id


NOUN = Noun("projects", "project", Project, _view,
            filters=("name", "domain_id", "enabled", "parent_id"),
            fields=("name", "enabled", "description", "tags"), name_limit=64, managed=True,
            keeps_extra=True, apply=_apply, unique=common.unique_in_domain("project"),
            before_delete=common.drop_assignments(RoleAssignment.target_id),
            on_create=common.enable)


def domain_view(req: Request, d: Domain) -> dict:
    return {"id": d.id, "name": d.name, "domain_id": None, "description": d.description or "",
            "enabled": d.enabled, "parent_id": None, "is_domain": True, "tags": [],
            "options": {}, "links": {"self": f"{common.base(req)}/v3/projects/{d.id}"}}


def _is_domain(req: Request, entity_id: str) -> bool:
    with req.app.cloud.db.reader() as s:
        return s.get(Project, entity_id) is None and s.get(Domain, entity_id) is not None


def _domain_data(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("is_domain", "domain_id", "parent_id")}


def _as_project(req: Request, resp):
    """A domains answer, shown as the project Keystone would show."""
    if resp.status_int not in (200, 201):
        return resp
    with req.app.cloud.db.reader() as s:
        d = s.get(Domain, json.loads(resp.body)["domain"]["id"])
        return json_response({"project": domain_view(req, d)}, status=resp.status_int)


def list_projects(req: Request):
    if "is_domain" in req.GET and common.truthy(req.GET["is_domain"]):
        with req.app.cloud.db.reader() as s:
            stmt = select(Domain).order_by(Domain.id)
            if "name" in req.GET:
                stmt = stmt.where(Domain.name == req.GET["name"])
            if "enabled" in req.GET:
                stmt = stmt.where(Domain.enabled == common.truthy(req.GET["enabled"]))
            rows = [domain_view(req, d) for d in s.scalars(stmt)]
        return json_response({"projects": rows, "links": {
            "self": f"{common.base(req)}{req.path_info}", "previous": None, "next": None}})
    return crud.list_entities(req, NOUN)


def create_project(req: Request):
    data = crud.entity_body(req, NOUN)
    if data.get("is_domain") is True:
        authorize(req, "identity:create_domain")
        req.body = json.dumps({"domain": _domain_data(data)}).encode()
        return _as_project(req, domains.create_domain(req))
    return crud.create_entity(req, NOUN)


def show_project(req: Request, entity_id: str):
    if _is_domain(req, entity_id):
        return _as_project(req, domains.show_domain(req, entity_id))
    return crud.show_entity(req, NOUN, entity_id, {"project_id": entity_id})


def update_project(req: Request, entity_id: str):
    if _is_domain(req, entity_id):
        data = _domain_data(crud.entity_body(req, NOUN))
        req.body = json.dumps({"domain": data}).encode()
        return _as_project(req, domains.update_domain(req, entity_id))
    return crud.update_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id))


def delete_project(req: Request, entity_id: str):
    if _is_domain(req, entity_id):
        return domains.delete_domain(req, entity_id)
    return crud.delete_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id))
