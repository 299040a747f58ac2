"""Error bodies in each service's own shape (reference section 8)."""

from __future__ import annotations

import json
from http import HTTPStatus

import webob
import webob.exc

# Nova's and Cinder's fault names (nova/api/openstack/wsgi.py, cinder/api/openstack/wsgi.py).
FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
    429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable",
}


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> webob.Response:
    resp = webob.Response(status=status, content_type="application/json", charset=None)
    resp.body = json.dumps(body).encode()
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def compute_fault(status: int, message: str, headers: dict[str, str] | None = None,
                  **_) -> webob.Response:
    """Nova and Cinder: ``{"<faultName>": {"code": N, "message": "..."}}``."""
    name = FAULT_NAMES.get(status, "computeFault")
    inner: dict = {"code": status, "message": message}
    if status in (413, 429) and headers and "Retry-After" in headers:
        inner["retryAfter"] = headers["Retry-After"]
    return _json(status, {name: inner}, headers)


def keystone_fault(status: int, message: str, headers: dict[str, str] | None = None,
                   **_) -> webob.Response:
    """Keystone: ``{"error": {"code": N, "title": "<reason>", "message": "..."}}``."""
    title = HTTPStatus(status).phrase
    return _json(status, {"error": {"code": status, "title": title, "message": message}},
                 headers)


def glance_fault(status: int, message: str, headers: dict[str, str] | None = None,
                 request: webob.Request | None = None, **_) -> webob.Response:
    """Glance answers with webob's own error pages, shaped by the Accept header."""
    exc_class = webob.exc.status_map.get(status, webob.exc.HTTPInternalServerError)
    exc = exc_class(explanation=message, headers=list((headers or {}).items()))
    if request is None:
        request = webob.Request.blank("/")
    return request.get_response(exc)


def neutron_fault(status: int, message: str, headers: dict[str, str] | None = None,
                  error: Exception | None = None, **_) -> webob.Response:
    """Neutron: ``{"NeutronError": {"type": "<ExceptionClass>", "message": "...", "detail": ""}}``.

    Errors of the HTTP layer (404 route, 405, unreadable body) carry webob's class name,
    as Neutron's own do (``HTTPNotFound``, ``HTTPBadRequest``).
    """
    kind = getattr(error, "neutron_type", None)
    if kind is None:
        kind = webob.exc.status_map.get(status, webob.exc.HTTPInternalServerError).__name__
    if status == 500:
        message = "Request Failed: internal server error while processing your request."
    return _json(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}},
                 headers)


STYLES = {"compute": compute_fault, "keystone": keystone_fault, "glance": glance_fault,
          "neutron": neutron_fault}


def unauthorized(identity_url: str) -> webob.Response:
    """keystonemiddleware's 401, the same for every service."""
    return keystone_fault(401, "The request you have made requires authentication.",
                          {"WWW-Authenticate": f'Keystone uri="{identity_url}"'})
