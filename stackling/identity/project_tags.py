"""Keystone project tags: ``/v3/projects/{entity_id}/tags[/{value}]``.

The tags live on the project row (the ``tags`` a project create/update also sets); these
routes read and change them one by one or all at once, with Keystone's limits (a tag of
1–255 characters without ``/`` or ``,``, at most 80, no duplicates).
"""

from __future__ import annotations

from urllib.parse import quote

from stackling import exception, policy
from stackling.db.models import Project
from stackling.identity import common, schemas
from stackling.identity.common import authorize
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

_READ = "role:admin or owner"
policy.register({
    "identity:list_project_tags": _READ, "identity:get_project_tag": _READ,
    **{f"identity:{action}": common.DOMAIN_MANAGER
       for action in ("update_project_tags", "delete_project_tags", "create_project_tag",
                      "delete_project_tag")},
})


def _project(s, entity_id: str) -> Project:
    row = s.get(Project, entity_id)
    if row is None:
        raise exception.NotFound(f"Could not find project: {entity_id}.")
    return row


def _target(req: Request, entity_id: str) -> dict:
    with req.app.cloud.db.reader() as s:
        row = _project(s, entity_id)
        return {"project_id": row.id, "domain_id": row.domain_id}


def _answer(req: Request, tags: list[str], status: int = 200):
    return json_response({"tags": tags, "links": {
        "self": f"{common.base(req)}{req.path_info}"}}, status=status)


def _store(req: Request, entity_id: str, change) -> list[str]:
    """Apply ``change(tags) -> tags`` to the project's tags in one transaction."""
    with req.app.cloud.db.writer() as s:
        row = _project(s, entity_id)
        tags = change(list(row.tags or []))
        validation.check(req, tags, schemas.TAGS)
        row.tags = tags
    req.app.cloud.identity.invalidate()
    return tags


def list_tags(req: Request, entity_id: str):
    authorize(req, "identity:list_project_tags", _target(req, entity_id))
    with req.app.cloud.db.reader() as s:
        return _answer(req, list(_project(s, entity_id).tags or []))


def replace_tags(req: Request, entity_id: str):
    """PUT: the body's ``tags`` replace all (200 with the new list)."""
    authorize(req, "identity:update_project_tags", _target(req, entity_id))
    data = read_json(req)
    validation.check(req, data, schemas.TAGS_BODY)
    return _answer(req, _store(req, entity_id, lambda _old: list(data.get("tags") or [])))


def delete_tags(req: Request, entity_id: str):
    authorize(req, "identity:delete_project_tags", _target(req, entity_id))
    _store(req, entity_id, lambda _old: [])
    return empty_response(204)


def show_tag(req: Request, entity_id: str, value: str):
    """GET/HEAD of one tag: 204 when the project has it, else Keystone's 404."""
    authorize(req, "identity:get_project_tag", _target(req, entity_id))
    with req.app.cloud.db.reader() as s:
        if value not in (_project(s, entity_id).tags or []):
            raise exception.NotFound(f"Could not find project tag: {value}.")
    return empty_response(204)


def add_tag(req: Request, entity_id: str, value: str):
    """PUT of one tag: 201 with a Location and no body (adding one it has is a no-op)."""
    authorize(req, "identity:create_project_tag", _target(req, entity_id))
    validation.check(req, value, schemas.TAGS["items"])
    _store(req, entity_id, lambda tags: tags if value in tags else [*tags, value])
    return empty_response(201, {"Location": f"{common.base(req)}/v3/projects/{entity_id}"
                                            f"/tags/{quote(value, safe='')}"})


def delete_tag(req: Request, entity_id: str, value: str):
    authorize(req, "identity:delete_project_tag", _target(req, entity_id))

    def without(tags: list[str]) -> list[str]:
        if value not in tags:
            raise exception.NotFound(f"Could not find project tag: {value}.")
        return [t for t in tags if t != value]
    _store(req, entity_id, without)
    return empty_response(204)


ROUTES = [
    ("/v3/projects/{entity_id}/tags", {"GET": list_tags, "HEAD": list_tags,
                                        "PUT": replace_tags, "DELETE": delete_tags}),
    ("/v3/projects/{entity_id}/tags/{value}", {"GET": show_tag, "HEAD": show_tag,
                                                "PUT": add_tag, "DELETE": delete_tag}),
]
