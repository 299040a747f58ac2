"""/images and /images/{id}/metadata: Nova's deprecated proxies to the Image API.

Nova answers /images up to 2.35 and the image metadata API up to 2.38 (404 above, the
proxies are gone there). Every call goes to Glance through ``glance.GlanceAPI`` with the
caller's token; the bodies are Nova's image view (views/images.py): status ACTIVE/
SAVING/DELETED/ERROR/UNKNOWN, ``progress``, ``minRam``/``minDisk``, the non-base
attributes as ``metadata``, ``OS-EXT-IMG-SIZE:size``, self/bookmark/alternate links and
``server`` for a server snapshot. Neither API has a policy rule in Nova.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from stackling import exception
from stackling.compute import glance
from stackling.compute.api import common, views
from stackling.web.app import Request, empty_response, json_response, read_json

MAX_IMAGES_VERSION = "2.35"
MAX_METADATA_VERSION = "2.38"

# Nova's query names → the filters it hands to Glance v2 (SUPPORTED_FILTERS, then
# _extract_query_params_v2 drops the ``property-`` prefix).
FILTERS = {"name": "name", "status": "status", "server": "instance_uuid",
           "type": "image_type", "minRam": "min_ram", "minDisk": "min_disk"}
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "active": 100}
TRUE = ("1", "t", "true", "on", "y", "yes")


def _start(req: Request, max_version: str) -> glance.GlanceAPI:
    if not req.version.matches(None, max_version):
        raise exception.NotFound("The resource could not be found.")
    return glance.GlanceAPI(req.app.cloud, req.context)


def _zulu(value: Any) -> str | None:
    if not value:
        return None
    stamp = dt.datetime.fromisoformat(str(value))
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _links(req: Request, image_id: str) -> list[dict]:
    base = req.app.cloud.public_url("compute")
    glance_url = req.app.cloud.public_url("image").rstrip("/")
    return [*views.links(base, req.context.project_id, image_id, "images"),
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{glance_url}/images/{image_id}"}]


def basic(req: Request, image: dict) -> dict:
    return {"id": image.get("id"), "name": image.get("name"),
            "links": _links(req, image["id"])}


def show_view(req: Request, image: dict) -> dict:
    props = image.get("properties", {})
    out: dict[str, Any] = {
        "id": image.get("id"), "name": image.get("name"),
        "minRam": int(image.get("min_ram") or 0), "minDisk": int(image.get("min_disk") or 0),
        "metadata": props, "created": _zulu(image.get("created_at")),
        "updated": _zulu(image.get("updated_at")),
        "status": STATUS.get(image.get("status"), "UNKNOWN"),
        "progress": PROGRESS.get(image.get("status"), 0),
        "OS-EXT-IMG-SIZE:size": image.get("size"), "links": _links(req, image["id"]),
    }
    server = props.get("instance_uuid")
    if server is not None:
        out["server"] = {"id": server, "links": views.links(
            req.app.cloud.public_url("compute"), req.context.project_id, server)}
    disk_config = props.get("auto_disk_config")
    if disk_config is not None:
        out["OS-DCF:diskConfig"] = "AUTO" if str(disk_config).lower() in TRUE else "MANUAL"
    return out


def _filters(req: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in req.GET.items():
        if name in FILTERS:
            out[FILTERS[name]] = value
        elif name.startswith("property-"):
            out[name[len("property-"):]] = value
    if "instance_uuid" in out:
        out["instance_uuid"] = out["instance_uuid"].rsplit("/", 1)[-1]
    if "status" in out:
        out["status"] = out["status"].lower()
    return out


def _list(req: Request, detail: bool):
    api = _start(req, MAX_IMAGES_VERSION)
    params = req.GET
    limit = (common.validate_integer(params["limit"], "limit", 0)
             if "limit" in params else None)
    images = api.get_all(_filters(req), limit, params.get("marker"))
    since = params.get("changes-since")
    if since:
        # Nova sends ``updated_at=gte:<since>``; the comparison is done here.
        try:
            floor = dt.datetime.fromisoformat(since)
        except ValueError:
            raise exception.BadRequest(
                f"Invalid input for query parameters changes-since. Value: {since}. "
                f"'{since}' is not a 'date-time'") from None
        if floor.tzinfo is None:
            floor = floor.replace(tzinfo=dt.UTC)
        images = [i for i in images if i.get("updated_at") and dt.datetime.fromisoformat(
            i["updated_at"]) >= floor]
    view = show_view if detail else basic
    body: dict[str, Any] = {"images": [view(req, i) for i in images]}
    max_limit = common.conf(req).api.max_limit
    wanted = min(limit if limit is not None else max_limit, max_limit)
    if wanted and wanted == len(images):
        query = dict(sorted(params.items()))
        query["marker"] = images[-1]["id"]
        coll = "images/detail" if detail else "images"
        body["images_links"] = [{"rel": "next", "href": (
            f"{req.app.cloud.public_url('compute')}/v2.1/{req.context.project_id}/{coll}"
            f"?{urlencode(query)}")}]
    return json_response(body)


def list_images(req: Request):
    return _list(req, detail=False)


def list_images_detail(req: Request):
    return _list(req, detail=True)


def _get(api: glance.GlanceAPI, image_id: str) -> dict:
    try:
        return api.get(image_id)
    except glance.ImageNotFound:
        raise exception.NotFound("Image not found.") from None


def show_image(req: Request, image_id: str):
    api = _start(req, MAX_IMAGES_VERSION)
    return json_response({"image": show_view(req, _get(api, image_id))})


def delete_image(req: Request, image_id: str):
    api = _start(req, MAX_IMAGES_VERSION)
    try:
        api.delete(image_id)
    except glance.ImageNotFound:
        raise exception.NotFound("Image not found.") from None
    except glance.ImageNotAuthorized:
        raise exception.Forbidden("You are not allowed to delete the image.") from None
    return empty_response(204)


# -- image metadata (up to 2.38) -------------------------------------------------------


def _metadata_body(req: Request, key: str) -> dict:
    data = common.body_key(read_json(req), key)
    for k, val in data.items():
        if not 1 <= len(k) <= 255 or not isinstance(val, str) or len(val) > 255:
            raise exception.ValidationError(field=key, value=data,
                                            detail="is not a valid metadata dict")
    return data


def _check_quota(req: Request, metadata: dict) -> None:
    """common.check_img_metadata_properties_quota: the ``metadata_items`` limit."""
    from stackling.compute.api import quotas

    with req.app.cloud.db.reader() as s:
        allowed = quotas.limits(s, common.conf(req), req.context.project_id)["metadata_items"]
    if metadata and 0 <= allowed < len(metadata):
        raise exception.Forbidden("Image metadata limit exceeded")


def _save(api: glance.GlanceAPI, image_id: str, props: dict) -> dict:
    try:
        return api.set_properties(image_id, props)["properties"]
    except glance.ImageNotFound:
        raise exception.NotFound("Image not found.") from None


def list_image_metadata(req: Request, image_id: str):
    api = _start(req, MAX_METADATA_VERSION)
    return json_response({"metadata": _get(api, image_id)["properties"]})


def show_image_metadata_item(req: Request, image_id: str, key: str):
    api = _start(req, MAX_METADATA_VERSION)
    props = _get(api, image_id)["properties"]
    if key not in props:
        raise exception.NotFound("The resource could not be found.")
    return json_response({"meta": {key: props[key]}})


def create_image_metadata(req: Request, image_id: str):
    api = _start(req, MAX_METADATA_VERSION)
    data = _metadata_body(req, "metadata")
    props = {**_get(api, image_id)["properties"], **data}
    _check_quota(req, props)
    return json_response({"metadata": _save(api, image_id, props)})


def replace_image_metadata(req: Request, image_id: str):
    api = _start(req, MAX_METADATA_VERSION)
    data = _metadata_body(req, "metadata")
    _get(api, image_id)
    _check_quota(req, data)
    _save(api, image_id, data)
    return json_response({"metadata": data})


def update_image_metadata_item(req: Request, image_id: str, key: str):
    api = _start(req, MAX_METADATA_VERSION)
    data = _metadata_body(req, "meta")
    if len(data) != 1:
        raise exception.ValidationError(field="meta", value=data,
                                        detail="is not a valid metadata dict")
    if key not in data:
        raise exception.BadRequest("Request body and URI mismatch")
    props = {**_get(api, image_id)["properties"], key: data[key]}
    _check_quota(req, props)
    _save(api, image_id, props)
    return json_response({"meta": data})


def delete_image_metadata_item(req: Request, image_id: str, key: str):
    api = _start(req, MAX_METADATA_VERSION)
    props = _get(api, image_id)["properties"]
    if key not in props:
        raise exception.NotFound("Invalid metadata key")
    props.pop(key)
    _save(api, image_id, props)
    return empty_response(204)
