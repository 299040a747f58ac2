"""Keystone v3: the route table and the app (the handlers live in one module per noun)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import explain
from stackling.identity import (
    assignments,
    auth,
    catalog,
    credentials,
    domain_configs,
    domains,
    endpoint_groups,
    groups,
    oauth1,
    policies,
    project_tags,
    projects,
    roles,
    users,
)
from stackling.web.app import ApiApp, ServiceInfo
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

INFO = ServiceInfo(
    name="identity", fault_style="keystone",
    unexpected_message="An unexpected error prevented the server from fulfilling your "
                       "request.",
    request_id_headers=("x-openstack-request-id",),
)


def _crud(module, plural: str, singular: str) -> list[tuple[str, dict]]:
    return [(f"/v3/{plural}", {"GET": getattr(module, f"list_{plural}"),
                               "POST": getattr(module, f"create_{singular}")}),
            (f"/v3/{plural}/{{entity_id}}", {"GET": getattr(module, f"show_{singular}"),
                                            "PATCH": getattr(module, f"update_{singular}"),
                                            "DELETE": getattr(module, f"delete_{singular}")})]


ROUTES: list[tuple[str, dict]] = [
    *auth.ROUTES,
    ("/v3/users/{user_id}/projects", {"GET": users.user_projects}),
    ("/v3/users/{user_id}/password", {"POST": users.change_password}),
    ("/v3/users/{user_id}/groups", {"GET": users.user_groups}),
    ("/v3/groups/{group_id}/users", {"GET": groups.group_users}),
    ("/v3/groups/{group_id}/users/{user_id}", {"PUT": groups.group_member,
                                               "HEAD": groups.group_member,
                                               "GET": groups.group_member,
                                               "DELETE": groups.group_member}),
    ("/v3/role_inferences", {"GET": roles.role_inferences}),
    ("/v3/roles/{prior_role_id}/implies", {"GET": roles.list_implied_roles}),
    ("/v3/roles/{prior_role_id}/implies/{implied_role_id}",
     {"PUT": roles.implied_role, "GET": roles.implied_role, "HEAD": roles.implied_role,
      "DELETE": roles.implied_role}),
    *credentials.ROUTES,
    *project_tags.ROUTES,
    *policies.ROUTES,
    *domain_configs.ROUTES,
    *endpoint_groups.ROUTES,
    *oauth1.ROUTES,
    *assignments.ROUTES,
    *_crud(users, "users", "user"), *_crud(projects, "projects", "project"),
    *_crud(domains, "domains", "domain"), *_crud(roles, "roles", "role"),
    *_crud(groups, "groups", "group"),
    *catalog.ROUTES,
    # stackling's own, clearly outside OpenStack's paths: placement explanations.
    *explain.ROUTES,
]
# Changing one's password needs the original password, not a token (Keystone).
PUBLIC = {"/", "/v3", "/v3/auth/tokens", "/v3/users/{user_id}/password"}


class IdentityApp(ApiApp):
    """Token issue is public only for POST; every other method on it needs a token."""

    def _context(self, req, public, request_id):
        if req.environ.get("PATH_INFO", "").rstrip("/") == "/v3/auth/tokens" and \
                req.method != "POST":
            public = False
        return super()._context(req, public, request_id)


def build_app(cloud: Cloud) -> ApiApp:
    return IdentityApp(cloud, INFO, Router(ROUTES, public=PUBLIC))
