"""Service-to-service HTTP and image data: in-process WSGI, or the catalog and a real socket.

``InProcessSender`` hands a webob request to the target app of this process (no
socket). ``HttpSender`` finds the service in the Keystone catalog with the service
user's keystoneauth1 session and sends the same request with the user's token and,
as Nova does, the service token in ``X-Service-Token``. Image data for cinder-volume
is either the Glance store's file (same data dir) or ``GET /v2/images/{id}/file``.

The request itself goes out on urllib3 (requests' own transport), not through
keystoneauth's ``Session.request``: the same bytes on the wire, the same pooled
keep-alive connections and the same ``ConnectFailure`` when nothing answers, for about
half the client CPU per call (keystoneauth and requests re-read every proxy variable of
the environment, ``~/.netrc`` and the merged settings on each request; a build polls
Cinder tens of times). keystoneauth still does what it is for: the token and the catalog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import urllib3
import webob

from stackling.storage import imagestore

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# stackling's app names → the catalog's service types (volumev3: Nova's catalog_info).
SERVICE_TYPES = {"identity": "identity", "compute": "compute", "volume": "volumev3",
                 "image": "image", "network": "network"}
# Answer headers that describe the connection, not the answer (webob sets its own length).
_HOP_HEADERS = frozenset(("content-length", "transfer-encoding", "connection"))
LOG = logging.getLogger(__name__)


class InProcessSender:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def send(self, service: str, req: webob.Request) -> webob.Response:
        return req.get_response(self.cloud.apps[service])


@dataclass(frozen=True)
class Retries:
    """How often a caller sends a request again when it got no answer (refused, dropped,
    timed out): keystoneauth's ``connect_retries`` (waits of 0.5 s doubling, at most
    60 s: Nova's ``[cinder]``/``[neutron] http_retries``) or a client's own loop (1 s:
    Nova's ``[glance] num_retries``, Cinder's ``glance_num_retries``)."""

    count: int = 0
    first_wait: float = 0.5
    factor: float = 2.0

    def wait(self, attempt: int) -> float:
        """The pause before the retry ``attempt`` (1, 2, ...)."""
        return min(self.first_wait * self.factor ** (attempt - 1), 60.0)

    def call(self, send, what: str):
        """``send()`` until it gets an answer, or raise its last failure: keystoneauth's
        RetriableConnectionFailure (no connection or no answer; not TLS)."""
        from keystoneauth1 import exceptions

        attempt = 0
        while True:
            try:
                return send()
            except exceptions.RetriableConnectionFailure as failure:
                attempt += 1
                if attempt > self.count:
                    raise
                # keystoneauth's warning; a kept-alive connection the server had just
                # closed is the usual cause, and the pool opens a new one
                delay = self.wait(attempt)
                LOG.warning("%s: %s. Retrying in %.1fs. %d retries left.", what, failure,
                            delay, self.count - attempt + 1)
                time.sleep(delay)


class HttpSender:
    # requests' adapter: no retry of a request that reached the server, no redirects
    # (the caller's own retries of a request that got no answer: ``retries``)
    _RETRIES = urllib3.Retry(0, read=False, redirect=False, raise_on_status=False)

    def __init__(self, session, region: str | None = None, pool_size: int = 32,
                 retries: dict[str, Retries] | None = None) -> None:
        self.session = session
        self.region = region
        self.retries = retries or {}
        self._roots: dict[str, tuple[str, urllib3.HTTPConnectionPool]] = {}
        # one pool of keep-alive connections per endpoint, as requests' HTTPAdapter keeps
        # (its default is 10; a nova-compute runs up to max_concurrent_builds at once)
        self._pool = urllib3.PoolManager(num_pools=16, maxsize=pool_size)
        self._agent = (f"stackling urllib3/{urllib3.__version__} "
                       f"{platform.python_implementation()}/{platform.python_version()}")

    def root(self, service: str) -> str:
        """The scheme://host:port of the service's public endpoint (our paths are absolute)."""
        return self._endpoint(service)[0]

    def _endpoint(self, service: str) -> tuple[str, urllib3.HTTPConnectionPool]:
        found = self._roots.get(service)
        if found is None:
            url = self.session.get_endpoint(service_type=SERVICE_TYPES[service],
                                            interface="public", region_name=self.region)
            parts = urllib.parse.urlsplit(url)
            root = f"{parts.scheme}://{parts.netloc}"
            found = self._roots[service] = (root, self._pool.connection_from_url(root))
        return found

    def send(self, service: str, req: webob.Request) -> webob.Response:
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() not in ("host", "content-length")}
        headers["X-Service-Token"] = self.session.get_token()
        headers.setdefault("User-Agent", self._agent)
        root, pool = self._endpoint(service)

        def send() -> urllib3.BaseHTTPResponse:
            try:
                return pool.urlopen(req.method, req.path_qs, body=req.body or None,
                                    headers=headers, retries=self._RETRIES, redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                raise _connect_failure(root + req.path_qs, exc) from exc

        resp = self.retries.get(service, _NO_RETRIES).call(send, "Failure")
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("%s %s%s: %s", req.method, root, req.path_qs, resp.status)
        out = webob.Response(status=resp.status, body=resp.data)
        answer = resp.headers
        for k in answer:
            if k.lower() not in _HOP_HEADERS:
                out.headers[k] = answer[k]     # repeated headers joined, as requests does
        return out


_NO_RETRIES = Retries()


def _connect_failure(url: str, exc: Exception) -> Exception:
    """keystoneauth's exception (and text) for a request that got no answer."""
    from keystoneauth1 import exceptions

    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.SSLError):
        return exceptions.SSLError(f"SSL exception connecting to {url}: {exc}")
    # NOTE: urllib3's NewConnectionError (refused) is also a ConnectTimeoutError
    if isinstance(exc, urllib3.exceptions.TimeoutError) and \
            not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return exceptions.ConnectTimeout(f"Request to {url} timed out")
    return exceptions.ConnectFailure(f"Unable to establish connection to {url}: {exc}")


class StoreImageData:
    """cinder-volume and glance-api share the data dir: read the store's file."""

    def __init__(self, images_dir: Path) -> None:
        self.store = imagestore.ImageStore(images_dir)

    @contextlib.contextmanager
    def local_file(self, image_id: str, scratch_dir: Path) -> Iterator[Path]:
        path = self.store.path(image_id)
        if not path.is_file():
            raise imagestore.ImageNotStored(f"no data for image {image_id}")
        yield path


def direct_file(image: dict, schemes: list[str]) -> Path | None:
    """The local file of an image's ``direct_url`` (shown by Glance with
    ``show_image_direct_url``) when cinder.conf's ``allowed_direct_url_schemes`` has
    ``file``: Cinder then reads the location itself rather than downloading the data from
    glance-api (cinder/image/glance.py ``download``). None otherwise, and when no such
    file is on this machine (a volume host elsewhere): the data is then downloaded."""
    url = image.get("direct_url")
    if "file" not in schemes or not isinstance(url, str):
        return None
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(urllib.parse.unquote(parsed.path))
    return path if path.is_file() else None


class HttpImageData:
    """Stream ``GET /v2/images/{id}/file`` into a scratch file (deleted after use)."""

    def __init__(self, sender: HttpSender, chunk: int = imagestore.CHUNK_SIZE) -> None:
        self.sender = sender
        self.chunk = chunk

    def _get(self, url: str):
        """GET with Cinder's glance client retries (``glance_num_retries``, 1 s apart)
        when Glance gave no answer."""
        return self.sender.retries.get("image", _NO_RETRIES).call(
            lambda: self.sender.session.get(url, stream=True, raise_exc=False),
            "Error contacting glance server for 'data'")

    @contextlib.contextmanager
    def local_file(self, image_id: str, scratch_dir: Path) -> Iterator[Path]:
        url = f"{self.sender.root('image')}/v2/images/{urllib.parse.quote(image_id)}/file"
        resp = self._get(url)
        if resp.status_code != 200:
            resp.close()
            raise imagestore.ImageNotStored(
                f"no data for image {image_id} (HTTP {resp.status_code})")
        scratch_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"image-{image_id}-", dir=scratch_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in resp.iter_content(self.chunk):
                    out.write(piece)
            resp.close()
            yield Path(name)
        finally:
            os.unlink(name)
