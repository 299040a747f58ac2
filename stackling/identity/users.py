"""Keystone users: CRUD, password change, their groups and projects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models import Group, GroupMembership, Project, RoleAssignment, User
from stackling.identity import common, crud, schemas
from stackling.identity.common import Noun, authorize
from stackling.web.app import Request, empty_response

policy.register({
    "identity:get_user": common.SELF,
    "identity:list_user_projects": common.SELF,
    "identity:list_groups_for_user": common.SELF,
})


def _view(row: User) -> dict[str, Any]:
    out = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
           "enabled": row.enabled, "password_expires_at": None, "options": {}}
    if row.default_project_id:
        out["default_project_id"] = row.default_project_id
    if row.description is not None:
        out["description"] = row.description
    if row.email is not None:
        out["email"] = row.email
    out.update(row.extra or {})
    return out


def _apply(req: Request, s, row: User, data: dict, creating: bool) -> None:
    common.in_domain(req, s, row, data, creating)
    if "password" in data:
        # A null password means none: the user cannot log in with a password (Keystone).
        password = data["password"]
        row.password_hash = None if password is None else \
            req.app.cloud.identity.hash_password(password)


NOUN = Noun("users", "user", User, _view, filters=("name", "domain_id", "enabled"),
            fields=("name", "enabled", "default_project_id", "description", "email"),
            managed=True, keeps_extra=True, apply=_apply, unique=common.unique_in_domain("user"),
            before_delete=common.drop_assignments(RoleAssignment.actor_id),
            on_create=common.enable)


def list_users(req: Request):
    return crud.list_entities(req, NOUN)


def create_user(req: Request):
    return crud.create_entity(req, NOUN)


def show_user(req: Request, entity_id: str):
    return crud.show_entity(req, NOUN, entity_id, {"user_id": entity_id})


def update_user(req: Request, entity_id: str):
    def revoke(data: dict) -> None:
        if "password" in data or data.get("enabled") is False:
            req.app.cloud.identity.revoke_user(entity_id)
    return crud.update_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id),
                              after=revoke)


def delete_user(req: Request, entity_id: str):
    return crud.delete_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id),
                              after=lambda: req.app.cloud.identity.revoke_user(entity_id))


def user_groups(req: Request, user_id: str):
    from stackling.identity import groups

    authorize(req, "identity:list_groups_for_user", {"user_id": user_id})
    with req.app.cloud.db.reader() as s:
        NOUN.get(s, user_id)
        rows = s.scalars(select(Group).join(GroupMembership,
                                            GroupMembership.group_id == Group.id)
                         .where(GroupMembership.user_id == user_id)).all()
        return groups.NOUN.list_response(req, rows)


def user_projects(req: Request, user_id: str):
    from stackling.identity import projects

    authorize(req, "identity:list_user_projects", {"user_id": user_id})
    with req.app.cloud.db.reader() as s:
        NOUN.get(s, user_id)
        ids = req.app.cloud.identity.project_ids(s, user_id)
        rows = s.scalars(select(Project).where(Project.id.in_(ids))).all()
        return projects.NOUN.list_response(req, rows)


def change_password(req: Request, user_id: str):
    data = common.body(req, "user", schemas.PASSWORD_CHANGE)
    identity = req.app.cloud.identity
    with req.app.cloud.db.writer() as s:
        user = NOUN.get(s, user_id)
        if not identity.passwords.check(data["original_password"], user.password_hash):
            raise exception.Unauthorized()
        user.password_hash = identity.hash_password(data["password"])
    identity.revoke_user(user_id)
    return empty_response(204)
