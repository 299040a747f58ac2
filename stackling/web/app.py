"""The WSGI application every API is an instance of.

Order of work for a request, outermost first: request id → route (404/405) → token
(401, skipped for discovery routes) → microversion (400/406) → project id in the URL →
handler. Any StacklingError becomes the service's own error body; anything else a 500
without internals. Microversion headers are added to every answer, errors included.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import unquote_to_bytes
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import webob

from stackling import exception
from stackling.context import RequestContext
from stackling.web import faults
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


class Request(webob.Request):
    """A webob request that also carries the caller's context and the microversion."""

    context: RequestContext
    version: Version | None = None
    app: ApiApp


@dataclass
class ServiceInfo:
    """What differs between the four APIs at the HTTP layer."""

    name: str                      # identity, compute, volume, image
    fault_style: str               # keystone, compute, glance
    unexpected_message: str        # the text of a 500
    versions: VersionSpec | None = None
    request_id_headers: tuple[str, ...] = ("x-openstack-request-id",)
    error_request_id_headers: tuple[str, ...] = ()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> webob.Response:
    resp = webob.Response(status=status, content_type="application/json", charset=None)
    resp.body = json.dumps(body).encode()
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> webob.Response:
    resp = webob.Response(status=status, content_type=None, charset=None)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON (RFC 8259); no field of any API can hold them."""
    raise ValueError(name)


def read_json(req: webob.Request, required: bool = True) -> Any:
    """The request body as JSON; a body that is not JSON is a 400."""
    if not req.body:
        if required:
            raise exception.BadRequest("Malformed request body")
        return None
    try:
        return json.loads(req.body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack (``[[[[...``).
        raise exception.BadRequest("Malformed request body") from None


def _path(environ: dict) -> str:
    """PATH_INFO as text; a path that is not UTF-8 names no resource (404, not 500)."""
    try:
        return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise exception.NotFound("The resource could not be found.") from None


def _check_query(environ: dict) -> None:
    """A query string that is not UTF-8 once unquoted is a 400 (webob would raise)."""
    query = environ.get("QUERY_STRING", "")
    if "%" in query or not query.isascii():
        try:
            unquote_to_bytes(query.replace("+", " ")).decode("utf-8")
        except UnicodeError:
            raise exception.BadRequest("The query string is not valid UTF-8.") from None


class ApiApp:
    def __init__(self, cloud: Cloud, info: ServiceInfo, router: Router) -> None:
        self.cloud = cloud
        self.info = info
        self.router = router

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        req = Request(environ)
        req.app = self
        request_id = "req-" + str(uuid.uuid4())
        version: Version | None = None
        try:
            try:
                route, handler, params = self.router.match(req.method, _path(environ))
            except (exception.NotFound, exception.MethodNotAllowed):
                # Like keystonemiddleware in front of the real APIs: no token, no 404.
                req.context = self._context(req, False, request_id)
                raise
            req.context = self._context(req, route.public, request_id)
            _check_query(environ)
            if self.info.versions is not None and not route.public:
                version = req.version = self.info.versions.from_headers(req.headers)
            self._check_project(req, params)
            req.urlvars = params
            resp = handler(req, **params)
        except exception.StacklingError as exc:
            resp = self.fault(req, exc.code, exc.message, exc.headers)
        except Exception:
            # One traceback per 500, with the request id that the caller was given.
            LOG.exception("Unexpected error in %s %s [%s]", req.method,
                          environ.get("PATH_INFO", ""), request_id)
            resp = self.fault(req, 500, self.info.unexpected_message)
        for name in self.info.request_id_headers:
            resp.headers[name] = request_id
        if resp.status_int >= 400:
            for name in self.info.error_request_id_headers:
                resp.headers[name] = request_id
        if version is not None and self.info.versions is not None:
            for name, value in self.info.versions.response_headers(version):
                resp.headers[name] = value
        if req.method == "HEAD":
            length = resp.content_length
            resp.body = b""
            resp.content_length = length
        return resp(environ, start_response)

    def fault(self, req: webob.Request, status: int, message: str,
              headers: dict[str, str] | None = None) -> webob.Response:
        if status == 401:
            return faults.unauthorized(self.cloud.public_url("identity"))
        return faults.STYLES[self.info.fault_style](status, message, headers, request=req)

    def _context(self, req: webob.Request, public: bool, request_id: str) -> RequestContext:
        token = req.headers.get("X-Auth-Token")
        if public and not token:
            return RequestContext(cloud=self.cloud, request_id=request_id)
        if not token:
            raise exception.Unauthorized()
        try:
            auth = self.cloud.validator(self.info.name).validate(token)
        except exception.StacklingError:
            if public:
                return RequestContext(cloud=self.cloud, request_id=request_id)
            raise exception.Unauthorized() from None
        return auth.context(self.cloud, token, request_id)

    def _check_project(self, req: Request, params: dict[str, str]) -> None:
        """Nova and Cinder refuse a project id in the URL that is not the token's."""
        url_project = params.pop("project_id", None)
        if url_project is not None and url_project != req.context.project_id:
            raise exception.BadRequest(
                f"Malformed request URL: URL's project_id '{url_project}' doesn't match "
                f"Context's project_id '{req.context.project_id}'")
