"""``/servers/{id}/tags`` (2.26+, nova/api/openstack/compute/server_tags.py)."""

from __future__ import annotations

from typing import Any

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.api.server_actions import invalid_state
from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "os_compute_api:os-server-tags:index": common.OWNER_READER,
    "os_compute_api:os-server-tags:show": common.OWNER_READER,
    "os_compute_api:os-server-tags:update": common.OWNER,
    "os_compute_api:os-server-tags:update_all": common.OWNER,
    "os_compute_api:os-server-tags:delete": common.OWNER,
    "os_compute_api:os-server-tags:delete_all": common.OWNER,
})

MAX_TAGS = 50            # nova/objects/instance.py MAX_TAG_COUNT
MAX_TAG_LENGTH = 60
WRITABLE = ("active", "paused", "suspended", "stopped")


def _require_226(req: Request) -> None:
    if not req.version.matches("2.26"):
        raise exception.NotFound("The resource could not be found.")


def tag_error(tag: Any) -> str | None:
    """Why ``tag`` is not a valid tag (Nova's schema: 1-60 chars, no '/' nor ',')."""
    if not isinstance(tag, str):
        return f"{tag!r} is not of type 'string'"
    if not tag:
        return "'' should be non-empty"
    if len(tag) > MAX_TAG_LENGTH:
        return f"{tag!r} is too long"
    if "/" in tag or "," in tag:
        return f"{tag!r} does not match '^[^,/]*$'"
    return None


def _get(s, req: Request, server_id: str, rule: str, action: str | None = None) -> Instance:
    inst = instances.get(s, req.context, server_id)
    common.authorize(req, rule, {"project_id": inst.project_id})
    if action and inst.vm_state not in WRITABLE:
        raise invalid_state(action, inst.uuid, "vm_state", inst.vm_state)
    return inst


def _save(inst: Instance, tags: list[str]) -> None:
    instances.update_fields(inst, tags=tags, updated_at=utcnow())


def list_tags(req: Request, server_id: str):
    _require_226(req)
    with req.app.cloud.db.reader() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:index")
        return json_response({"tags": list(inst.tags or [])})


def check_tag(req: Request, server_id: str, tag: str):
    _require_226(req)
    with req.app.cloud.db.reader() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:show")
        if tag not in (inst.tags or []):
            raise exception.NotFound(f"Server {server_id} has no tag '{tag}'")
    return empty_response(204)


def add_tag(req: Request, server_id: str, tag: str):
    _require_226(req)
    with req.app.cloud.db.writer() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:update", "update tag")
        why = tag_error(tag)
        if why:
            raise exception.BadRequest(f"Tag '{tag}' is invalid. It must be a non empty string "
                                       f"without characters '/' and ','. Validation error "
                                       f"message: {why}")
        tags = list(inst.tags or [])
        if len(tags) >= MAX_TAGS:
            raise exception.BadRequest(f"The number of tags exceeded the per-server limit "
                                       f"{MAX_TAGS}")
        if tag in tags:
            return empty_response(204)
        _save(inst, tags + [tag])
    resp = empty_response(201)
    resp.headers["Location"] = (f"{req.app.cloud.public_url('compute')}/v2.1/servers/"
                                f"{server_id}/tags/{tag}")
    return resp


def replace_tags(req: Request, server_id: str):
    _require_226(req)
    body = read_json(req)
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"tags"} or not isinstance(tags, list):
        raise exception.ValidationError(field="tags", value=tags,
                                        detail="'tags' is a required property" if tags is None
                                        else f"{tags!r} is not of type 'array'")
    if len(tags) > MAX_TAGS:
        raise exception.ValidationError(field="tags", value=tags,
                                        detail=f"{tags!r} is too long")
    for tag in tags:
        why = tag_error(tag)
        if why:
            raise exception.ValidationError(field="tags", value=tag, detail=why)
    unique = list(dict.fromkeys(tags))
    with req.app.cloud.db.writer() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:update_all",
                    "update tags")
        _save(inst, unique)
    return json_response({"tags": unique})


def delete_tag(req: Request, server_id: str, tag: str):
    _require_226(req)
    with req.app.cloud.db.writer() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:delete", "delete tag")
        tags = list(inst.tags or [])
        if tag not in tags:
            raise exception.NotFound(f"Instance {server_id} has no tag '{tag}'")
        tags.remove(tag)
        _save(inst, tags)
    return empty_response(204)


def delete_tags(req: Request, server_id: str):
    _require_226(req)
    with req.app.cloud.db.writer() as s:
        inst = _get(s, req, server_id, "os_compute_api:os-server-tags:delete_all",
                    "delete tags")
        _save(inst, [])
    return empty_response(204)


def matches(tags: list[str], params) -> bool:
    """The list filters ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any`` (2.26)."""
    have = set(tags or [])

    def wanted(key: str) -> set[str] | None:
        value = params.get(key)
        return {t for t in value.split(",") if t} if value else None

    every, some = wanted("tags"), wanted("tags-any")
    not_every, not_any = wanted("not-tags"), wanted("not-tags-any")
    return ((every is None or every <= have) and (some is None or bool(some & have))
            and (not_every is None or not not_every <= have)
            and (not_any is None or not not_any & have))
