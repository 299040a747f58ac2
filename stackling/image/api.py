"""Glance v2 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery, exception
from stackling.image import images, imports, members, metadefs, tasks
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


def import_info(req: Request) -> object:
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(images.IMPORT_METHODS)}})


def _images_root(handler):
    """``/v2/images/`` (an empty image id) is Glance's 404, not the collection."""
    def wrapped(req: Request):
        if req.path_info.endswith("/"):
            raise exception.NotFound("The resource could not be found.")
        return handler(req)

    wrapped.__name__ = handler.__name__
    return wrapped


def _empty_image_id(req: Request):
    if req.path_info.endswith("/"):
        raise exception.NotFound("The resource could not be found.")
    err = exception.MethodNotAllowed()
    err.headers = {"Allow": "GET, POST"}
    raise err


ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    ("/versions", {"GET": versions_list}),
    ("/v2/images", {"GET": _images_root(images.list_images), "POST": images.create_image,
                    "DELETE": _empty_image_id, "PATCH": _empty_image_id}),
    ("/v2/images/{image_id}", {"GET": images.show_image, "PATCH": images.update_image,
                               "DELETE": images.delete_image}),
    ("/v2/images/{image_id}/file", {"GET": images.download_image, "PUT": images.upload_image}),
    ("/v2/images/{image_id}/stage", {"PUT": imports.stage_image}),
    ("/v2/images/{image_id}/import", {"POST": imports.import_image}),
    ("/v2/images/{image_id}/tasks", {"GET": imports.list_image_tasks}),
    *tasks.ROUTES,
    ("/v2/images/{image_id}/tags/{tag}", {"PUT": images.add_tag, "DELETE": images.delete_tag}),
    ("/v2/images/{image_id}/actions/deactivate", {"POST": images.deactivate_image}),
    ("/v2/images/{image_id}/actions/reactivate", {"POST": images.reactivate_image}),
    ("/v2/images/{image_id}/members", {"GET": members.list_members,
                                       "POST": members.create_member}),
    ("/v2/images/{image_id}/members/{member_id}", {"GET": members.show_member,
                                                   "PUT": members.update_member,
                                                   "DELETE": members.delete_member}),
    ("/v2/schemas/image", {"GET": images.schema_image}),
    ("/v2/schemas/member", {"GET": members.schema_member}),
    ("/v2/schemas/members", {"GET": members.schema_members}),
    *metadefs.ROUTES,
    ("/v2/schemas/images", {"GET": images.schema_images}),
    ("/v2/info/import", {"GET": import_info}),
]
PUBLIC = {"/", "/versions"}


# Glance's policy names for the refusals of tokens without a project.
_ACTIONS = {"create_image": "add_image", "list_images": "get_images",
            "show_image": "get_image", "update_image": "modify_image",
            "upload_image": "upload_image", "download_image": "download_image"}


class ImageApp(ApiApp):
    """Images belong to projects: a token without one (unscoped, domain scope) carries no
    project role, so Glance's policies (``role:reader and project_id:%(project_id)s``)
    refuse it with 403, and nothing is created with a null owner."""

    def _context(self, req, public, request_id):
        ctx = super()._context(req, public, request_id)
        if not public and ctx.token and not ctx.project_id and not ctx.system_scope:
            _, handler, _ = self.router.match(req.method, req.path_info)
            action = _ACTIONS.get(getattr(handler, "__name__", ""), "this")
            raise exception.Forbidden(f"You are not authorized to complete {action} action."
                                      if action != "this" else
                                      "You are not authorized to complete this action.")
        return ctx


def build_app(cloud: Cloud) -> ApiApp:
    images.store(cloud)
    cloud.rpc.register(imports.TOPIC, imports.TaskRunner(cloud))
    return ImageApp(cloud, INFO, Router(ROUTES, public=PUBLIC))
