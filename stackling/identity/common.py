"""What every Keystone handler shares: the policy personas, the 403, request bodies,
list answers and ``Noun``, the description of one CRUD resource."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import Domain, RoleAssignment
from stackling.web import validation
from stackling.web.app import Request, json_response, read_json

ADMIN = policy.ADMIN
SELF = "role:admin or self"
# Keystone's domain manager persona (2024.1+): a domain-scoped manager manages the users,
# projects and groups of its own domain (keystone/common/policies/{user,project,group}.py).
DOMAIN_MANAGER = "role:admin or (role:manager and domain)"


class Forbidden(exception.Forbidden):
    msg_fmt = "You are not authorized to perform the requested action: %(action)s."


def authorize(req: Request, action: str, target: dict | None = None) -> None:
    policy.authorize(req.context, action, target, error=Forbidden)


def base(req: Request) -> str:
    return req.app.cloud.public_url("identity")


def new_id() -> str:
    return uuid.uuid4().hex


def truthy(text: str) -> bool:
    return text.lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Noun:
    """One Keystone resource: its table, its view and its rules for the generic CRUD."""

    plural: str
    singular: str
    model: type
    view: Callable[[Any], dict]                 # the row's fields, without links
    filters: tuple[str, ...] = ()
    required: tuple[str, ...] = ("name",)
    fields: tuple[str, ...] = ()                # set from the body as they are
    name_limit: int = 255
    managed: bool = False                       # the domain manager's rules apply
    keeps_extra: bool = False                   # unknown body keys are stored
    # (req, session, row, data, creating): what ``fields`` does not cover
    apply: Callable[..., None] | None = None
    unique: Callable[[Session, Any], None] | None = None
    before_delete: Callable[[Session, Any], None] | None = None
    on_create: Callable[[Any], None] | None = None
    id_of: Callable[[dict], str | None] | None = None   # an id the create body may give
    extra_ignored: frozenset[str] = field(default_factory=frozenset)
    prefix: str = "/v3"                         # OS-EP-FILTER's live under /v3/OS-EP-FILTER

    @property
    def path(self) -> str:
        return f"{self.prefix}/{self.plural}"

    def get(self, s: Session, entity_id: str) -> Any:
        row = s.get(self.model, entity_id)
        if row is None:
            raise exception.NotFound(f"Could not find {self.singular}: {entity_id}.")
        return row

    def render(self, req: Request, row: Any) -> dict:
        return {**self.view(row), "links": {"self": f"{base(req)}{self.path}/{row.id}"}}

    def list_response(self, req: Request, rows, path: str | None = None):
        return json_response({
            self.plural: [self.render(req, r) for r in rows],
            "links": {"self": f"{base(req)}{path or req.path_info}", "previous": None,
                      "next": None}})


def body(req: Request, key: str, schema: dict) -> dict:
    """The ``key`` object of the body, validated with Keystone's schema for the verb."""
    data = read_json(req)
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise exception.BadRequest(
            f"Expecting to find {key} in request body. The server could not comply with "
            "the request since it is either malformed or otherwise incorrect. The client "
            "is assumed to be in error.")
    validation.check(req, data[key], schema)
    return data[key]


def conflict(s: Session, singular: str, stmt, name: str, where: str = "") -> None:
    if s.scalar(stmt) is not None:
        raise exception.Conflict(
            f"Conflict occurred attempting to store {singular} - Duplicate entry found "
            f"with name {name}{where}.")


# -- rules several resources share -------------------------------------------------------


def in_domain(req: Request, s: Session, row: Any, data: dict, creating: bool) -> None:
    """Users, projects and groups live in the domain named, else the caller's."""
    if creating:
        row.domain_id = data.get("domain_id") or req.context.project_domain_id or "default"
        if s.get(Domain, row.domain_id) is None:
            raise exception.NotFound(f"Could not find domain: {row.domain_id}.")


def unique_in_domain(singular: str) -> Callable[[Session, Any], None]:
    def check(s: Session, row: Any) -> None:
        model = type(row)
        conflict(s, singular, select(model.id).where(
            model.name == row.name, model.domain_id == row.domain_id, model.id != row.id),
            row.name, f" at domain ID {row.domain_id}")
    return check


def drop_assignments(column) -> Callable[[Session, Any], None]:
    """Deleting an actor or a target deletes its role assignments."""
    def drop(s: Session, row: Any) -> None:
        for a in s.scalars(select(RoleAssignment).where(column == row.id)):
            s.delete(a)
    return drop


def enable(row: Any) -> None:
    row.enabled = True
