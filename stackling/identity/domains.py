"""Keystone domains: CRUD; deleting one deletes its projects, users and groups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import (
    Domain,
    Group,
    GroupMembership,
    IdentityDomainConfig,
    Project,
    RoleAssignment,
    User,
)
from stackling.identity import common, crud
from stackling.identity.common import Noun
from stackling.web.app import Request

policy.register({"identity:get_domain": "role:admin or owner"})


def _view(row: Domain) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description or "",
            "enabled": row.enabled, "tags": [], "options": {}}


def _unique(s: Session, row: Domain) -> None:
    common.conflict(s, "domain", select(Domain.id).where(Domain.name == row.name,
                                                         Domain.id != row.id), row.name)


def _before_delete(s: Session, row: Domain) -> None:
    if row.enabled:
        raise exception.Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.")
    for model in (Project, User, Group):
        for member in s.scalars(select(model).where(model.domain_id == row.id)):
            column = RoleAssignment.target_id if model is Project else RoleAssignment.actor_id
            for a in s.scalars(select(RoleAssignment).where(column == member.id)):
                s.delete(a)
            if model is not Project:
                member_col = (GroupMembership.user_id if model is User
                              else GroupMembership.group_id)
                for m in s.scalars(select(GroupMembership).where(member_col == member.id)):
                    s.delete(m)
            s.delete(member)
    s.flush()
    common.drop_assignments(RoleAssignment.target_id)(s, row)
    config = s.get(IdentityDomainConfig, row.id)
    if config is not None:
        s.delete(config)


NOUN = Noun("domains", "domain", Domain, _view, filters=("name", "enabled"),
            fields=("name", "enabled", "description"), name_limit=64, unique=_unique,
            before_delete=_before_delete, on_create=common.enable,
            id_of=lambda data: data.get("explicit_domain_id"))


def list_domains(req: Request):
    return crud.list_entities(req, NOUN)


def create_domain(req: Request):
    return crud.create_entity(req, NOUN)


def show_domain(req: Request, entity_id: str):
    ctx = req.context
    # "owner" of a domain: the caller's project lives in it.
    return crud.show_entity(req, NOUN, entity_id, {
        "project_id": ctx.project_id if ctx.project_domain_id == entity_id else None})


def update_domain(req: Request, entity_id: str):
    return crud.update_entity(req, NOUN, entity_id)


def delete_domain(req: Request, entity_id: str):
    return crud.delete_entity(req, NOUN, entity_id)
