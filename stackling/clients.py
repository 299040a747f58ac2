"""Service-to-service calls through the public API contract (Nova → Cinder, Nova → Glance).

Real Nova talks to Cinder and Glance over HTTP with the user's token (plus a service
token). ``ServiceClient`` builds the request; the Cloud's sender seam delivers it: to
the WSGI app in this process (no socket, same routing, auth, microversions and error
bodies), or over HTTP to the endpoint in the Keystone catalog (``stackling.seams.http``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import webob

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.context import RequestContext


@dataclass
class ApiError(Exception):
    """A non-2xx answer: status, the error message from the body, and the request id."""

    status: int
    message: str
    request_id: str | None
    body: Any = None

    def __str__(self) -> str:
        # python-cinderclient renders its exceptions this way, and Nova shows that text.
        return f"{self.message} (HTTP {self.status}) (Request-ID: {self.request_id})"


def error_message(body: Any) -> str:
    """The message of an OpenStack error body (first key's ``message``)."""
    if isinstance(body, dict) and body:
        inner = next(iter(body.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
        if "message" in body:
            return str(body["message"])
    return str(body)


class ServiceClient:
    def __init__(self, cloud: Cloud, service: str, token: str,
                 microversion: str | None = None, source: str = "nova") -> None:
        self.cloud = cloud
        self.service = service
        self.token = token
        self.microversion = microversion
        self.source = source     # whose credentials find the endpoint: nova or cinder

    @classmethod
    def for_context(cls, ctx: RequestContext, service: str,
                    microversion: str | None = None, source: str = "nova") -> ServiceClient:
        return cls(ctx.cloud, service, ctx.token or "", microversion, source)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict]:
        req = webob.Request.blank(path, method=method)
        req.headers["Accept"] = "application/json"
        req.headers["X-Auth-Token"] = self.token
        if self.microversion:
            req.headers["OpenStack-API-Version"] = f"{self.service} {self.microversion}"
        if body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = "application/json"
        for k, v in (headers or {}).items():
            req.headers[k] = v
        resp = self.cloud.sender(self.source).send(self.service, req)
        data = json.loads(resp.body) if resp.body and resp.content_type == \
            "application/json" else resp.body
        if resp.status_int >= 400:
            raise ApiError(resp.status_int, error_message(data),
                           resp.headers.get("x-openstack-request-id"), data)
        return resp.status_int, data, dict(resp.headers)

    def stream(self, method: str, path: str, chunks: Any = None, length: int | None = None,
               headers: dict[str, str] | None = None) -> webob.Response:
        """A request whose body (``chunks``, an iterable of bytes) and answer are streamed
        (image data): the answer's ``app_iter`` is left unread for the caller."""
        req = webob.Request.blank(path, method=method)
        req.headers["X-Auth-Token"] = self.token
        if chunks is not None:
            req.body_file = ChunkReader(chunks)
            req.content_type = "application/octet-stream"
            if length is not None:
                req.content_length = length
            else:
                req.headers["Transfer-Encoding"] = "chunked"
                req.environ["wsgi.input_terminated"] = True
        for k, v in (headers or {}).items():
            req.headers[k] = v
        resp = self.cloud.sender(self.source).send(self.service, req)
        if resp.status_int >= 400:
            data = json.loads(resp.body) if resp.body and resp.content_type == \
                "application/json" else resp.body
            raise ApiError(resp.status_int, error_message(data),
                           resp.headers.get("x-openstack-request-id"), data)
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)[1]

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)[1]

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)[1]

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)[1]


class ChunkReader:
    """A file-like view of an iterable of byte chunks (a request body that streams)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


_ADMIN_TOKEN: dict[int, str] = {}
_LOCK = threading.Lock()


def admin_token(cloud: Cloud, refresh: bool = False) -> str:
    """A token of the bootstrap admin: in one process, the stand-in for the service users
    (Nova's ``[neutron]``, Cinder's ``[nova]``) that services call each other as."""
    with _LOCK:
        if refresh or id(cloud) not in _ADMIN_TOKEN:
            conf = cloud.config.stackling.bootstrap
            token, _ = cloud.identity.authenticate({
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": conf.admin_username, "domain": {"id": "default"},
                    "password": conf.admin_password}}},
                "scope": {"project": {"name": conf.admin_project,
                                      "domain": {"id": "default"}}}})
            _ADMIN_TOKEN[id(cloud)] = token
        return _ADMIN_TOKEN[id(cloud)]
