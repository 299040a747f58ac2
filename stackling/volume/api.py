"""Cinder v3 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

VERSIONS = VersionSpec("volume", Version(3, 0), Version(3, 0))

INFO = ServiceInfo(
    name="volume", fault_style="compute", versions=VERSIONS,
    unexpected_message=("The server has either erred or is incapable of performing the "
                        "requested operation."),
    request_id_headers=("x-openstack-request-id",),
    error_request_id_headers=("x-compute-request-id",),
)


def versions_root(req: Request) -> object:
    base = req.app.cloud.public_url("volume")
    return json_response({"versions": [discovery.volume_version(base, VERSIONS)]}, status=300)


def version_v3(req: Request) -> object:
    base = req.app.cloud.public_url("volume")
    return json_response({"versions": [discovery.volume_version(base, VERSIONS)]})


ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    ("/v3", {"GET": version_v3}),
]
PUBLIC = {"/", "/v3"}


def build_app(cloud: Cloud) -> ApiApp:
    return ApiApp(cloud, INFO, Router(ROUTES, project_prefix="/v3", public=PUBLIC))
