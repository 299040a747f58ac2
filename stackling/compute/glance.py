"""Nova's Glance client (nova/image/glance.py): the Image API v2 contract, only.

Every call is a Glance v2 request sent through ``ServiceClient`` with the caller's
token, as glanceclient sends it for Nova. Images come back in Nova's internal shape
(``_translate_from_glance``): the schema's base attributes at the top, every other
attribute under ``properties``, ``is_public`` from ``visibility``, ``size`` 0 when
unknown. Errors are translated as Nova translates glanceclient's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from stackling import clients, exception

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.context import RequestContext

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
# Attributes Nova never copies out of a v2 image (_extract_attributes_v2's omit_attrs,
# plus the location attributes it leaves out by default).
OMIT = {"self", "schema", "protected", "virtual_size", "file", "tags", "direct_url",
        "locations"}
JSON_PROPS = ("block_device_mapping", "mappings")   # stored as JSON strings in Glance
MAX_PAGES = 1000                                     # bounds the walk over ``next`` links


class ImageNotFound(exception.NotFound):
    msg_fmt = "Image %(image_id)s could not be found."


class ImageNotAuthorized(exception.Forbidden):
    msg_fmt = "Not authorized for image %(image_id)s."


@dataclass
class GlanceAPI:
    cloud: Cloud
    ctx: RequestContext

    def _client(self) -> clients.ServiceClient:
        return clients.ServiceClient(self.cloud, "image", self.ctx.token or "")

    def _request(self, method: str, path: str, image_id: str | None = None,
                 body: Any = None, headers: dict | None = None) -> Any:
        try:
            return self._client().request(method, path, body, headers)[1]
        except clients.ApiError as err:
            if err.status in (401, 403):
                raise ImageNotAuthorized(image_id=image_id) from None
            if err.status == 404:
                raise ImageNotFound(image_id=image_id) from None
            if err.status == 400:
                raise exception.Invalid(err.message) from None
            raise exception.StacklingError(str(err)) from None

    def _base_attributes(self) -> set[str]:
        schema = self._request("GET", "/v2/schemas/image")
        return {k for k, v in schema.get("properties", {}).items()
                if not (isinstance(v, dict) and v.get("is_base") is False)}

    def _translate(self, image: dict, base: set[str]) -> dict:
        out: dict[str, Any] = {"properties": {}, "deleted": False, "deleted_at": None,
                               "disk_format": None, "container_format": None,
                               "name": None, "checksum": None}
        for name, value in image.items():
            if name in OMIT:
                continue
            if name == "visibility":
                out["is_public"] = value == "public"
            elif name == "size" and value is None:
                out["size"] = 0
            elif name in base:
                out[name] = value
            else:
                out["properties"][name] = value
        for name in JSON_PROPS:
            if isinstance(out["properties"].get(name), str):
                try:
                    out["properties"][name] = json.loads(out["properties"][name])
                except ValueError:
                    pass
        return out

    def get(self, image_id: str) -> dict:
        image = self._request("GET", f"/v2/images/{image_id}", image_id)
        return self._translate(image, self._base_attributes())

    def get_all(self, filters: dict[str, str], limit: int | None = None,
                marker: str | None = None) -> list[dict]:
        """glanceclient's images.list: follow ``next`` until ``limit`` images are read."""
        query = dict(filters)
        if limit is not None:
            query["limit"] = str(limit)
        if marker:
            query["marker"] = marker
        path = "/v2/images" + (f"?{urlencode(query)}" if query else "")
        images: list[dict] = []
        for _ in range(MAX_PAGES):
            page = self._request("GET", path, marker)
            images.extend(page.get("images", []))
            nxt = page.get("next")
            if not nxt or (limit is not None and len(images) >= limit):
                break
            parts = urlsplit(nxt)
            path = f"/v2/images?{urlencode(parse_qsl(parts.query))}"
        if limit is not None:
            images = images[:limit]
        base = self._base_attributes()
        return [self._translate(i, base) for i in images]

    def delete(self, image_id: str) -> None:
        self._request("DELETE", f"/v2/images/{image_id}", image_id)

    def set_properties(self, image_id: str, properties: dict[str, Any]) -> dict:
        """update(..., purge_props=True) of the properties: one JSON-patch request."""
        current = self.get(image_id)["properties"]
        ops: list[dict] = []
        for name in current:
            if name not in properties:
                ops.append({"op": "remove", "path": f"/{name}"})
        for name, value in properties.items():
            if name in JSON_PROPS and not isinstance(value, str):
                value = json.dumps(value)
            elif value is not None and not isinstance(value, str):
                value = str(value)
            if current.get(name, object()) != value:
                ops.append({"op": "replace" if name in current else "add",
                            "path": f"/{name}", "value": value})
        if ops:
            image = self._request("PATCH", f"/v2/images/{image_id}", image_id, ops,
                                  {"Content-Type": PATCH_TYPE})
        else:
            image = self._request("GET", f"/v2/images/{image_id}", image_id)
        return self._translate(image, self._base_attributes())

    # -- snapshots: create, patch, upload (nova/image/glance.py create / update) ------

    def create(self, meta: dict[str, Any]) -> dict:
        """POST /v2/images: base attributes and properties flattened, values as strings."""
        body: dict[str, Any] = {}
        for name, value in meta.items():
            if name == "properties":
                continue
            if value is not None:
                body[name] = value
        for name, value in (meta.get("properties") or {}).items():
            if value is None:
                continue
            body[name] = value if isinstance(value, str) else json.dumps(value) \
                if name in JSON_PROPS else str(value)
        return self._request("POST", "/v2/images", None, body)

    def update(self, image_id: str, values: dict[str, Any]) -> dict:
        """Add or replace attributes (no purge): one JSON-patch request."""
        current = self._request("GET", f"/v2/images/{image_id}", image_id)
        ops = [{"op": "replace" if name in current else "add", "path": f"/{name}",
                "value": value} for name, value in values.items()]
        return self._request("PATCH", f"/v2/images/{image_id}", image_id, ops,
                             {"Content-Type": PATCH_TYPE})

    def download(self, image_id: str) -> tuple[Any, int | None]:
        """GET /v2/images/{id}/file, streamed: (chunks, length)."""
        try:
            resp = self._client().stream("GET", f"/v2/images/{image_id}/file")
        except clients.ApiError as err:
            raise ImageNotFound(image_id=image_id) if err.status == 404 else \
                exception.StacklingError(str(err)) from None
        return resp.app_iter, resp.content_length

    def upload(self, image_id: str, chunks: Any, length: int | None) -> None:
        """PUT /v2/images/{id}/file with the chunks as they come."""
        try:
            self._client().stream("PUT", f"/v2/images/{image_id}/file", chunks, length)
        except clients.ApiError as err:
            if err.status == 404:
                raise ImageNotFound(image_id=image_id) from None
            raise exception.StacklingError(str(err)) from None

    def add_member(self, image_id: str, member: str) -> None:
        self._request("POST", f"/v2/images/{image_id}/members", image_id, {"member": member})
