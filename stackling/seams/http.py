"""Service-to-service HTTP and image data: in-process WSGI, or the catalog and a real socket.

``InProcessSender`` hands a webob request to the target app of this process (no
socket). ``HttpSender`` finds the service in the Keystone catalog with the service
user's keystoneauth1 session and sends the same request with the user's token and,
as Nova does, the service token in ``X-Service-Token``. Image data for cinder-volume
is either the Glance store's file (same data dir) or ``GET /v2/images/{id}/file``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import webob

from stackling.storage import imagestore

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# stackling's app names → the catalog's service types (volumev3: Nova's catalog_info).
SERVICE_TYPES = {"identity": "identity", "compute": "compute", "volume": "volumev3",
                 "image": "image", "network": "network"}


class InProcessSender:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def send(self, service: str, req: webob.Request) -> webob.Response:
        return req.get_response(self.cloud.apps[service])


class HttpSender:
    def __init__(self, session, region: str | None = None) -> None:
        self.session = session
        self.region = region
        self._roots: dict[str, str] = {}

    def root(self, service: str) -> str:
        """The scheme://host:port of the service's public endpoint (our paths are absolute)."""
        root = self._roots.get(service)
        if root is None:
            url = self.session.get_endpoint(service_type=SERVICE_TYPES[service],
                                            interface="public", region_name=self.region)
            parts = urllib.parse.urlsplit(url)
            root = self._roots[service] = f"{parts.scheme}://{parts.netloc}"
        return root

    def send(self, service: str, req: webob.Request) -> webob.Response:
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() not in ("host", "content-length")}
        headers["X-Service-Token"] = self.session.get_token()
        resp = self.session.request(self.root(service) + req.path_qs, req.method,
                                    headers=headers, data=req.body or None,
                                    authenticated=False, raise_exc=False)
        out = webob.Response(status=resp.status_code, body=resp.content)
        for k, v in resp.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                out.headers[k] = v
        return out


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


class HttpImageData:
    """Stream ``GET /v2/images/{id}/file`` into a scratch file (deleted after use)."""

    def __init__(self, sender: HttpSender, chunk: int = imagestore.CHUNK_SIZE) -> None:
        self.sender = sender
        self.chunk = chunk

    @contextlib.contextmanager
    def local_file(self, image_id: str, scratch_dir: Path) -> Iterator[Path]:
        session = self.sender.session
        url = f"{self.sender.root('image')}/v2/images/{urllib.parse.quote(image_id)}/file"
        resp = session.get(url, stream=True, raise_exc=False)
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
