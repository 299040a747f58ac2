"""Glance v2 image members: sharing a ``shared`` image with other projects.

The owner adds a project (status ``pending``); that project accepts or rejects it (only
the member may change the status, never the owner). A member sees the image by id in
any status and in its image list once accepted (``member_status`` lists the others).
Default policies of Glance with the new defaults (``glance/policies/image.py``).
"""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception
from stackling.db.models import utcnow
from stackling.db.models_image import Image, ImageMember
from stackling.image import images
from stackling.web.app import Request, empty_response, json_response, read_json

STATUSES = ("pending", "accepted", "rejected")


def view(m: ImageMember) -> dict:
    return {"member_id": m.member, "image_id": m.image_id, "status": m.status,
            "created_at": images._ts(m.created_at), "updated_at": images._ts(m.updated_at),
            "schema": "/v2/schemas/member"}


def _image(s, req: Request, image_id: str) -> Image:
    row = images._get(s, req, image_id)
    if row.visibility != "shared":
        raise exception.Forbidden("Only shared images have members.")
    return row


def _member(s, image_id: str, member_id: str) -> ImageMember:
    m = s.get(ImageMember, (image_id, member_id))
    if m is None:
        raise exception.NotFound(f"{member_id} not found in the member list of the image "
                                 f"{image_id}.")
    return m


def _is_owner(req: Request, row: Image) -> bool:
    return req.context.is_admin or (row.owner is not None
                                    and row.owner == req.context.project_id)


def list_members(req: Request, image_id: str):
    with req.app.cloud.db.reader() as s:
        row = _image(s, req, image_id)
        stmt = select(ImageMember).where(ImageMember.image_id == image_id)
        if not _is_owner(req, row):
            # A member sees only its own membership.
            stmt = stmt.where(ImageMember.member == req.context.project_id)
        members = [view(m) for m in s.scalars(stmt.order_by(ImageMember.created_at))]
    return json_response({"members": members, "schema": "/v2/schemas/members"})


def show_member(req: Request, image_id: str, member_id: str):
    with req.app.cloud.db.reader() as s:
        row = _image(s, req, image_id)
        if not _is_owner(req, row) and member_id != req.context.project_id:
            raise exception.NotFound(f"{member_id} not found in the member list of the "
                                     f"image {image_id}.")
        return json_response(view(_member(s, image_id, member_id)))


def create_member(req: Request, image_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or "member" not in body:
        raise exception.BadRequest("Member to be added not specified")
    member_id = body["member"]
    if not member_id:
        raise exception.BadRequest("Member can't be empty")
    if not isinstance(member_id, str):
        raise exception.BadRequest("Expected a member in the form: {\"member\": "
                                   "\"image_id\"}")
    with req.app.cloud.db.writer() as s:
        row = _image(s, req, image_id)
        if not _is_owner(req, row) or (not req.context.is_admin
                                       and "member" not in req.context.effective_roles):
            raise exception.Forbidden(f"Not allowed to create members for image {image_id}.")
        if s.get(ImageMember, (image_id, member_id)) is not None:
            raise exception.Conflict(f"Member {member_id} is duplicated for image {image_id}")
        now = utcnow()
        m = ImageMember(image_id=image_id, member=member_id, status="pending",
                        created_at=now, updated_at=now)
        s.add(m)
        s.flush()
        return json_response(view(m))


def update_member(req: Request, image_id: str, member_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or "status" not in body:
        raise exception.BadRequest("Status not specified")
    status = body["status"]
    if not isinstance(status, str):
        raise exception.BadRequest("Expected a status in the form: {\"status\": "
                                   "\"status\"}")
    with req.app.cloud.db.writer() as s:
        _image(s, req, image_id)
        m = _member(s, image_id, member_id)
        # Only the member itself decides (the owner, even an admin of it, may not).
        if member_id != req.context.project_id:
            raise exception.Forbidden(f"Not allowed to update members for image {image_id}.")
        if status not in STATUSES:
            raise exception.BadRequest('Incorrect request: Status must be "pending", '
                                       '"accepted" or "rejected".')
        m.status = status
        m.updated_at = utcnow()
        s.flush()
        return json_response(view(m))


def delete_member(req: Request, image_id: str, member_id: str):
    with req.app.cloud.db.writer() as s:
        row = _image(s, req, image_id)
        if not _is_owner(req, row):
            raise exception.Forbidden(f"Not allowed to delete members for image {image_id}.")
        s.delete(_member(s, image_id, member_id))
    return empty_response(204)


# -- schemas (glance/api/v2/image_members.py) ---------------------------------------------

MEMBER_PROPERTIES = {
    "member_id": {"type": "string",
                  "description": "An identifier for the image member (tenantId)"},
    "image_id": {"type": "string", "description": "An identifier for the image",
                 "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                            "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
    "created_at": {"type": "string",
                   "description": "Date and time of image member creation"},
    "updated_at": {"type": "string",
                   "description": "Date and time of last modification of image member"},
    "status": {"type": "string", "description": "The status of this image member",
               "enum": list(STATUSES)},
    "schema": {"readOnly": True, "type": "string"},
}


def member_schema() -> dict:
    return {"name": "member", "properties": MEMBER_PROPERTIES, "additionalProperties": False}


def schema_member(req: Request):
    return json_response(member_schema())


def schema_members(req: Request):
    return json_response({
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()},
                       "schema": {"type": "string"}},
        "links": [{"href": "{schema}", "rel": "describedby"}]})
