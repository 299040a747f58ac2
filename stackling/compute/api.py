"""Nova v2.1 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# The microversion range we honour, for every resource we serve.
VERSIONS = VersionSpec("compute", Version(2, 1), Version(2, 1),
                       legacy_header="X-OpenStack-Nova-API-Version")

INFO = ServiceInfo(
    name="compute", fault_style="compute", versions=VERSIONS,
    unexpected_message="Unexpected API Error. Please contact the administrator\n",
    request_id_headers=("x-openstack-request-id", "x-compute-request-id"),
)


def versions_root(req: Request) -> object:
    base = req.app.cloud.public_url("compute")
    return json_response({"versions": [discovery.compute_version(base, VERSIONS)]})


def version_v21(req: Request) -> object:
    base = req.app.cloud.public_url("compute")
    return json_response({"version": discovery.compute_version(base, VERSIONS)})


ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    ("/v2.1", {"GET": version_v21}),
]
PUBLIC = {"/", "/v2.1"}


def build_app(cloud: Cloud) -> ApiApp:
    return ApiApp(cloud, INFO, Router(ROUTES, project_prefix="/v2.1", public=PUBLIC))
