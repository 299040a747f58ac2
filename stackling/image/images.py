"""Glance v2 image handlers: CRUD, JSON-patch updates, tags, and streamed data in and out.

Image data lives in an ``ImageStore`` under ``<data_dir>/images``: uploads are streamed
from the request (never whole in memory) and hashed on the way (md5 ``checksum``,
sha512 ``os_hash_value``); downloads are streamed from the file, with ``Range`` support.
"""

from __future__ import annotations

import logging
import pathlib
import re
import uuid
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import webob
from sqlalchemy import bindparam, select

from stackling import exception
from stackling.db.models import utcnow
from stackling.db.models_image import Image, ImageMember
from stackling.storage import imagestore
from stackling.web.validation import MAX_INT
from stackling.web.app import Request, empty_response, json_response, read_json

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
VISIBILITIES = ["public", "private", "shared", "community"]
STATUSES = ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated"]
# glance/domain/__init__.py, Image.valid_state_targets
VALID_TARGETS = {
    "queued": ("saving", "uploading", "importing", "active", "deleted"),
    "saving": ("active", "killed", "deleted", "queued"),
    "uploading": ("importing", "queued", "deleted"),
    "importing": ("active", "deleted", "queued"),
    "active": ("pending_delete", "deleted", "deactivated"),
    "killed": ("deleted",),
    "pending_delete": ("deleted",),
    "deleted": (),
    "deactivated": ("active", "deleted"),
}
READ_ONLY = ("checksum", "os_hash_algo", "os_hash_value", "created_at", "size",
             "virtual_size", "status", "updated_at", "self", "file", "schema",
             "direct_url", "stores")
RESERVED = ("location", "deleted", "deleted_at", "locations")
RESERVED_NS = "os_glance"   # glance/api/common.py GLANCE_RESERVED_NS: Glance's own keys
BASE_ATTRS = ("id", "name", "visibility", "protected", "os_hidden", "owner", "disk_format",
              "container_format", "min_disk", "min_ram", "tags")
PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")
# Glance's enabled_import_methods: only what is served is advertised (web-download needs
# outbound HTTP and copy-image several stores; see doc/architecture.md).
IMPORT_METHODS: tuple[str, ...] = ("glance-direct",)
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


# Glance's own per-process state, kept here rather than set on the shared Cloud.
_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STAGING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def store(cloud: Cloud) -> imagestore.ImageStore:
    """Glance's file store for this cloud (under the data dir)."""
    st = _STORES.get(cloud)
    if st is None:
        st = _STORES[cloud] = imagestore.ImageStore(cloud.settings.data_dir / "images")
    return st


def staging(cloud: Cloud) -> imagestore.ImageStore:
    """Glance's staging area (``node_staging_uri``): data staged for glance-direct import."""
    st = _STAGING.get(cloud)
    if st is None:
        st = _STAGING[cloud] = imagestore.ImageStore(
            cloud.settings.data_dir / "images" / "staging")
    return st


def _ts(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def view(row: Image, store_root: pathlib.Path | None = None) -> dict:
    """The image as Glance shows it; ``store_root`` (show_image_direct_url, see
    _store_root) adds ``direct_url``, the store location of an image that has data."""
    out = {
        "id": row.id, "name": row.name, "status": row.status, "visibility": row.visibility,
        "protected": row.protected, "os_hidden": row.os_hidden, "checksum": row.checksum,
        "os_hash_algo": row.os_hash_algo, "os_hash_value": row.os_hash_value,
        "owner": row.owner, "size": row.size, "virtual_size": row.virtual_size,
        "container_format": row.container_format, "disk_format": row.disk_format,
        "min_disk": row.min_disk, "min_ram": row.min_ram,
        "created_at": _ts(row.created_at), "updated_at": _ts(row.updated_at),
        "tags": list(row.tags or []), "self": f"/v2/images/{row.id}",
        "file": f"/v2/images/{row.id}/file", "schema": "/v2/schemas/image",
    }
    if store_root is not None and row.status in ("active", "deactivated"):
        out["direct_url"] = (store_root / row.id).as_uri()
    for key, value in (row.properties or {}).items():
        out.setdefault(key, value)
    return out


def _store_root(cloud: Cloud) -> pathlib.Path | None:
    """Where the locations of ``direct_url`` point, when glance-api.conf's
    ``show_image_direct_url`` is on (filesystem store: ``file://<dir>/<image id>``)."""
    return store(cloud).root.absolute() if cloud.config.glance.show_image_direct_url \
        else None


# -- access ----------------------------------------------------------------------------


def _visible(req: Request, row: Image, member_status: str | None = None) -> bool:
    """Glance's image visibility: admin, public/community, the owner, and for ``shared``
    images the projects it is shared with (``member_status`` is the caller's, if any)."""
    ctx = req.context
    if ctx.is_admin or row.visibility in ("public", "community"):
        return True
    if row.owner is not None and row.owner == ctx.project_id:
        return True
    return row.visibility == "shared" and member_status is not None


_MEMBER_STATUS = select(ImageMember.__table__.c.status).where(
    ImageMember.__table__.c.image_id == bindparam("image_id"),
    ImageMember.__table__.c.member == bindparam("member"))


def _member_status(s, req: Request, image_id: str) -> str | None:
    """The caller's membership of the image (Core: a session or a connection)."""
    if not req.context.project_id:
        return None
    return s.scalar(_MEMBER_STATUS, {"image_id": image_id, "member": req.context.project_id})


def _check_found(s, req: Request, row, image_id: str) -> None:
    """NotFound unless the row exists and the caller sees it. Its membership is read only
    where it decides: a shared image the caller does not own."""
    if row is None or not (_visible(req, row) or row.visibility == "shared" and _visible(
            req, row, _member_status(s, req, image_id))):
        raise exception.NotFound(f"No image found with ID {image_id}")


def _get(s, req: Request, image_id: str) -> Image:
    row = s.get(Image, image_id)
    _check_found(s, req, row, image_id)
    return row


def _check_mutable(req: Request, row: Image) -> None:
    if not req.context.is_admin and row.owner != req.context.project_id:
        raise exception.Forbidden("You are not permitted to modify this image.")


def _check_owner_member(req: Request, row: Image, action: str) -> None:
    """Glance's default rule for (de)activation: admin, or a member of the owner project."""
    ctx = req.context
    if ctx.is_admin:
        return
    if row.owner != ctx.project_id or "member" not in ctx.effective_roles:
        raise exception.Forbidden(f"You are not authorized to complete {action} action.")


def _schema_error(field: str, value: Any, detail: str) -> exception.BadRequest:
    return exception.BadRequest(
        f"Provided object does not match schema 'image': {detail}\n\nFailed validating "
        f"'{field}' in schema")


def _check_reserved(key: str) -> None:
    if key in RESERVED or key.startswith(RESERVED_NS):
        raise exception.Forbidden(f"Attribute '{key}' is reserved.")


def _validate_attr(req: Request, key: str, value: Any) -> Any:
    """Check one user-settable attribute; returns the value to store."""
    if key in READ_ONLY:
        raise exception.Forbidden(f"Attribute '{key}' is read-only.")
    _check_reserved(key)
    if key == "disk_format" and value is not None and value not in DISK_FORMATS:
        raise _schema_error("enum", value, f"{value!r} is not one of {DISK_FORMATS}")
    if key == "container_format" and value is not None and value not in CONTAINER_FORMATS:
        raise _schema_error("enum", value, f"{value!r} is not one of {CONTAINER_FORMATS}")
    if key == "visibility":
        if value not in VISIBILITIES:
            raise _schema_error("enum", value, f"{value!r} is not one of {VISIBILITIES}")
        if value == "public" and not req.context.is_admin:
            raise exception.Forbidden("You are not authorized to complete publicize_image "
                                      "action.")
    if key in ("min_disk", "min_ram"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _schema_error("type", value, f"{value!r} is not of type 'integer'")
        if value > MAX_INT:  # the column is a 32-bit integer, as Glance's
            raise _schema_error("maximum", value,
                                f"{value!r} is greater than the maximum of {MAX_INT}")
    if key in ("protected", "os_hidden") and not isinstance(value, bool):
        raise _schema_error("type", value, f"{value!r} is not of type 'boolean'")
    if key == "name" and value is not None and (not isinstance(value, str) or len(value) > 255):
        raise _schema_error("maxLength", value, f"{value!r} is too long")
    if key == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise _schema_error("type", value, f"{value!r} is not of type 'array'")
        return list(dict.fromkeys(value))
    if key == "owner" and value is not None and not isinstance(value, str):
        raise _schema_error("type", value, f"{value!r} is not of type 'string'")
    if key not in BASE_ATTRS and not isinstance(value, str):
        raise _schema_error("type", value, f"{value!r} is not of type 'string'")
    return value


def _set(row: Image, key: str, value: Any) -> None:
    if key in BASE_ATTRS and key != "id":
        setattr(row, key, value)
    else:
        props = dict(row.properties or {})
        props[key] = value
        row.properties = props


# -- handlers --------------------------------------------------------------------------


def create_image(req: Request):
    """POST /v2/images: 201 with the queued image and its Location."""
    body = read_json(req)
    if not isinstance(body, dict):
        raise exception.BadRequest("Malformed request body")
    image_id = body.pop("id", None)
    if image_id is not None:
        if not isinstance(image_id, str) or not UUID_RE.match(image_id):
            raise _schema_error("pattern", image_id, f"{image_id!r} does not match pattern")
        image_id = str(uuid.UUID(image_id))
    values = {k: _validate_attr(req, k, v) for k, v in body.items()}
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        if image_id and s.get(Image, image_id) is not None:
            raise exception.Conflict(f"Image with identifier {image_id} already exists!")
        row = Image(id=image_id or str(uuid.uuid4()), owner=req.context.project_id,
                    status="queued", visibility="shared", properties={}, tags=[])
        for k, v in values.items():
            _set(row, k, v)
        s.add(row)
        s.flush()
        out = view(row)
    headers = {"Location": f"{cloud.public_url('image')}/v2/images/{out['id']}"}
    if IMPORT_METHODS:   # Glance sends no empty header field (RFC 7230)
        headers["OpenStack-image-import-methods"] = ",".join(IMPORT_METHODS)
    return json_response(out, status=201, headers=headers)


# GET /v2/images/{id} (Nova and Cinder each read the image of a boot): a read-only row
_SHOW = select(Image.__table__).where(Image.__table__.c.id == bindparam("image_id"))


def show_image(req: Request, image_id: str):
    with req.app.cloud.db.reader_connection() as s:
        row = s.execute(_SHOW, {"image_id": image_id}).first()
        _check_found(s, req, row, image_id)
        return json_response(view(row, _store_root(req.app.cloud)))


def _bool_param(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise exception.BadRequest(f"Invalid value '{value}' for 'os_hidden' filter. Valid "
                               "values are 'true' or 'false'.")


def _int_param(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise exception.BadRequest(f"{name} param must be an integer") from None
    if n < 0:
        raise exception.BadRequest(f"{name} param must be positive")
    return n


def list_images(req: Request):
    """GET /v2/images: filters, sorting, limit/marker and the ``next`` link."""
    params = req.GET
    ctx = req.context
    limit = min(_int_param("limit", params["limit"]) if "limit" in params else DEFAULT_LIMIT,
                MAX_LIMIT)
    sort_keys: list[tuple[str, str]] = []
    if "sort" in params:
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            sort_keys.append((key, direction or "desc"))
    else:
        keys = params.getall("sort_key") or ["created_at"]
        dirs = params.getall("sort_dir") or ["desc"]
        for i, key in enumerate(keys):
            sort_keys.append((key, dirs[min(i, len(dirs) - 1)]))
    for key, direction in sort_keys:
        if direction not in ("asc", "desc"):
            raise exception.BadRequest(f"Invalid sort direction: {direction}")
    member_status = params.get("member_status", "accepted")
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise exception.BadRequest(f"Invalid status: {member_status}")
    with req.app.cloud.db.reader() as s:
        mine: dict[str, str] = {}
        if ctx.project_id:
            mine = dict(s.execute(select(ImageMember.image_id, ImageMember.status).where(
                ImageMember.member == ctx.project_id)).all())
        rows = []
        for r in s.scalars(select(Image)):
            if r.visibility == "shared" and r.owner != ctx.project_id and r.id in mine:
                # Glance: a member lists a shared image once it accepted it, or by
                # member_status (pending, rejected, all).
                if member_status != "all" and mine[r.id] != member_status:
                    continue
                rows.append(r)
            elif _visible(req, r):
                rows.append(r)
    root = _store_root(req.app.cloud)
    images = [view(r, root) for r in rows]
    visibility = params.get("visibility")
    if visibility and visibility != "all":
        images = [i for i in images if i["visibility"] == visibility]
    elif not visibility and not ctx.is_admin:
        images = [i for i in images if i["visibility"] != "community"
                  or i["owner"] == ctx.project_id]
    hidden = _bool_param(params["os_hidden"]) if "os_hidden" in params else False
    images = [i for i in images if i["os_hidden"] == hidden]
    for tag in params.getall("tag"):
        images = [i for i in images if tag in i["tags"]]
    if "size_min" in params:
        lo = _int_param("size_min", params["size_min"])
        images = [i for i in images if (i["size"] or 0) >= lo]
    if "size_max" in params:
        hi = _int_param("size_max", params["size_max"])
        images = [i for i in images if (i["size"] or 0) <= hi]
    skip = {"limit", "marker", "sort", "sort_key", "sort_dir", "visibility", "os_hidden",
            "tag", "size_min", "size_max", "member_status"}
    for key in set(params.keys()) - skip:
        wanted = params[key]
        if key in ("status", "name", "disk_format", "container_format", "owner", "id") and \
                wanted.startswith("in:"):
            choices = wanted[3:].split(",")
            images = [i for i in images if str(i.get(key)) in choices]
        else:
            images = [i for i in images if str(i.get(key)) == wanted
                      or (isinstance(i.get(key), bool) and str(i[key]).lower() == wanted)]
    for key, direction in reversed(sort_keys + [("id", sort_keys[-1][1])]):
        images.sort(key=lambda i, k=key: (i.get(k) is not None, i.get(k) or ""),
                    reverse=direction == "desc")
    if "marker" in params:
        ids = [i["id"] for i in images]
        if params["marker"] not in ids:
            raise exception.BadRequest(f"Invalid marker. Image {params['marker']} could not "
                                       "be found.")
        images = images[ids.index(params["marker"]) + 1:]
    page = images[:limit]
    body: dict = {"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if page and len(page) == limit:
        query = [(k, v) for k, v in params.items() if k != "marker"]
        query.append(("marker", page[-1]["id"]))
        body["next"] = "/v2/images?" + "&".join(f"{k}={quote(v)}"
                                               for k, v in query)
    return json_response(body)


def _patch_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1:
        raise exception.BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return path[1:].replace("~1", "/").replace("~0", "~")


OPERATIONS = ("add", "remove", "replace")


def _patch_op(op: Any) -> tuple[str, str]:
    """One change of the PATCH document: ``{"op": "replace", "path": "/name", ...}``
    (v2.1, JSON-patch draft 10) or ``{"replace": "/name", ...}`` (v2.0, draft 4)."""
    if not isinstance(op, dict):
        raise exception.BadRequest("Operation objects must contain exactly one member named "
                                   '"add", "remove", or "replace".')
    if "op" in op:
        if op["op"] not in OPERATIONS:
            raise exception.BadRequest(f"Invalid operation: `{op['op']}`. It must be one of "
                                       "the following: add, remove, replace.")
        if "path" not in op:
            raise exception.BadRequest("Unable to find 'path' in JSON Schema change")
        return op["op"], op["path"]
    kinds = [k for k in OPERATIONS if k in op]
    if len(kinds) != 1:
        raise exception.BadRequest(
            "Operation objects must contain " + ("only" if kinds else "exactly")
            + ' one member named "add", "remove", or "replace".')
    return kinds[0], op[kinds[0]]


def update_image(req: Request, image_id: str):
    """PATCH /v2/images/{id} with an openstack-images-v2.1 JSON-patch document."""
    ctype = (req.content_type or "").lower()
    if ctype not in PATCH_TYPES:
        raise _unsupported_patch(ctype)
    ops = read_json(req)
    if not isinstance(ops, list):
        raise exception.BadRequest("Request body must be a JSON array of operation objects.")
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_mutable(req, row)
        for op in ops:
            kind, path = _patch_op(op)
            key = _patch_path(path)
            if kind in ("add", "replace"):
                if "value" not in op:
                    raise exception.BadRequest(f'Operation "{kind}" requires a member named '
                                               '"value".')
                if key == "id":
                    raise exception.Forbidden("Attribute 'id' is read-only.")
                # Glance's deserializer checks names and values before the controller
                # looks for the property.
                value = _validate_attr(req, key, op["value"])
                exists = key in BASE_ATTRS or key in (row.properties or {})
                if kind == "replace" and not exists:
                    raise exception.Conflict(f"Property {key} does not exist.")
                _set(row, key, value)
            elif kind == "remove":
                _check_reserved(key)
                if key in BASE_ATTRS or key in READ_ONLY:
                    raise exception.Forbidden(f"Attribute '{key}' is read-only."
                                              if key in READ_ONLY or key == "id" else
                                              f"Attribute '{key}' can't be removed.")
                props = dict(row.properties or {})
                if key not in props:
                    raise exception.Conflict(f"Property {key} does not exist.")
                del props[key]
                row.properties = props
            else:
                raise exception.BadRequest(f"Invalid operation: `{kind}`.")
        row.updated_at = utcnow()
        s.flush()
        return json_response(view(row, _store_root(req.app.cloud)))


def _unsupported_patch(ctype: str) -> exception.StacklingError:
    err = exception.UnsupportedMediaType(
        f"Unsupported Content-Type: {ctype}")
    err.headers = {"Accept-Patch": ", ".join(PATCH_TYPES)}
    return err


def delete_image(req: Request, image_id: str):
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_mutable(req, row)
        if row.protected:
            raise exception.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        for m in s.scalars(select(ImageMember).where(ImageMember.image_id == image_id)):
            s.delete(m)
        s.flush()
        s.delete(row)
    store(cloud).delete(image_id)
    staging(cloud).delete(image_id)
    return empty_response(204)


def add_tag(req: Request, image_id: str, tag: str):
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_mutable(req, row)
        if len(tag) > 255:
            raise exception.BadRequest("Provided object does not match schema 'image': "
                                       f"'{tag}' is too long")
        if tag not in (row.tags or []):
            row.tags = [*(row.tags or []), tag]
            row.updated_at = utcnow()
    return empty_response(204)


def delete_tag(req: Request, image_id: str, tag: str):
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_mutable(req, row)
        if tag not in (row.tags or []):
            raise exception.NotFound(f"Tag {tag} not found.")
        row.tags = [t for t in row.tags if t != tag]
        row.updated_at = utcnow()
    return empty_response(204)


def _transition(row: Image, target: str) -> None:
    if target not in VALID_TARGETS.get(row.status, ()):
        raise exception.Conflict(f"Image status transition from {row.status} to {target} is "
                                 "not allowed")
    row.status = target


def _body_chunks(req: Request, chunk: int = imagestore.CHUNK_SIZE):
    """The request body as a stream of chunks: Content-Length bounded, or to EOF if chunked."""
    stream = req.environ["wsgi.input"]
    length = req.content_length
    if length is not None:
        remaining = length
        while remaining > 0:
            data = stream.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
        return
    if req.environ.get("wsgi.input_terminated") or \
            "chunked" in req.headers.get("Transfer-Encoding", "").lower():
        while True:
            data = stream.read(chunk)
            if not data:
                return
            yield data


def upload_image(req: Request, image_id: str):
    """PUT /v2/images/{id}/file: queued → saving → active; 204."""
    ctype = (req.content_type or "").lower()
    if ctype != "application/octet-stream":
        raise exception.UnsupportedMediaType(content_type=req.content_type or "None")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_mutable(req, row)
        if row.status == "deactivated":
            raise exception.Forbidden("Image is deactivated")
        if not row.disk_format or not row.container_format:
            raise exception.BadRequest("Properties disk_format, container_format must be set "
                                       "prior to saving data.")
        _transition(row, "saving")
    stored = write_or_requeue(cloud, store(cloud), image_id, _body_chunks(req), "saving",
                              "Failed to upload image data: ")
    with cloud.db.writer() as s:
        row = s.get(Image, image_id)
        if row is None:  # deleted while uploading
            store(cloud).delete(image_id)
            raise exception.Conflict("Image was deleted while it was being uploaded.")
        record_data(row, stored)
        _transition(row, "active")
    return empty_response(204)


def write_or_requeue(cloud: Cloud, target: imagestore.ImageStore, image_id: str, chunks,
                     status: str, error_prefix: str) -> imagestore.StoredImage:
    """Store the data; on failure the image goes back from ``status`` to queued
    (glance/api/v2/image_data.py ``_restore``) and a store error is a 400."""
    try:
        return target.write(image_id, chunks)
    except Exception as exc:
        LOG.warning("writing data of image %s failed: %s", image_id, exc)
        with cloud.db.writer() as s:
            row = s.get(Image, image_id)
            if row is not None and row.status == status:
                row.status = "queued"
        if isinstance(exc, imagestore.ImageStoreError):
            raise exception.BadRequest(f"{error_prefix}{exc}") from None
        raise


def record_data(row: Image, stored: imagestore.StoredImage) -> None:
    """Size, checksums and virtual size of the data just stored for ``row``."""
    row.size = stored.size
    row.checksum = stored.checksum
    row.os_hash_algo = stored.os_hash_algo
    row.os_hash_value = stored.os_hash_value
    # qcow2 (and the other container formats) carry their size in the header; raw is
    # its own size.
    row.virtual_size = stored.virtual_size if stored.virtual_size is not None else stored.size


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → [start, end) ; 416 when unsatisfiable."""
    m = re.match(r"^bytes=(\d*)-(\d*)$", header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise _RangeError(size)
    if not m.group(1):
        n = int(m.group(2))
        start, end = max(size - n, 0), size
    else:
        start = int(m.group(1))
        end = int(m.group(2)) + 1 if m.group(2) else size
    end = min(end, size)
    if start >= size or start >= end:
        raise _RangeError(size)
    return start, end


class _RangeError(exception.StacklingError):
    code = 416
    msg_fmt = "Requested range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__()
        self.headers = {"Content-Range": f"bytes */{size}"}


def download_image(req: Request, image_id: str):
    """GET /v2/images/{id}/file: 200 stream, 206 for a Range, 204 before any data."""
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        row = _get(s, req, image_id)
        status, checksum = row.status, row.checksum
    if status == "deactivated" and not req.context.is_admin:
        raise exception.Forbidden("The requested image has been deactivated. Image data "
                                  "download is forbidden.")
    st = store(cloud)
    if status not in ("active", "deactivated") or not st.exists(image_id):
        return empty_response(204)
    size = st.size(image_id)
    start, end, code = 0, size, 200
    rng = req.headers.get("Range") or req.headers.get("Content-Range")
    if rng:
        if rng.startswith("bytes ") and "/" in rng:  # Content-Range: bytes a-b/total
            rng = "bytes=" + rng[6:].split("/")[0]
        start, end = _parse_range(rng, size)
        code = 206
    reader = st.open_range(image_id, start, end)
    resp = webob.Response(status=code, app_iter=reader, content_type="application/octet-stream",
                          charset=None)
    resp.content_length = end - start
    if code == 206:
        resp.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    elif checksum:
        resp.headers["Content-MD5"] = checksum
    return resp


def deactivate_image(req: Request, image_id: str):
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_owner_member(req, row, "deactivate")
        if row.status != "deactivated":
            if row.status != "active":
                raise exception.Forbidden("Not allowed to deactivate image in status "
                                          f"'{row.status}'")
            _transition(row, "deactivated")
    return empty_response(204)


def reactivate_image(req: Request, image_id: str):
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, image_id)
        _check_owner_member(req, row, "reactivate")
        if row.status != "active":
            if row.status != "deactivated":
                raise exception.Forbidden("Not allowed to reactivate image in status "
                                          f"'{row.status}'")
            _transition(row, "active")
    return empty_response(204)


# -- schemas ---------------------------------------------------------------------------


def image_schema() -> dict:
    """A trimmed version of Glance's ``image`` schema; enough for glanceclient's checks."""
    string_or_null = {"type": ["null", "string"]}
    return {
        "name": "image", "additionalProperties": {"type": "string"},
        "links": [{"href": "{self}", "rel": "self"}, {"href": "{file}", "rel": "enclosure"},
                  {"href": "{schema}", "rel": "describedby"}],
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-"
                   "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": ["null", "string"], "maxLength": 255},
            "status": {"type": "string", "readOnly": True, "enum": STATUSES},
            "visibility": {"type": "string", "enum": VISIBILITIES},
            "protected": {"type": "boolean"}, "os_hidden": {"type": "boolean"},
            "checksum": {**string_or_null, "readOnly": True, "maxLength": 32},
            "os_hash_algo": {**string_or_null, "readOnly": True, "maxLength": 64},
            "os_hash_value": {**string_or_null, "readOnly": True, "maxLength": 128},
            "owner": {**string_or_null, "maxLength": 255},
            "size": {"type": ["null", "integer"], "readOnly": True},
            "virtual_size": {"type": ["null", "integer"], "readOnly": True},
            "container_format": {"type": ["null", "string"],
                                 "enum": [None, *CONTAINER_FORMATS]},
            "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
            "created_at": {"type": "string", "readOnly": True},
            "updated_at": {"type": "string", "readOnly": True},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "min_ram": {"type": "integer"}, "min_disk": {"type": "integer"},
            "self": {"type": "string", "readOnly": True},
            "file": {"type": "string", "readOnly": True},
            "schema": {"type": "string", "readOnly": True},
            "direct_url": {"type": "string", "readOnly": True},
            "locations": {"type": "array", "items": {"type": "object"}},
        },
    }


def schema_image(req: Request):
    return json_response(image_schema())


def schema_images(req: Request):
    return json_response({
        "name": "images", "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"}, "first": {"type": "string"},
            "next": {"type": "string"}},
        "links": [{"href": "{first}", "rel": "first"}, {"href": "{next}", "rel": "next"},
                  {"href": "{schema}", "rel": "describedby"}]})


def image_meta(cloud: Cloud, image_id: str) -> dict | None:
    """The image view by id, without access checks (for the volume service's workers)."""
    with cloud.db.reader() as s:
        row = s.get(Image, image_id)
        return view(row) if row is not None else None
