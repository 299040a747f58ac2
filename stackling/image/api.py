"""Glance v2 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

INFO = ServiceInfo(
    name="image", fault_style="glance",
    unexpected_message="The server has either erred or is incapable of performing the "
                       "requested operation.",
    request_id_headers=("x-openstack-request-id",),
)


def versions_root(req: Request) -> object:
    return json_response(discovery.image_versions(req.app.cloud.public_url("image")), status=300)


def versions_list(req: Request) -> object:
    return json_response(discovery.image_versions(req.app.cloud.public_url("image")))


ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    ("/versions", {"GET": versions_list}),
]
PUBLIC = {"/", "/versions"}


def build_app(cloud: Cloud) -> ApiApp:
    return ApiApp(cloud, INFO, Router(ROUTES, public=PUBLIC))
