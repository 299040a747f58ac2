"""Keystone v3 API handlers: discovery, tokens, catalog and the admin CRUD resources."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import discovery, exception, explain, policy
from stackling.db.models import (
    CatalogService,
    Domain,
    Endpoint,
    Group,
    GroupMembership,
    ImpliedRole,
    Project,
    Region,
    Role,
    RoleAssignment,
    User,
)
from stackling.identity import credentials, schemas
from stackling.web.app import ApiApp, Request, ServiceInfo, empty_response, json_response, read_json
from stackling.web import validation
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud


class Forbidden(exception.Forbidden):
    msg_fmt = "You are not authorized to perform the requested action: %(action)s."


INFO = ServiceInfo(
    name="identity", fault_style="keystone",
    unexpected_message="An unexpected error prevented the server from fulfilling your "
                       "request.",
    request_id_headers=("x-openstack-request-id",),
)

ADMIN = policy.ADMIN
SELF = "role:admin or self"
# Keystone's domain manager persona (2024.1+): a domain-scoped manager manages the users,
# projects and groups of its own domain (keystone/common/policies/{user,project,group}.py).
DOMAIN_MANAGER = "role:admin or (role:manager and domain)"
MANAGED = ("users", "projects", "groups")
policy.register({
    **{f"identity:{verb}_{noun}": ADMIN
       for verb in ("list", "get", "create", "update", "delete")
       for noun in ("users", "user", "projects", "project", "domains", "domain", "roles", "role",
                    "services", "service", "endpoints", "endpoint", "regions", "region",
                    "groups", "group")},
    "identity:list_users_in_group": ADMIN, "identity:check_user_in_group": ADMIN,
    "identity:list_groups_for_user": SELF,
    "identity:get_region": policy.ANY, "identity:list_regions": policy.ANY,
    "identity:get_domain": "role:admin or owner",
    "identity:get_project": "role:admin or owner",
    "identity:get_user": SELF,
    "identity:list_user_projects": SELF,
    "identity:list_role_assignments": ADMIN,
    # keystone/common/policies/grant.py: a domain manager grants and revokes manager,
    # member and reader between the users/groups and projects of its own domain.
    "identity:create_grant": "role:admin or (role:manager and domain and managed_role)",
    "identity:revoke_grant": "role:admin or (role:manager and domain and managed_role)",
    "identity:check_grant": ADMIN,
    "identity:list_grants": ADMIN,
    **{f"identity:{a}": ADMIN for a in ("create_implied_role", "delete_implied_role",
                                        "check_implied_role", "get_implied_role",
                                        "list_implied_roles", "list_role_inference_rules")},
    "identity:validate_token": policy.ANY, "identity:revoke_token": policy.ANY,
    **{f"identity:{verb}_{noun}": DOMAIN_MANAGER
       for verb in ("create", "update", "delete") for noun in ("user", "project", "group")},
    # group and user both in the manager's domain
    "identity:add_user_to_group": DOMAIN_MANAGER,
    "identity:remove_user_from_group": DOMAIN_MANAGER,
    # keystone/common/policies/role.py: domain managers see the roles they may hand out.
    "identity:list_roles": "role:admin or (role:manager and domain_scope)",
    "identity:get_role": "role:admin or (role:manager and managed_role)",
})

NOUNS = {"users": User, "projects": Project, "roles": Role, "domains": Domain,
         "services": CatalogService, "endpoints": Endpoint, "regions": Region, "groups": Group}
SINGULAR = {"users": "user", "projects": "project", "roles": "role", "domains": "domain",
            "services": "service", "endpoints": "endpoint", "regions": "region",
            "groups": "group"}


def authorize(req: Request, action: str, target: dict | None = None) -> None:
    policy.authorize(req.context, action, target, error=Forbidden)


def base(req: Request) -> str:
    return req.app.cloud.public_url("identity")


# -- discovery -------------------------------------------------------------------------


def versions(req: Request):
    doc = discovery.identity_version(base(req))
    return json_response({"versions": {"values": [doc]}}, status=300,
                         headers={"Location": f"{base(req)}/v3/"})


def version_v3(req: Request):
    return json_response({"version": discovery.identity_version(base(req))})


# -- tokens ----------------------------------------------------------------------------


def issue_token(req: Request):
    body = read_json(req)
    if not isinstance(body, dict) or "auth" not in body:
        raise exception.BadRequest(
            "Expecting to find auth in request body. The server could not comply with the "
            "request since it is either malformed or otherwise incorrect. The client is "
            "assumed to be in error.")
    identity = req.app.cloud.identity
    token, info = identity.authenticate(body["auth"])
    catalog = "nocatalog" not in req.GET
    return json_response(identity.token_body(info, catalog), status=201,
                         headers={"X-Subject-Token": token})


def _subject(req: Request):
    subject = req.headers.get("X-Subject-Token")
    if not subject:
        raise exception.NotFound("Could not find token: None.")
    return subject, req.app.cloud.identity.validate(subject)


def validate_token(req: Request):
    subject, info = _subject(req)
    body = req.app.cloud.identity.token_body(info, "nocatalog" not in req.GET)
    return json_response(body, headers={"X-Subject-Token": subject})


def revoke_token(req: Request):
    subject, _ = _subject(req)
    req.app.cloud.identity.revoke(subject)
    return empty_response(204)


def auth_catalog(req: Request):
    ctx = req.context
    if not ctx.project_id and not ctx.domain_id and not ctx.system_scope:
        raise exception.Forbidden("The service catalog is empty.")
    return json_response({"catalog": req.app.cloud.identity.catalog(ctx.project_id),
                          "links": {"self": f"{base(req)}/v3/auth/catalog",
                                    "previous": None, "next": None}})


def _targets(s: Session, req: Request, kinds: tuple[str, ...]) -> set[str]:
    actors = req.app.cloud.identity.actor_ids(s, req.context.user_id)
    return set(s.scalars(select(RoleAssignment.target_id).where(
        RoleAssignment.actor_id.in_(actors), RoleAssignment.type.in_(kinds))))


def auth_projects(req: Request):
    with req.app.cloud.db.reader() as s:
        ids = _targets(s, req, ("UserProject", "GroupProject"))
        rows = s.scalars(select(Project).where(Project.id.in_(ids), Project.enabled)).all()
        return _list_response(req, "projects", rows, "/v3/auth/projects")


def auth_domains(req: Request):
    with req.app.cloud.db.reader() as s:
        ids = _targets(s, req, ("UserDomain", "GroupDomain"))
        rows = s.scalars(select(Domain).where(Domain.id.in_(set(ids)))).all()
        return _list_response(req, "domains", rows, "/v3/auth/domains")


# -- views -----------------------------------------------------------------------------


def view(req: Request, noun: str, row: Any) -> dict:
    link = {"self": f"{base(req)}/v3/{noun}/{row.id}"}
    if noun == "users":
        out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
               "enabled": row.enabled, "password_expires_at": None, "options": {}}
        if row.default_project_id:
            out["default_project_id"] = row.default_project_id
        if row.description is not None:
            out["description"] = row.description
        if row.email is not None:
            out["email"] = row.email
        out.update(row.extra or {})
    elif noun == "projects":
        out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
               "description": row.description or "", "enabled": row.enabled,
               "parent_id": row.parent_id or row.domain_id, "is_domain": False,
               "tags": row.tags or [], "options": {}}
        out.update(row.extra or {})
    elif noun == "domains":
        out = {"id": row.id, "name": row.name, "description": row.description or "",
               "enabled": row.enabled, "tags": [], "options": {}}
    elif noun == "roles":
        out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
               "description": row.description, "options": {}}
    elif noun == "services":
        out = {"id": row.id, "type": row.type, "name": row.name,
               "description": row.description, "enabled": row.enabled}
    elif noun == "endpoints":
        out = {"id": row.id, "interface": row.interface, "region": row.region_id,
               "region_id": row.region_id, "service_id": row.service_id, "url": row.url,
               "enabled": row.enabled}
    elif noun == "groups":
        out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
               "description": row.description or ""}
    else:  # regions
        out = {"id": row.id, "description": row.description,
               "parent_region_id": row.parent_region_id}
    out["links"] = link
    return out


def _list_response(req: Request, noun: str, rows, path: str | None = None):
    return json_response({
        noun: [view(req, noun, r) for r in rows],
        "links": {"self": f"{base(req)}{path or req.path_info}", "previous": None,
                  "next": None}})


# -- generic CRUD ----------------------------------------------------------------------

FILTERS = {
    "users": ("name", "domain_id", "enabled"),
    "projects": ("name", "domain_id", "enabled", "parent_id", "is_domain"),
    "roles": ("name", "domain_id"),
    "domains": ("name", "enabled"),
    "services": ("type", "name"),
    "endpoints": ("interface", "service_id", "region_id"),
    "regions": ("parent_region_id",),
    "groups": ("name", "domain_id"),
}


def _bool(text: str) -> bool:
    return text.lower() not in ("0", "false", "no", "off")


def list_entities(req: Request, noun: str):
    authorize(req, f"identity:list_{noun}")
    model = NOUNS[noun]
    stmt = select(model)
    for key in FILTERS[noun]:
        if key in req.GET:
            value = req.GET[key]
            column = "region_id" if key == "region_id" else key
            if key == "is_domain":
                if _bool(value):
                    return _domains_as_projects(req)
                continue
            stmt = stmt.where(getattr(model, column) == (
                _bool(value) if key == "enabled" else value))
    if noun == "roles" and not req.GET.get("domain_id"):
        # Keystone lists global roles only, unless asked for a domain's roles.
        stmt = stmt.where(Role.domain_id.is_(None))
    if noun == "endpoints" and "region" in req.GET:
        stmt = stmt.where(Endpoint.region_id == req.GET["region"])
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(stmt.order_by(model.id)).all()
        return _list_response(req, noun, rows)


# -- projects acting as domains (is_domain) ------------------------------------------------
# Keystone stores domains as projects with is_domain true; stackling keeps domains in their
# own table and shows them through the projects API with the same fields Keystone gives.


def _domain_project_view(req: Request, d: Domain) -> dict:
    return {"id": d.id, "name": d.name, "domain_id": None, "description": d.description or "",
            "enabled": d.enabled, "parent_id": None, "is_domain": True, "tags": [],
            "options": {}, "links": {"self": f"{base(req)}/v3/projects/{d.id}"}}


def _domains_as_projects(req: Request):
    with req.app.cloud.db.reader() as s:
        stmt = select(Domain).order_by(Domain.id)
        if "name" in req.GET:
            stmt = stmt.where(Domain.name == req.GET["name"])
        if "enabled" in req.GET:
            stmt = stmt.where(Domain.enabled == _bool(req.GET["enabled"]))
        rows = [_domain_project_view(req, d) for d in s.scalars(stmt)]
    return json_response({"projects": rows, "links": {
        "self": f"{base(req)}{req.path_info}", "previous": None, "next": None}})


def _project_is_domain(req: Request, entity_id: str) -> bool:
    with req.app.cloud.db.reader() as s:
        return s.get(Project, entity_id) is None and s.get(Domain, entity_id) is not None


def _as_domain_call(req: Request, handler, entity_id: str):
    """Run a domains handler for a project id that names a domain; answer as a project."""
    if req.method in ("POST", "PATCH"):
        data = _body(req, "projects")
        for key in ("is_domain", "domain_id", "parent_id"):
            data.pop(key, None)
        req.body = json.dumps({"domain": data}).encode()
    resp = handler(req, "domains", entity_id)
    if resp.status_int in (200, 201):
        with req.app.cloud.db.reader() as s:
            d = s.get(Domain, json.loads(resp.body)["domain"]["id"])
            return json_response({"project": _domain_project_view(req, d)},
                                 status=resp.status_int)
    return resp


def _get(s: Session, noun: str, entity_id: str):
    row = s.get(NOUNS[noun], entity_id)
    if row is None:
        raise exception.NotFound(f"Could not find {SINGULAR[noun]}: {entity_id}.")
    return row


def get_entity(req: Request, noun: str, entity_id: str):
    if noun == "projects" and _project_is_domain(req, entity_id):
        return _as_domain_call(req, get_entity, entity_id)
    target = {"projects": {"project_id": entity_id}, "users": {"user_id": entity_id},
              # "owner" of a domain: the caller's project lives in it.
              "domains": {"project_id": req.context.project_id
                          if req.context.project_domain_id == entity_id else None}}.get(noun)
    if noun == "roles":
        with req.app.cloud.db.reader() as s:
            role = s.get(Role, entity_id)
            target = {"role_name": role.name if role is not None else None}
    authorize(req, f"identity:get_{SINGULAR[noun]}", target)
    with req.app.cloud.db.reader() as s:
        return json_response({SINGULAR[noun]: view(req, noun, _get(s, noun, entity_id))})


def _sent_domain(req: Request, noun: str) -> str | None:
    try:
        return _body(req, noun).get("domain_id")
    except exception.BadRequest:
        return None


def _body(req: Request, noun: str, schema: dict | None = None) -> dict:
    """The entity object of the body, validated with Keystone's schema for the verb."""
    body = read_json(req)
    key = SINGULAR[noun]
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.BadRequest(
            f"Expecting to find {key} in request body. The server could not comply with "
            "the request since it is either malformed or otherwise incorrect. The client "
            "is assumed to be in error.")
    if schema is None:
        schema = (schemas.UPDATE if req.method == "PATCH" else schemas.CREATE)[noun]
    validation.check(req, body[key], schema)
    return body[key]


# Keystone's schema limits (keystone/resource/schema.py, keystone/identity/schema.py).
NAME_LIMITS = {"projects": 64, "domains": 64, "users": 255, "roles": 255, "services": 255}
BOOL_FIELDS = ("enabled",)


def _validate(noun: str, data: dict) -> None:
    for field in BOOL_FIELDS:
        if field in data and not isinstance(data[field], bool):
            raise exception.BadRequest(
                f"Invalid input for field '{field}': {data[field]!r} is not of type "
                "'boolean'")
    if "name" in data:
        name, limit = data["name"], NAME_LIMITS.get(noun, 255)
        if not isinstance(name, str) or not name.strip():
            raise exception.BadRequest(
                f"Invalid input for field 'name': {name!r} is not of type 'string'"
                if not isinstance(name, str) else
                f"Invalid input for field 'name': {name!r} does not match '[\\S]+'")
        if len(name) > limit:
            raise exception.BadRequest(
                f"Invalid input for field 'name': {name!r} is too long")
    for field in ("description", "url", "type", "interface"):
        if field in data and data[field] is not None and not isinstance(data[field], str):
            raise exception.BadRequest(
                f"Invalid input for field '{field}': {data[field]!r} is not of type "
                "'string'")


def _require(data: dict, field: str, noun: str) -> Any:
    if data.get(field) in (None, ""):
        raise exception.BadRequest(
            f"Invalid input for field '{field}': '{field}' is a required property")
    return data[field]


def _conflict(s: Session, noun: str, stmt, name: str, where: str = "") -> None:
    if s.scalar(stmt) is not None:
        raise exception.Conflict(
            f"Conflict occurred attempting to store {SINGULAR[noun]} - Duplicate entry found "
            f"with name {name}{where}.")


def _apply(req: Request, s: Session, noun: str, row: Any, data: dict, creating: bool) -> None:
    identity = req.app.cloud.identity
    simple = {"users": ("name", "enabled", "default_project_id", "description", "email"),
              "projects": ("name", "enabled", "description", "tags"),
              "domains": ("name", "enabled", "description"),
              "roles": ("name", "description"),
              "services": ("type", "name", "description", "enabled"),
              "endpoints": ("interface", "url", "enabled", "service_id"),
              "regions": ("description", "parent_region_id"),
              "groups": ("name", "description")}[noun]
    for key in simple:
        if key in data:
            setattr(row, key, data[key])
    if noun in ("users", "projects", "groups") and creating:
        row.domain_id = data.get("domain_id") or req.context.project_domain_id or "default"
        if s.get(Domain, row.domain_id) is None:
            raise exception.NotFound(f"Could not find domain: {row.domain_id}.")
    if noun == "projects" and creating:
        row.parent_id = data.get("parent_id") or row.domain_id
    if noun == "roles" and creating:
        row.domain_id = data.get("domain_id") or None
        if row.domain_id is not None and s.get(Domain, row.domain_id) is None:
            raise exception.NotFound(f"Could not find domain: {row.domain_id}.")
    if noun == "users" and "password" in data:
        # A null password means none: the user cannot log in with a password (Keystone).
        password = data["password"]
        row.password_hash = None if password is None else identity.hash_password(password)
    if noun == "endpoints":
        region = data.get("region_id", data.get("region"))
        if region is not None or creating:
            row.region_id = region
        if row.interface not in ("public", "internal", "admin"):
            raise exception.BadRequest(
                f"Invalid input for field 'interface': '{row.interface}' does not match "
                "'^(admin|internal|public)$'")
        if s.get(CatalogService, row.service_id) is None:
            raise exception.BadRequest(f"Could not find service: {row.service_id}.")
        # Keystone creates a region named by an endpoint when it does not exist yet.
        if row.region_id and s.get(Region, row.region_id) is None:
            s.add(Region(id=row.region_id, description=""))
    extra_keys = set(data) - set(simple) - {"id", "domain_id", "password", "parent_id",
                                            "region", "region_id", "links", "options",
                                            "is_domain"}
    if noun in ("users", "projects") and extra_keys:
        row.extra = {**(row.extra or {}), **{k: data[k] for k in extra_keys}}


def _uniqueness(s: Session, noun: str, row: Any) -> None:
    model = NOUNS[noun]
    if noun in ("users", "projects", "groups"):
        _conflict(s, noun, select(model.id).where(model.name == row.name,
                                                  model.domain_id == row.domain_id,
                                                  model.id != row.id),
                  row.name, f" at domain ID {row.domain_id}")
    elif noun == "roles":
        _conflict(s, noun, select(model.id).where(model.name == row.name,
                                                  model.domain_id == row.domain_id,
                                                  model.id != row.id), row.name)
    elif noun == "domains":
        _conflict(s, noun, select(model.id).where(model.name == row.name, model.id != row.id),
                  row.name)


def create_entity(req: Request, noun: str):
    if noun == "projects":
        data = _body(req, "projects")
        if data.get("is_domain") is True:
            authorize(req, "identity:create_domain")
            for key in ("is_domain", "domain_id", "parent_id"):
                data.pop(key, None)
            req.body = json.dumps({"domain": data}).encode()
            resp = create_entity(req, "domains")
            with req.app.cloud.db.reader() as s:
                d = s.get(Domain, json.loads(resp.body)["domain"]["id"])
                return json_response({"project": _domain_project_view(req, d)}, status=201)
    # Keystone's target is the request body as sent (domain_id not yet defaulted), checked
    # before the body is validated.
    authorize(req, f"identity:create_{SINGULAR[noun]}",
              {"domain_id": _sent_domain(req, noun)} if noun in MANAGED else None)
    data = _body(req, noun)
    required = {"users": ["name"], "projects": ["name"], "roles": ["name"],
                "domains": ["name"], "services": ["type"], "groups": ["name"],
                "endpoints": ["service_id", "interface", "url"], "regions": []}[noun]
    for field in required:
        _require(data, field, noun)
    _validate(noun, data)
    return _create(req, noun, data, data.get("id") if noun == "regions" else None)


def create_region_with_id(req: Request, entity_id: str):
    authorize(req, "identity:create_region")
    data = _body(req, "regions")
    _validate("regions", data)
    return _create(req, "regions", data, entity_id)


def _create(req: Request, noun: str, data: dict, region_id: str | None):
    model = NOUNS[noun]
    with req.app.cloud.db.writer() as s:
        row = model()
        if noun == "regions":
            row.id = region_id or uuid.uuid4().hex
            if s.get(Region, row.id) is not None:
                raise exception.Conflict(
                    f"Conflict occurred attempting to store region - Duplicate ID, {row.id}.")
            row.description = ""
        elif noun == "domains" and data.get("explicit_domain_id"):
            row.id = data["explicit_domain_id"]
        else:
            row.id = uuid.uuid4().hex
        if noun in ("users", "projects", "domains", "services", "endpoints"):
            row.enabled = True
        if noun == "groups":
            row.description = ""
        _apply(req, s, noun, row, data, creating=True)
        _uniqueness(s, noun, row)
        s.add(row)
        s.flush()
        out = view(req, noun, row)
    req.app.cloud.identity.invalidate()
    return json_response({SINGULAR[noun]: out}, status=201)


def _domain_target(req: Request, noun: str, entity_id: str) -> dict | None:
    """The stored entity's domain, for the domain manager rules of users and projects."""
    if noun not in MANAGED:
        return None
    with req.app.cloud.db.reader() as s:
        row = s.get(NOUNS[noun], entity_id)
        return {"domain_id": row.domain_id if row is not None else None}


def update_entity(req: Request, noun: str, entity_id: str):
    if noun == "projects" and _project_is_domain(req, entity_id):
        return _as_domain_call(req, update_entity, entity_id)
    authorize(req, f"identity:update_{SINGULAR[noun]}", _domain_target(req, noun, entity_id))
    data = _body(req, noun)
    if "id" in data and data["id"] != entity_id:
        raise exception.BadRequest("Cannot change ID")
    _validate(noun, data)
    with req.app.cloud.db.writer() as s:
        row = _get(s, noun, entity_id)
        password_changed = noun == "users" and "password" in data
        disabled = "enabled" in data and not data["enabled"]
        _apply(req, s, noun, row, data, creating=False)
        _uniqueness(s, noun, row)
        s.flush()
        out = view(req, noun, row)
    if noun == "users" and (password_changed or disabled):
        req.app.cloud.identity.revoke_user(entity_id)
    req.app.cloud.identity.invalidate()
    return json_response({SINGULAR[noun]: out})


def delete_entity(req: Request, noun: str, entity_id: str):
    if noun == "projects" and _project_is_domain(req, entity_id):
        return _as_domain_call(req, delete_entity, entity_id)
    authorize(req, f"identity:delete_{SINGULAR[noun]}", _domain_target(req, noun, entity_id))
    with req.app.cloud.db.writer() as s:
        row = _get(s, noun, entity_id)
        if noun == "domains":
            if row.enabled:
                raise exception.Forbidden(
                    "Cannot delete a domain that is enabled, please disable it first.")
            _delete_domain_content(s, entity_id)
        if noun in ("users", "projects", "domains", "groups"):
            column = RoleAssignment.actor_id if noun == "users" else RoleAssignment.target_id
            for a in s.scalars(select(RoleAssignment).where(column == entity_id)):
                s.delete(a)
        if noun == "roles":
            for a in s.scalars(select(RoleAssignment).where(
                    RoleAssignment.role_id == entity_id)):
                s.delete(a)
            for rule in s.scalars(select(ImpliedRole).where(
                    (ImpliedRole.prior_role_id == entity_id)
                    | (ImpliedRole.implied_role_id == entity_id))):
                s.delete(rule)
            s.flush()
        s.delete(row)
    if noun == "users":
        req.app.cloud.identity.revoke_user(entity_id)
    req.app.cloud.identity.invalidate()
    return empty_response(204)


def _delete_domain_content(s: Session, domain_id: str) -> None:
    """Keystone deletes a domain's projects, users and groups with it."""
    for model in (Project, User, Group):
        for row in s.scalars(select(model).where(model.domain_id == domain_id)):
            column = RoleAssignment.target_id if model is Project else RoleAssignment.actor_id
            for a in s.scalars(select(RoleAssignment).where(column == row.id)):
                s.delete(a)
            if model is not Project:
                member_col = (GroupMembership.user_id if model is User
                              else GroupMembership.group_id)
                for m in s.scalars(select(GroupMembership).where(member_col == row.id)):
                    s.delete(m)
            s.delete(row)
    s.flush()


# -- groups ----------------------------------------------------------------------------


def group_users(req: Request, group_id: str):
    authorize(req, "identity:list_users_in_group")
    with req.app.cloud.db.reader() as s:
        _get(s, "groups", group_id)
        rows = s.scalars(select(User).join(GroupMembership, GroupMembership.user_id == User.id)
                         .where(GroupMembership.group_id == group_id)).all()
        return _list_response(req, "users", rows)


def group_member(req: Request, group_id: str, user_id: str):
    action = {"PUT": "identity:add_user_to_group",
              "DELETE": "identity:remove_user_from_group"}.get(
        req.method, "identity:check_user_in_group")
    with req.app.cloud.db.reader() as s:
        group, user = s.get(Group, group_id), s.get(User, user_id)
        shared = group.domain_id if group is not None and user is not None and \
            group.domain_id == user.domain_id else None
    authorize(req, action, {"domain_id": shared})
    with req.app.cloud.db.writer() as s:
        _get(s, "groups", group_id)
        _get(s, "users", user_id)
        existing = s.get(GroupMembership, (user_id, group_id))
        if req.method == "PUT":
            if existing is None:
                s.add(GroupMembership(user_id=user_id, group_id=group_id))
        elif existing is None:
            raise exception.NotFound(f"Could not find user: {user_id}.")
        elif req.method == "DELETE":
            s.delete(existing)
    if req.method in ("PUT", "DELETE"):
        req.app.cloud.identity.invalidate()
    return empty_response(204)


def user_groups(req: Request, user_id: str):
    authorize(req, "identity:list_groups_for_user", {"user_id": user_id})
    with req.app.cloud.db.reader() as s:
        _get(s, "users", user_id)
        rows = s.scalars(select(Group).join(GroupMembership,
                                            GroupMembership.group_id == Group.id)
                         .where(GroupMembership.user_id == user_id)).all()
        return _list_response(req, "groups", rows)


def user_projects(req: Request, user_id: str):
    authorize(req, "identity:list_user_projects", {"user_id": user_id})
    with req.app.cloud.db.reader() as s:
        _get(s, "users", user_id)
        ids = s.scalars(select(RoleAssignment.target_id).where(
            RoleAssignment.actor_id == user_id, RoleAssignment.type == "UserProject")).all()
        rows = s.scalars(select(Project).where(Project.id.in_(set(ids)))).all()
        return _list_response(req, "projects", rows)


def change_password(req: Request, user_id: str):
    data = _body(req, "users", schemas.PASSWORD_CHANGE)
    with req.app.cloud.db.writer() as s:
        user = _get(s, "users", user_id)
        if not req.app.cloud.identity.passwords.check(data["original_password"],
                                                      user.password_hash):
            raise exception.Unauthorized()
        user.password_hash = req.app.cloud.identity.hash_password(data["password"])
    req.app.cloud.identity.revoke_user(user_id)
    return empty_response(204)


# -- role grants -----------------------------------------------------------------------


ASSIGNMENT_TYPES = {("projects", "users"): "UserProject", ("domains", "users"): "UserDomain",
                    ("system", "users"): "UserSystem", ("projects", "groups"): "GroupProject",
                    ("domains", "groups"): "GroupDomain", ("system", "groups"): "GroupSystem"}


def _grant_key(s: Session, kind: str, target_id: str, user_id: str, role_id: str,
               actor: str = "users"):
    if kind != "system":
        _get(s, kind, target_id)
    _get(s, actor, user_id)
    _get(s, "roles", role_id)
    type_ = ASSIGNMENT_TYPES[(kind, actor)]
    return (type_, user_id, target_id, role_id)


def _grant_target(req: Request, kind: str, target_id: str, actor_id: str, role_id: str,
                  actor: str) -> dict:
    """The domain shared by the actor and the grant's target (None if they differ), and
    the role's name: what Keystone's grant rules look at."""
    with req.app.cloud.db.reader() as s:
        who = s.get(NOUNS[actor], actor_id)
        where = s.get(NOUNS[kind], target_id) if kind != "system" else None
        role = s.get(Role, role_id)
        where_domain = (where.id if kind == "domains" else where.domain_id) if where else None
        shared = who.domain_id if who is not None and who.domain_id == where_domain else None
        return {"domain_id": shared, "role_name": role.name if role is not None else None}


def grant_role(req: Request, kind: str, target_id: str, user_id: str, role_id: str,
               actor: str = "users"):
    method = req.method
    action = {"PUT": "identity:create_grant", "DELETE": "identity:revoke_grant"}.get(
        method, "identity:check_grant")
    authorize(req, action, _grant_target(req, kind, target_id, user_id, role_id, actor))
    with req.app.cloud.db.writer() as s:
        key = _grant_key(s, kind, target_id, user_id, role_id, actor)
        existing = s.get(RoleAssignment, key)
        if method == "PUT":
            if existing is None:
                s.add(RoleAssignment(type=key[0], actor_id=user_id, target_id=target_id,
                                     role_id=role_id))
        elif existing is None:
            raise exception.NotFound(f"Could not find role assignment with role: {role_id}, "
                                     f"user or group: {user_id}, project, domain, or system: "
                                     f"{target_id}.")
        elif method == "DELETE":
            s.delete(existing)
    if method != "HEAD" and method != "GET":
        req.app.cloud.identity.invalidate()
    return empty_response(204)


def list_grants(req: Request, kind: str, target_id: str, user_id: str,
                actor: str = "users"):
    authorize(req, "identity:list_grants")
    with req.app.cloud.db.reader() as s:
        if kind != "system":
            _get(s, kind, target_id)
        _get(s, actor, user_id)
        rows = s.scalars(select(Role).join(RoleAssignment, RoleAssignment.role_id == Role.id)
                         .where(RoleAssignment.actor_id == user_id,
                                RoleAssignment.target_id == target_id)).all()
        return _list_response(req, "roles", rows)


SCOPE_OF = {"UserProject": "project", "GroupProject": "project", "UserDomain": "domain",
            "GroupDomain": "domain", "UserSystem": "system", "GroupSystem": "system"}


def _assignment_link(req: Request, type_: str, actor: str, target: str, role: str) -> str:
    who = "groups" if type_.startswith("Group") else "users"
    scope = SCOPE_OF[type_]
    if scope == "system":
        return f"{base(req)}/v3/system/{who}/{actor}/roles/{role}"
    return f"{base(req)}/v3/{scope}s/{target}/{who}/{actor}/roles/{role}"


def role_assignments(req: Request):
    """GET /v3/role_assignments: filters, ``effective`` (group assignments become the
    members', implied roles are added, domain-specific roles dropped) and
    ``include_names``."""
    authorize(req, "identity:list_role_assignments")
    q = req.GET
    effective = "effective" in q and _bool(q["effective"] or "true")
    names = "include_names" in q and _bool(q["include_names"] or "true")
    identity = req.app.cloud.identity
    with req.app.cloud.db.reader() as s:
        # (type, actor kind, actor id, target, role id, links)
        rows = []
        for a in s.scalars(select(RoleAssignment)):
            link = _assignment_link(req, a.type, a.actor_id, a.target_id, a.role_id)
            rows.append((a.type, a.actor_id, a.target_id, a.role_id, {"assignment": link}))
        if effective:
            expanded = []
            for type_, actor, target, role, links in rows:
                if type_.startswith("Group"):
                    members = s.scalars(select(GroupMembership.user_id).where(
                        GroupMembership.group_id == actor)).all()
                    for user_id in members:
                        expanded.append(("User" + type_[5:], user_id, target, role, {
                            **links, "membership":
                                f"{base(req)}/v3/groups/{actor}/users/{user_id}"}))
                else:
                    expanded.append((type_, actor, target, role, links))
            rows = []
            domain_roles = set(s.scalars(select(Role.id).where(Role.domain_id.isnot(None))))
            for type_, actor, target, role, links in expanded:
                for implied in sorted(identity.implied_closure(s, [role])):
                    if implied in domain_roles:
                        continue
                    extra = {} if implied == role else {
                        "prior_role": f"{base(req)}/v3/roles/{role}/implies/{implied}"}
                    rows.append((type_, actor, target, implied, {**links, **extra}))
        if "user.id" in q:
            user_id = q["user.id"]
            rows = [r for r in rows if r[0].startswith("User") and r[1] == user_id]
        if "group.id" in q:
            rows = [r for r in rows if r[0].startswith("Group") and r[1] == q["group.id"]]
        if "scope.project.id" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "project"
                    and r[2] == q["scope.project.id"]]
        if "scope.domain.id" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "domain"
                    and r[2] == q["scope.domain.id"]]
        if "scope.system" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "system"]
        if "role.id" in q:
            rows = [r for r in rows if r[3] == q["role.id"]]
        out, seen = [], set()
        for type_, actor, target, role_id, links in rows:
            key = (type_, actor, target, role_id)
            if key in seen:
                continue
            seen.add(key)
            scope_kind = SCOPE_OF[type_]
            role: dict[str, Any] = {"id": role_id}
            who: dict[str, Any] = {"id": actor}
            scope: dict[str, Any] = {"all": True} if scope_kind == "system" else {"id": target}
            if names:
                r = s.get(Role, role_id)
                role["name"] = r.name if r else None
                if r is not None and r.domain_id:
                    role["domain"] = {"id": r.domain_id}
                a = s.get(User if type_.startswith("User") else Group, actor)
                if a is not None:
                    d = s.get(Domain, a.domain_id)
                    who.update(name=a.name, domain={"id": d.id, "name": d.name})
                if scope_kind != "system":
                    t = s.get(Project if scope_kind == "project" else Domain, target)
                    if t is not None:
                        scope["name"] = t.name
                        if scope_kind == "project":
                            d = s.get(Domain, t.domain_id)
                            scope["domain"] = {"id": d.id, "name": d.name}
            out.append({"role": role, "user" if type_.startswith("User") else "group": who,
                        "scope": {scope_kind: scope}, "links": links})
    return json_response({"role_assignments": out, "links": {
        "self": f"{base(req)}/v3/role_assignments", "previous": None, "next": None}})


# -- implied roles (keystone/api/roles.py, role_inferences.py) --------------------------

# keystone.conf [assignment] prohibited_implied_role
PROHIBITED_IMPLIED = ("admin",)


def _role_ref(req: Request, role: Role) -> dict:
    return {"id": role.id, "name": role.name,
            "links": {"self": f"{base(req)}/v3/roles/{role.id}"}}


def _rule(s: Session, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    prior = _get(s, "roles", prior_id)
    implied = _get(s, "roles", implied_id)
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
            prior = _get(s, "roles", prior_role_id)
            implied = _get(s, "roles", implied_role_id)
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
                "links": {"self": f"{base(req)}/v3/roles/{prior_role_id}/implies/"
                                  f"{implied_role_id}"}}
    if method in ("PUT", "DELETE"):
        req.app.cloud.identity.invalidate()
    if method in ("HEAD", "DELETE"):
        return empty_response(204)
    return json_response(body, status=201 if method == "PUT" else 200)


def list_implied_roles(req: Request, prior_role_id: str):
    authorize(req, "identity:list_implied_roles")
    with req.app.cloud.db.reader() as s:
        prior = _get(s, "roles", prior_role_id)
        implied = s.scalars(select(Role).join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
                            .where(ImpliedRole.prior_role_id == prior_role_id)).all()
        body = {"role_inference": {"prior_role": _role_ref(req, prior),
                                   "implies": [_role_ref(req, r) for r in implied]},
                "links": {"self": f"{base(req)}/v3/roles/{prior_role_id}/implies"}}
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
                          "links": {"self": f"{base(req)}/v3/role_inferences"}})


# -- routes ----------------------------------------------------------------------------


def _crud(noun: str) -> list[tuple[str, dict]]:
    def lst(req):
        return list_entities(req, noun)

    def create(req):
        return create_entity(req, noun)

    def get(req, entity_id):
        return get_entity(req, noun, entity_id)

    def update(req, entity_id):
        return update_entity(req, noun, entity_id)

    def delete(req, entity_id):
        return delete_entity(req, noun, entity_id)

    return [(f"/v3/{noun}", {"GET": lst, "POST": create}),
            (f"/v3/{noun}/{{entity_id}}", {"GET": get, "PATCH": update, "DELETE": delete})]


def _grants(kind: str) -> list[tuple[str, dict]]:
    def one(req, user_id, role_id, target_id="system"):
        return grant_role(req, kind, target_id, user_id, role_id)

    def many(req, user_id, target_id="system"):
        return list_grants(req, kind, target_id, user_id)

    if kind == "system":
        def sys_group_one(req, group_id, role_id):
            return grant_role(req, kind, "system", group_id, role_id, actor="groups")

        def sys_group_many(req, group_id):
            return list_grants(req, kind, "system", group_id, actor="groups")

        return [("/v3/system/users/{user_id}/roles/{role_id}",
                 {"PUT": one, "GET": one, "HEAD": one, "DELETE": one}),
                ("/v3/system/users/{user_id}/roles", {"GET": many}),
                ("/v3/system/groups/{group_id}/roles/{role_id}",
                 {"PUT": sys_group_one, "GET": sys_group_one, "HEAD": sys_group_one,
                  "DELETE": sys_group_one}),
                ("/v3/system/groups/{group_id}/roles", {"GET": sys_group_many})]
    def group_one(req, target_id, group_id, role_id):
        return grant_role(req, kind, target_id, group_id, role_id, actor="groups")

    def group_many(req, target_id, group_id):
        return list_grants(req, kind, target_id, group_id, actor="groups")

    return [(f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles/{{role_id}}",
             {"PUT": one, "GET": one, "HEAD": one, "DELETE": one}),
            (f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles", {"GET": many}),
            (f"/v3/{kind}/{{target_id}}/groups/{{group_id}}/roles/{{role_id}}",
             {"PUT": group_one, "GET": group_one, "HEAD": group_one, "DELETE": group_one}),
            (f"/v3/{kind}/{{target_id}}/groups/{{group_id}}/roles", {"GET": group_many})]


ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions}),
    ("/v3", {"GET": version_v3}),
    ("/v3/auth/tokens", {"POST": issue_token, "GET": validate_token, "HEAD": validate_token,
                         "DELETE": revoke_token}),
    ("/v3/auth/catalog", {"GET": auth_catalog}),
    ("/v3/auth/projects", {"GET": auth_projects}),
    ("/v3/auth/domains", {"GET": auth_domains}),
    ("/v3/users/{user_id}/projects", {"GET": user_projects}),
    ("/v3/users/{user_id}/password", {"POST": change_password}),
    ("/v3/users/{user_id}/groups", {"GET": user_groups}),
    ("/v3/groups/{group_id}/users", {"GET": group_users}),
    ("/v3/groups/{group_id}/users/{user_id}", {"PUT": group_member, "HEAD": group_member,
                                               "GET": group_member,
                                               "DELETE": group_member}),
    ("/v3/role_assignments", {"GET": role_assignments}),
    ("/v3/role_inferences", {"GET": role_inferences}),
    ("/v3/roles/{prior_role_id}/implies", {"GET": list_implied_roles}),
    ("/v3/roles/{prior_role_id}/implies/{implied_role_id}",
     {"PUT": implied_role, "GET": implied_role, "HEAD": implied_role,
      "DELETE": implied_role}),
    *credentials.ROUTES,
    *_grants("projects"), *_grants("domains"), *_grants("system"),
    ("/v3/regions/{entity_id}", {"PUT": create_region_with_id}),
    *[route for noun in NOUNS for route in _crud(noun)],
    # stackling's own, clearly outside OpenStack's paths: placement explanations.
    *explain.ROUTES,
]
# Changing one's password needs the original password, not a token (Keystone).
PUBLIC = {"/", "/v3", "/v3/auth/tokens", "/v3/users/{user_id}/password"}


class IdentityApp(ApiApp):
    """Token issue is public only for POST; every other method on it needs a token."""

    def _context(self, req, public, request_id):
        if req.environ.get("PATH_INFO", "").rstrip("/") == "/v3/auth/tokens" and \
                req.method != "POST":
            public = False
        return super()._context(req, public, request_id)


def build_app(cloud: Cloud) -> ApiApp:
    return IdentityApp(cloud, INFO, Router(ROUTES, public=PUBLIC))
