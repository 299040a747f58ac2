"""Keystone roles: CRUD (global and domain-specific) and implied roles (inference rules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import Domain, ImpliedRole, Role, RoleAssignment
from stackling.identity import common, crud
from stackling.identity.common import Noun, authorize
from stackling.web.app import Request, empty_response, json_response

policy.register({
    **{f"identity:{a}": common.ADMIN for a in ("create_implied_role", "delete_implied_role",
                                               "check_implied_role", "get_implied_role",
                                               "list_implied_roles",
                                               "list_role_inference_rules")},
    # keystone/common/policies/role.py: domain managers see the roles they may hand out.
    "identity:list_roles": "role:admin or (role:manager and domain_scope)",
    "identity:get_role": "role:admin or (role:manager and managed_role)",
})


def _view(row: Role) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "domain_id": row.domain_id,
            "description": row.description, "options": {}}


def _apply(req: Request, s: Session, row: Role, data: dict, creating: bool) -> None:
    if creating:
        row.domain_id = data.get("domain_id") or None
        if row.domain_id is not None and s.get(Domain, row.domain_id) is None:
            raise exception.NotFound(f"Could not find domain: {row.domain_id}.")


def _unique(s: Session, row: Role) -> None:
    common.conflict(s, "role", select(Role.id).where(
        Role.name == row.name, Role.domain_id == row.domain_id, Role.id != row.id), row.name)


def _before_delete(s: Session, row: Role) -> None:
    for a in s.scalars(select(RoleAssignment).where(RoleAssignment.role_id == row.id)):
        s.delete(a)
    for rule in s.scalars(select(ImpliedRole).where(
            (ImpliedRole.prior_role_id == row.id) | (ImpliedRole.implied_role_id == row.id))):
        s.delete(rule)
    s.flush()


NOUN = Noun("roles", "role", Role, _view, filters=("name", "domain_id"),
            fields=("name", "description"), apply=_apply, unique=_unique,
            before_delete=_before_delete)


def list_roles(req: Request):
    # Keystone lists global roles only, unless asked for a domain's roles.
    where = () if req.GET.get("domain_id") else (Role.domain_id.is_(None),)
    return crud.list_entities(req, NOUN, where)


def create_role(req: Request):
    return crud.create_entity(req, NOUN)


def show_role(req: Request, entity_id: str):
    with req.app.cloud.db.reader() as s:
        role = s.get(Role, entity_id)
        target = {"role_name": role.name if role is not None else None}
    return crud.show_entity(req, NOUN, entity_id, target)


def update_role(req: Request, entity_id: str):
    return crud.update_entity(req, NOUN, entity_id)


def delete_role(req: Request, entity_id: str):
    return crud.delete_entity(req, NOUN, entity_id)


# -- implied roles (keystone/api/roles.py, role_inferences.py) --------------------------

# keystone.conf [assignment] prohibited_implied_role
PROHIBITED_IMPLIED = ("admin",)


def _role_ref(req: Request, role: Role) -> dict:
    return {"id": role.id, "name": role.name,
            "links": {"self": f"{common.base(req)}/v3/roles/{role.id}"}}


def _rule(s: Session, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    prior = NOUN.get(s, prior_id)
    implied = NOUN.get(s, implied_id)
    if s.get(ImpliedRole, (prior_id, implied_id)) is None:
        raise exception.NotFound(f"{prior_id} does not imply {implied_id}.")
    return prior, implied


def implied_role(req: Request, prior_role_id: str, implied_role_id: str):
    """PUT (201), GET (200), HEAD (204) and DELETE (204) of one inference rule."""
    method = req.method
    authorize(req, {"PUT": "identity:create_implied_role",
                    "DELETE": "identity:delete_implied_role",
                    "HEAD": "identity:check_implied_role"}.get(method,
                                                               "identity:get_implied_role"))
    with req.app.cloud.db.writer() as s:
        if method == "PUT":
            prior = NOUN.get(s, prior_role_id)
            implied = NOUN.get(s, implied_role_id)
            if implied.name in PROHIBITED_IMPLIED:
                raise exception.Forbidden(f"{implied_role_id} cannot be an implied roles.")
            if prior.domain_id is None and implied.domain_id:
                raise exception.Forbidden("Global role cannot imply a domain-specific role")
            if s.get(ImpliedRole, (prior_role_id, implied_role_id)) is None:
                s.add(ImpliedRole(prior_role_id=prior_role_id,
                                  implied_role_id=implied_role_id))
                s.flush()
        else:
            prior, implied = _rule(s, prior_role_id, implied_role_id)
            if method == "DELETE":
                s.delete(s.get(ImpliedRole, (prior_role_id, implied_role_id)))
        body = {"role_inference": {"prior_role": _role_ref(req, prior),
                                   "implies": _role_ref(req, implied)},
                "links": {"self": f"{common.base(req)}/v3/roles/{prior_role_id}/implies/"
                                  f"{implied_role_id}"}}
    if method in ("PUT", "DELETE"):
        req.app.cloud.identity.invalidate()
    if method in ("HEAD", "DELETE"):
        return empty_response(204)
    return json_response(body, status=201 if method == "PUT" else 200)


def list_implied_roles(req: Request, prior_role_id: str):
    authorize(req, "identity:list_implied_roles")
    with req.app.cloud.db.reader() as s:
        prior = NOUN.get(s, prior_role_id)
        implied = s.scalars(select(Role).join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
                            .where(ImpliedRole.prior_role_id == prior_role_id)).all()
        body = {"role_inference": {"prior_role": _role_ref(req, prior),
                                   "implies": [_role_ref(req, r) for r in implied]},
                "links": {"self": f"{common.base(req)}/v3/roles/{prior_role_id}/implies"}}
    if req.method == "HEAD":
        return empty_response(204)
    return json_response(body)


def role_inferences(req: Request):
    authorize(req, "identity:list_role_inference_rules")
    with req.app.cloud.db.reader() as s:
        roles = {r.id: r for r in s.scalars(select(Role))}
        rules: dict[str, list[dict]] = {}
        for rule in s.scalars(select(ImpliedRole)):
            rules.setdefault(rule.prior_role_id, []).append(
                _role_ref(req, roles[rule.implied_role_id]))
        out = [{"prior_role": _role_ref(req, roles[prior]), "implies": implied}
               for prior, implied in rules.items()]
    return json_response({"role_inferences": out,
                          "links": {"self": f"{common.base(req)}/v3/role_inferences"}})
