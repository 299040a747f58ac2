"""Keystone groups: CRUD and membership."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models import Group, GroupMembership, RoleAssignment, User
from stackling.identity import common, crud, users
from stackling.identity.common import Noun, authorize
from stackling.web.app import Request, empty_response

policy.register({
    "identity:list_users_in_group": common.ADMIN,
    "identity:check_user_in_group": common.ADMIN,
    # group and user both in the manager's domain
    "identity:add_user_to_group": common.DOMAIN_MANAGER,
    "identity:remove_user_from_group": common.DOMAIN_MANAGER,
})


def _view(row: Group) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "domain_id": row.domain_id,
            "description": row.description or ""}


def _no_description(row: Group) -> None:
    row.description = ""


def _before_delete(s, row: Group) -> None:
    common.drop_assignments(RoleAssignment.actor_id)(s, row)


NOUN = Noun("groups", "group", Group, _view, filters=("name", "domain_id"),
            fields=("name", "description"), managed=True, apply=common.in_domain,
            unique=common.unique_in_domain("group"), before_delete=_before_delete,
            on_create=_no_description)


def list_groups(req: Request):
    return crud.list_entities(req, NOUN)


def create_group(req: Request):
    return crud.create_entity(req, NOUN)


def show_group(req: Request, entity_id: str):
    return crud.show_entity(req, NOUN, entity_id)


def update_group(req: Request, entity_id: str):
    return crud.update_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id))


def delete_group(req: Request, entity_id: str):
    return crud.delete_entity(req, NOUN, entity_id, crud.domain_target(req, NOUN, entity_id))


def group_users(req: Request, group_id: str):
    authorize(req, "identity:list_users_in_group")
    with req.app.cloud.db.reader() as s:
        NOUN.get(s, group_id)
        rows = s.scalars(select(User).join(GroupMembership, GroupMembership.user_id == User.id)
                         .where(GroupMembership.group_id == group_id)).all()
        return users.NOUN.list_response(req, rows)


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
        NOUN.get(s, group_id)
        users.NOUN.get(s, user_id)
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
