"""User messages (/messages, 3.3+): asynchronous failures told to the project that hit them.

Event ids and texts follow cinder/message/message_field.py: ``VOLUME_<resource>_<action>_<detail>``
and ``user_message = "<action text>:<detail text>"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from stackling import exception
from stackling.db.models_volume import Message
from stackling.volume import errors
from stackling.volume.api import common, views
from stackling.volume.objects import messages
from stackling.web.app import Request, empty_response, json_response

if TYPE_CHECKING:
    pass


def view(req: Request, row: Message) -> dict:
    base = req.app.cloud.public_url("volume")
    return {"id": row.id, "event_id": row.event_id,
            "user_message": messages.user_message(row.event_id),
            "message_level": row.message_level, "resource_type": row.resource_type,
            "resource_uuid": row.resource_uuid, "created_at": views.ts(row.created_at),
            "guaranteed_until": views.ts(row.expires_at), "request_id": row.request_id,
            "links": [{"rel": "self", "href": f"{base}/v3/{row.project_id}/messages/{row.id}"},
                      {"rel": "bookmark", "href": f"{base}/{row.project_id}/messages/{row.id}"}]}


def _require_33(req: Request) -> None:
    if req.version is None or not req.version.matches("3.3"):
        raise exception.NotFound("The resource could not be found.")


def _get(s, req: Request, message_id: str) -> Message:
    row = s.get(Message, message_id)
    if row is None or (not req.context.is_admin and row.project_id != req.context.project_id):
        raise errors.MessageNotFound(message_id=message_id)
    return row


def list_messages(req: Request):
    _require_33(req)
    common.authorize(req, "message:get_all")
    with req.app.cloud.db.reader() as s:
        q = select(Message).order_by(Message.created_at.desc())
        if not req.context.is_admin:
            q = q.where(Message.project_id == req.context.project_id)
        rows = s.scalars(q).all()
        out = [view(req, r) for r in rows]
    for key in ("event_id", "resource_type", "resource_uuid", "message_level", "request_id"):
        if key in req.GET:
            out = [m for m in out if m[key] == req.GET[key]]
    return json_response({"messages": out})


def show_message(req: Request, message_id: str):
    _require_33(req)
    with req.app.cloud.db.reader() as s:
        row = _get(s, req, message_id)
        common.authorize(req, "message:get", {"project_id": row.project_id})
        return json_response({"message": view(req, row)})


def delete_message(req: Request, message_id: str):
    _require_33(req)
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, message_id)
        common.authorize(req, "message:delete", {"project_id": row.project_id})
        s.delete(row)
    return empty_response(204)
