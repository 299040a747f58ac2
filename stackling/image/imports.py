"""Glance's interoperable image import, glance-direct only: stage, import, image tasks.

``PUT /v2/images/{id}/stage`` streams the data into the staging area (queued →
uploading); ``POST /v2/images/{id}/import`` creates an ``api_image_import`` task, takes
the image's ``os_glance_import_task`` lock and answers 202; the task (on the RPC pool,
as Glance runs it on its tasks pool) moves the data into the store (importing → active)
and records success, or puts the image back to queued and records the failure.
``GET /v2/images/{id}/tasks`` lists the image's tasks (Images API 2.12).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from stackling import exception
from stackling.db.models import utcnow
from stackling.db.models_image import Image, ImageTask
from stackling.image import images
from stackling.storage import imagestore
from stackling.web.app import Request, empty_response, json_response, read_json

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

TOPIC = "glance-tasks"
TASK_TYPE = "api_image_import"
LOCK = "os_glance_import_task"
# glance/async_/flows/api_image_import.py: the per-store progress properties, empty with a
# single store.
PROGRESS = ("os_glance_importing_to_stores", "os_glance_failed_import")
TASK_TTL = dt.timedelta(hours=48)          # [task] task_time_to_live
LOCK_EXPIRY = dt.timedelta(minutes=60)     # _enforce_import_lock (doubled while pending)


def _not_found() -> exception.NotFound:
    return exception.NotFound("The resource could not be found.")


def stage_image(req: Request, image_id: str):
    """PUT /v2/images/{id}/stage: 204; the image is ``uploading`` with its size set."""
    if "glance-direct" not in images.IMPORT_METHODS:
        raise exception.NotFound("'glance-direct' method is not available at this site.")
    if (req.content_type or "").lower() != "application/octet-stream":
        raise exception.UnsupportedMediaType(content_type=req.content_type or "None")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = images._get(s, req, image_id)
        images._check_mutable(req, row)
        images._transition(row, "uploading")
    staging = images.staging(cloud)
    if staging.exists(image_id):
        with cloud.db.writer() as s:
            row = s.get(Image, image_id)
            if row is not None and row.status == "uploading":
                row.status = "queued"
        raise exception.Conflict(f"The image {image_id} has data on staging")
    stored = images.write_or_requeue(cloud, staging, image_id, images._body_chunks(req),
                                     "uploading", "")
    with cloud.db.writer() as s:
        row = s.get(Image, image_id)
        if row is None:   # deleted while staging
            staging.delete(image_id)
            raise _not_found()
        row.size = stored.size
    return empty_response(204)


def _validate_import_body(body: Any) -> str:
    """ImagesController's deserializer ``_validate_import_body``, with Glance's texts."""
    if not isinstance(body, dict) or "method" not in body:
        raise exception.BadRequest("Import request requires a 'method' field.")
    method = body["method"]
    if not isinstance(method, dict) or "name" not in method:
        raise exception.BadRequest("Import request requires a 'name' field.")
    name = method["name"]
    if name not in images.IMPORT_METHODS:
        raise exception.BadRequest(f"Unknown import method name '{name}'.")
    if not isinstance(body.get("all_stores_must_succeed", True), bool):
        raise exception.BadRequest("'all_stores_must_succeed' must be boolean value only")
    if not isinstance(body.get("all_stores", False), bool):
        raise exception.BadRequest("'all_stores' must be boolean value only")
    return name


def _check_lock(s, row: Image) -> None:
    """``_enforce_import_lock``: a recent task keeps the lock (409), a stale one loses it."""
    task_id = (row.properties or {}).get(LOCK)
    if task_id is None:
        return
    task = s.get(ImageTask, task_id)
    if task is not None:
        expiry = LOCK_EXPIRY * (2 if task.status == "pending" else 1)
        if utcnow() - task.updated_at < expiry:
            raise exception.Conflict("Image has active task")
    props = dict(row.properties)
    props.pop(LOCK, None)
    row.properties = props


def import_image(req: Request, image_id: str):
    """POST /v2/images/{id}/import: 202 with an empty body; the task runs on its own."""
    body = read_json(req)
    method = _validate_import_body(body)
    cloud = req.app.cloud
    ctx = req.context
    with cloud.db.writer() as s:
        row = images._get(s, req, image_id)
        if row.status == "active":
            raise exception.Conflict("Image with status active cannot be target for import")
        if row.status != "uploading":
            raise exception.Conflict("Image needs to be staged before 'glance-direct' method "
                                     "can be used")
        if not row.container_format:
            raise exception.Conflict("'container_format' needs to be set before import")
        if not row.disk_format:
            raise exception.Conflict("'disk_format' needs to be set before import")
        images._check_mutable(req, row)
        _check_lock(s, row)
        if body.get("all_stores_must_succeed", True) is False:
            raise exception.BadRequest("All_stores_must_succeed can only be set with "
                                       f"enabled_backends {body['method'].get('uri')}")
        task = ImageTask(type=TASK_TYPE, status="pending", owner=ctx.project_id,
                         image_id=image_id, request_id=ctx.request_id, user_id=ctx.user_id,
                         input={"image_id": image_id, "import_req": body, "backend": [None]},
                         result=None, message="")
        s.add(task)
        s.flush()
        row.properties = {**(row.properties or {}), LOCK: task.id}
        task_id = task.id
    LOG.info("image %s: %s import as task %s", image_id, method, task_id)
    cloud.rpc.cast(TOPIC, "run_import", task_id=task_id)
    return empty_response(202)


def task_time(value: dt.datetime | None) -> str | None:
    # Glance's JSON serializer writes datetimes with isoformat().
    return value.isoformat() if value else None


def task_view(task: ImageTask) -> dict:
    return {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
            "expires_at": task_time(task.expires_at), "created_at": task_time(task.created_at),
            "updated_at": task_time(task.updated_at), "deleted_at": None, "deleted": False,
            "image_id": task.image_id, "request_id": task.request_id,
            "user_id": task.user_id, "input": task.input, "result": task.result,
            "message": task.message}


def list_image_tasks(req: Request, image_id: str):
    """GET /v2/images/{id}/tasks: the image's unexpired tasks; a bare 404 if not visible."""
    with req.app.cloud.db.reader() as s:
        try:
            images._get(s, req, image_id)
        except exception.NotFound:
            raise _not_found() from None
        now = utcnow()
        rows = s.scalars(select(ImageTask).where(ImageTask.image_id == image_id)
                         .order_by(ImageTask.created_at)).all()
        return json_response({"tasks": [task_view(t) for t in rows
                                        if t.expires_at is None or t.expires_at >= now]})


class TaskRunner:
    """Runs import tasks (Glance's tasks_pool); one method per task type."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def _finish(self, task_id: str, image_id: str, error: str | None) -> None:
        with self.cloud.db.writer() as s:
            task = s.get(ImageTask, task_id)
            row = s.get(Image, image_id)
            if row is not None:
                props = dict(row.properties or {})
                if props.get(LOCK) == task_id:   # drop_lock_for_task
                    props.pop(LOCK)
                row.properties = props
                if error is not None and row.status == "importing":
                    row.status = "queued"       # _VerifyImageState.revert
            if task is not None:
                task.status = "failure" if error else "success"
                task.message = error or ""
                task.result = None if error else {"image_id": image_id}
                task.expires_at = utcnow() + TASK_TTL

    def run_url_import(self, task_id: str) -> None:
        """The Tasks API's ``import`` from a URL (stackling.image.tasks)."""
        from stackling.image import tasks

        tasks.run_url_import(self.cloud, task_id)

    def run_import(self, task_id: str) -> None:
        cloud = self.cloud
        with cloud.db.writer() as s:
            task = s.get(ImageTask, task_id)
            if task is None or task.status != "pending":
                return
            image_id = task.image_id
            task.status = "processing"
            row = s.get(Image, image_id)
            if row is None or row.status != "uploading":
                error = f"Error: image {image_id} is no longer waiting for import"
                row = None
            else:
                row.status = "importing"
                row.properties = {**(row.properties or {}), **{k: "" for k in PROGRESS}}
                error = None
        if error is not None:
            self._finish(task_id, image_id, error)
            return
        staging = images.staging(cloud)
        try:
            with open(staging.path(image_id), "rb") as f:
                stored = images.store(cloud).write(
                    image_id, iter(lambda: f.read(imagestore.CHUNK_SIZE), b""))
        except Exception as exc:
            LOG.warning("import task %s of image %s failed: %s", task_id, image_id, exc)
            self._finish(task_id, image_id, f"Error: {type(exc)}: {exc}")
            return
        with cloud.db.writer() as s:
            row = s.get(Image, image_id)
            if row is None or row.status != "importing":   # deleted meanwhile
                images.store(cloud).delete(image_id)
            else:
                images.record_data(row, stored)
                row.status = "active"
        staging.delete(image_id)
        self._finish(task_id, image_id, None)
