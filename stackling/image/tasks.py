"""Glance's (deprecated, admin-only) Tasks API: ``/v2/tasks``, the ``import`` task.

``POST /v2/tasks`` with ``{"type": "import", "input": {"import_from": URL,
"import_from_format": ..., "image_properties": {...}}}`` answers 201 with the pending
task; the task runner (Glance's taskflow executor) then makes the image from the
properties and streams the URL's bytes into it: success with ``result.image_id``, or
failure with the reason, the half-made image deleted.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
import uuid

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models import utcnow
from stackling.db.models_image import Image, ImageTask
from stackling.image import images, imports
from stackling.storage import imagestore
from stackling.web.app import Request, json_response, read_json

LOG = logging.getLogger(__name__)

# glance/policies/tasks.py: the Tasks API is for admins ([DEFAULT] tasks_api_access).
policy.register({"tasks_api_access": policy.ADMIN})
TASK_TYPES = ("import", "api_image_import", "location_import")
IMPORT_KEYS = ("import_from", "import_from_format", "image_properties")
URL_TIMEOUT = 30.0


def _authorize(req: Request, action: str) -> None:
    if not policy.check(req.context, "tasks_api_access", None):
        raise exception.Forbidden(f"You are not authorized to complete {action} action.")


def view(task: ImageTask, detail: bool = True) -> dict:
    """A task as ``/v2/tasks`` shows it (the list leaves out input and result)."""
    out = {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
           "expires_at": imports.task_time(task.expires_at),
           "created_at": imports.task_time(task.created_at),
           "updated_at": imports.task_time(task.updated_at),
           "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}
    if detail:
        out.update(input=task.input, result=task.result, message=task.message)
    return out


def _check_body(body) -> tuple[str, dict]:
    if not isinstance(body, dict):
        raise exception.BadRequest("Malformed request body")
    for key in ("type", "input"):
        if key not in body:
            raise exception.BadRequest(f"Failed validating 'required' in schema: {key!r} is "
                                       "a required property")
    if body["type"] not in TASK_TYPES:
        raise exception.BadRequest(f"Invalid type value: {body['type']}")
    if not isinstance(body["input"], dict):
        raise exception.BadRequest(f"Provided object does not match schema 'task': "
                                   f"{body['input']!r} is not of type 'object'")
    return body["type"], body["input"]


def create_task(req: Request):
    """POST /v2/tasks: 201 with the pending task; only ``import`` tasks run here."""
    _authorize(req, "create_task")
    task_type, task_input = _check_body(read_json(req))
    if task_type != "import":
        raise exception.BadRequest(f"Task type {task_type} is not supported through "
                                   "/v2/tasks")
    props = task_input.get("image_properties")
    if isinstance(props, dict):     # what POST /v2/images would refuse, refused now
        task_input = {**task_input, "image_properties": {
            k: images._validate_attr(req, k, v) for k, v in props.items()}}
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        task = ImageTask(type=task_type, status="pending", owner=ctx.project_id,
                         request_id=ctx.request_id, user_id=ctx.user_id, input=task_input,
                         result=None, message="")
        s.add(task)
        s.flush()
        out = view(task)
    req.app.cloud.rpc.cast(imports.TOPIC, "run_url_import", task_id=out["id"])
    return json_response(out, status=201)


def list_tasks(req: Request):
    _authorize(req, "get_tasks")
    with req.app.cloud.db.reader() as s:
        rows = s.scalars(select(ImageTask).where(ImageTask.type.in_(TASK_TYPES))
                         .order_by(ImageTask.created_at.desc())).all()
        return json_response({"tasks": [view(t, detail=False) for t in rows],
                              "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})


def show_task(req: Request, task_id: str):
    _authorize(req, "get_task")
    with req.app.cloud.db.reader() as s:
        task = s.get(ImageTask, task_id)
        if task is None:
            raise exception.NotFound(f"Task with the given id {task_id} not found")
        return json_response(view(task))


def _url_chunks(url: str):
    """The bytes at an http(s) URL (glance/common/scripts/utils.py validate_location_uri:
    no other scheme)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("The given uri is not valid. Please specify a valid uri from the "
                         "following list of supported uri ['http', 'https']")
    resp = urllib.request.urlopen(url, timeout=URL_TIMEOUT)  # noqa: S310 (http(s) only)
    return iter(lambda: resp.read(imagestore.CHUNK_SIZE), b"")


def run_url_import(cloud, task_id: str) -> None:
    """The ``import`` task: processing → the image made and filled → success, or failure
    with the reason (the image deleted again)."""
    with cloud.db.writer() as s:
        task = s.get(ImageTask, task_id)
        if task is None or task.status != "pending":
            return
        task.status = "processing"
        task_input, owner = dict(task.input or {}), task.owner
    image_id = None
    try:
        missing = [k for k in IMPORT_KEYS if k not in task_input]
        if missing:
            raise ValueError(f"Input does not contain '{missing[0]}' field")
        if not isinstance(task_input["image_properties"], dict) or \
                not isinstance(task_input["import_from"], str):
            raise ValueError("Invalid input: image_properties must be an object and "
                             "import_from a URL")
        image_id = str(uuid.uuid4())
        with cloud.db.writer() as s:
            row = Image(id=image_id, owner=owner, status="saving", visibility="shared",
                        properties={}, tags=[])
            for key, value in task_input["image_properties"].items():
                images._set(row, key, value)
            s.add(row)
        stored = images.store(cloud).write(image_id, _url_chunks(task_input["import_from"]))
        with cloud.db.writer() as s:
            row = s.get(Image, image_id)
            images.record_data(row, stored)
            row.status = "active"
        _finish(cloud, task_id, None, {"image_id": image_id})
    except (OSError, ValueError, urllib.error.URLError, exception.StacklingError) as exc:
        LOG.warning("import task %s failed: %s", task_id, exc)
        if image_id is not None:
            with cloud.db.writer() as s:
                row = s.get(Image, image_id)
                if row is not None:
                    s.delete(row)
            images.store(cloud).delete(image_id)
        _finish(cloud, task_id, str(exc), None)


def _finish(cloud, task_id: str, error: str | None, result: dict | None) -> None:
    with cloud.db.writer() as s:
        task = s.get(ImageTask, task_id)
        if task is not None:
            task.status = "failure" if error else "success"
            task.message = error or ""
            task.result = result
            task.expires_at = utcnow() + imports.TASK_TTL


ROUTES = [("/v2/tasks", {"GET": list_tasks, "POST": create_task}),
          ("/v2/tasks/{task_id}", {"GET": show_task})]
