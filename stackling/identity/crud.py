"""The generic CRUD of Keystone's resources: list with filters, show, create, update,
delete, driven by each resource's ``Noun`` (its table, view and rules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.identity import common, schemas
from stackling.identity.common import Noun, authorize
from stackling.web.app import Request, empty_response, json_response

policy.register({
    **{f"identity:{verb}_{noun}": common.ADMIN
       for verb in ("list", "get", "create", "update", "delete")
       for noun in ("users", "user", "projects", "project", "domains", "domain", "roles", "role",
                    "services", "service", "endpoints", "endpoint", "regions", "region",
                    "groups", "group")},
    **{f"identity:{verb}_{noun}": common.DOMAIN_MANAGER
       for verb in ("create", "update", "delete") for noun in ("user", "project", "group")},
})


def list_entities(req: Request, noun: Noun, extra_where=()):
    authorize(req, f"identity:list_{noun.plural}")
    stmt = select(noun.model)
    for key in noun.filters:
        if key in req.GET:
            value = req.GET[key]
            stmt = stmt.where(getattr(noun.model, key) == (
                common.truthy(value) if key == "enabled" else value))
    for clause in extra_where:
        stmt = stmt.where(clause)
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(stmt.order_by(noun.model.id)).all()
        return noun.list_response(req, rows)


def show_entity(req: Request, noun: Noun, entity_id: str, target: dict | None = None):
    authorize(req, f"identity:get_{noun.singular}", target)
    with req.app.cloud.db.reader() as s:
        return json_response({noun.singular: noun.render(req, noun.get(s, entity_id))})


def entity_body(req: Request, noun: Noun) -> dict:
    schema = (schemas.UPDATE if req.method == "PATCH" else schemas.CREATE)[noun.plural]
    return common.body(req, noun.singular, schema)


def sent_domain(req: Request, noun: Noun) -> str | None:
    """The domain the body names (Keystone's create target, checked before validation)."""
    try:
        return entity_body(req, noun).get("domain_id")
    except exception.BadRequest:
        return None


def _check(noun: Noun, data: dict) -> None:
    """Keystone's own checks beyond the schema (enabled is a boolean, names not blank)."""
    if "enabled" in data and not isinstance(data["enabled"], bool):
        raise exception.BadRequest(f"Invalid input for field 'enabled': {data['enabled']!r} "
                                   "is not of type 'boolean'")
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip():
            raise exception.BadRequest(
                f"Invalid input for field 'name': {name!r} is not of type 'string'"
                if not isinstance(name, str) else
                f"Invalid input for field 'name': {name!r} does not match '[\\S]+'")
        if len(name) > noun.name_limit:
            raise exception.BadRequest(f"Invalid input for field 'name': {name!r} is too long")
    for key in ("description", "url", "type", "interface"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise exception.BadRequest(f"Invalid input for field '{key}': {data[key]!r} is "
                                       "not of type 'string'")


IGNORED_KEYS = {"id", "domain_id", "password", "parent_id", "region", "region_id", "links",
                "options", "is_domain"}


def _apply(req: Request, s, noun: Noun, row: Any, data: dict, creating: bool) -> None:
    for key in noun.fields:
        if key in data:
            setattr(row, key, data[key])
    if noun.apply is not None:
        noun.apply(req, s, row, data, creating)
    extra = set(data) - set(noun.fields) - IGNORED_KEYS - noun.extra_ignored
    if noun.keeps_extra and extra:
        row.extra = {**(row.extra or {}), **{k: data[k] for k in extra}}
    if noun.unique is not None:
        noun.unique(s, row)


def create_entity(req: Request, noun: Noun, data: dict | None = None,
                  entity_id: str | None = None):
    """Create from the body (or ``data``, already read and authorized)."""
    if data is None:
        authorize(req, f"identity:create_{noun.singular}",
                  {"domain_id": sent_domain(req, noun)} if noun.managed else None)
        data = entity_body(req, noun)
    for key in noun.required:
        if data.get(key) in (None, ""):
            raise exception.BadRequest(
                f"Invalid input for field '{key}': '{key}' is a required property")
    _check(noun, data)
    with req.app.cloud.db.writer() as s:
        row = noun.model()
        row.id = entity_id or (noun.id_of(data) if noun.id_of else None) or common.new_id()
        if noun.on_create is not None:
            noun.on_create(row)
        _apply(req, s, noun, row, data, creating=True)
        s.add(row)
        s.flush()
        out = noun.render(req, row)
    req.app.cloud.identity.invalidate()
    return json_response({noun.singular: out}, status=201)


def update_entity(req: Request, noun: Noun, entity_id: str, target: dict | None = None,
                  after=None):
    """PATCH; ``after(data)`` runs once the change is stored (e.g. revocations)."""
    authorize(req, f"identity:update_{noun.singular}", target)
    data = entity_body(req, noun)
    if "id" in data and data["id"] != entity_id:
        raise exception.BadRequest("Cannot change ID")
    _check(noun, data)
    with req.app.cloud.db.writer() as s:
        row = noun.get(s, entity_id)
        _apply(req, s, noun, row, data, creating=False)
        s.flush()
        out = noun.render(req, row)
    if after is not None:
        after(data)
    req.app.cloud.identity.invalidate()
    return json_response({noun.singular: out})


def delete_entity(req: Request, noun: Noun, entity_id: str, target: dict | None = None,
                  after=None):
    authorize(req, f"identity:delete_{noun.singular}", target)
    with req.app.cloud.db.writer() as s:
        row = noun.get(s, entity_id)
        if noun.before_delete is not None:
            noun.before_delete(s, row)
        s.delete(row)
    if after is not None:
        after()
    req.app.cloud.identity.invalidate()
    return empty_response(204)


def domain_target(req: Request, noun: Noun, entity_id: str) -> dict | None:
    """The stored entity's domain, for the domain manager rules."""
    if not noun.managed:
        return None
    with req.app.cloud.db.reader() as s:
        row = s.get(noun.model, entity_id)
        return {"domain_id": row.domain_id if row is not None else None}


def routes(noun: Noun, where=None) -> list[tuple[str, dict]]:
    """The list/create and show/update/delete routes of ``noun``; ``where(req)`` adds
    list filters beyond the noun's own."""
    def list_(req: Request):
        return list_entities(req, noun, where(req) if where else ())

    def create(req: Request):
        return create_entity(req, noun)

    def show(req: Request, entity_id: str):
        return show_entity(req, noun, entity_id)

    def update(req: Request, entity_id: str):
        return update_entity(req, noun, entity_id)

    def delete(req: Request, entity_id: str):
        return delete_entity(req, noun, entity_id)

    return [(noun.path, {"GET": list_, "POST": create}),
            (f"{noun.path}/{{entity_id}}", {"GET": show, "HEAD": show, "PATCH": update,
                                            "DELETE": delete})]
