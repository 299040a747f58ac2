"""Neutron v2.0: version discovery, ``/v2.0/extensions`` and the route table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackling.network import errors
from stackling.network.api import (
    agents,
    floatingips,
    networks,
    ports,
    quotas,
    routers,
    security_groups,
    subnetpools,
    subnets,
)
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

INFO = ServiceInfo(
    name="network", fault_style="neutron",
    unexpected_message="Request Failed: internal server error while processing your "
                       "request.",
    request_id_headers=("x-openstack-request-id",),
)

# (alias, name, updated, description): what this server really serves.
EXTENSIONS = (
    ("agent", "agent", "2013-02-03T10:00:00-00:00", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "2013-07-23T10:00:00-00:00",
     "Provides allowed address pairs"),
    ("auto-allocated-topology", "Auto Allocated Topology Services",
     "2016-01-01T00:00:00-00:00", "Auto Allocated Topology Services."),
    ("availability_zone", "Availability Zone", "2015-01-01T10:00:00-00:00",
     "The availability zone extension."),
    ("availability_zone_filter", "Availability Zone Filter Extension",
     "2018-06-22T10:00:00-00:00", "Add filter parameters to AvailabilityZone resource"),
    ("binding", "Port Binding", "2014-02-03T10:00:00-00:00",
     "Expose port bindings of a virtual port to external application"),
    ("default-subnetpools", "Default Subnetpools", "2016-02-18T18:00:00-00:00",
     "Provides ability to mark and use a subnetpool as the default."),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler", "2013-02-07T10:00:00-00:00",
     "Schedule networks among dhcp agents"),
    ("empty-string-filtering", "Empty String Filtering Extension",
     "2018-05-01T10:00:00-00:00", "Allow filtering by attributes with empty string value"),
    ("external-net", "Neutron external network", "2013-01-14T10:00:00-00:00",
     "Adds external network attribute to network resource."),
    ("extraroute", "Neutron Extra Route", "2013-02-01T10:00:00-00:00",
     "Extra routes configuration for L3 router"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "2013-03-17T12:00:00-00:00",
     "Extra options configuration for DHCP. For example PXE boot options to DHCP clients "
     "can be specified (e.g. tftp-server, server-ip-address, bootfile-name)"),
    ("filter-validation", "Filter parameters validation", "2018-03-21T10:00:00-00:00",
     "Provides validation on filter parameters."),
    ("fip-port-details", "Floating IP Port Details Extension", "2018-04-09T10:00:00-00:00",
     "Add port_details attribute to Floating IP resource"),
    ("ip-substring-filtering", "IP address substring filtering",
     "2017-11-28T09:00:00-00:00", "Provides IP address substring filtering when listing ports"),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "2013-02-07T10:00:00-00:00",
     "Schedule routers among l3 agents"),
    ("net-mtu", "Network MTU", "2015-03-25T10:00:00-00:00",
     "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "2017-07-12T00:00:00-00:00",
     "Provides a writable MTU attribute for a network resource."),
    ("network_availability_zone", "Network Availability Zone", "2015-01-01T10:00:00-00:00",
     "Availability zone support for network."),
    ("pagination", "Pagination support", "2016-06-12T00:00:00-00:00",
     "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "2012-07-23T10:00:00-00:00",
     "Provides port security"),
    ("project-id", "project_id field enabled", "2016-09-09T09:09:09-09:09",
     "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "2012-09-07T10:00:00-00:00",
     "Expose mapping of virtual networks to physical networks"),
    ("quotas", "Quota management support", "2012-07-29T10:00:00-00:00",
     "Expose functions for quotas management per project"),
    ("quota_details", "Quota details management support", "2017-02-10T10:00:00-00:00",
     "Expose functions for quotas usage statistics per project"),
    ("revision-if-match", "If-Match constraints based on revision_number",
     "2016-12-11T00:00:00-00:00",
     "Extension indicating that If-Match based on revision_number is supported."),
    ("router", "Neutron L3 Router", "2012-07-20T10:00:00-00:00",
     "Router abstraction for basic L3 forwarding between L2 Neutron networks and access "
     "to external networks via a NAT gateway."),
    ("router_availability_zone", "Router Availability Zone", "2015-01-01T10:00:00-00:00",
     "Availability zone support for router."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "2013-03-28T10:00:00-00:00",
     "Extension of the router abstraction for specifying whether SNAT should occur on the "
     "external gateway"),
    ("security-group", "security-group", "2012-10-05T10:00:00-00:00",
     "The security groups extension."),
    ("sorting", "Sorting support", "2016-06-12T00:00:00-00:00",
     "Extension that indicates that sorting is enabled."),
    ("subnet-external-network", "Subnet belongs to an external network",
     "2024-02-05T18:00:00-00:00", "Informs if the subnet belongs to an external network"),
    ("standard-attr-description", "standard-attr-description", "2016-02-10T10:00:00-00:00",
     "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "2016-04-11T10:00:00-00:00",
     "This extension will display the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
     "trunk, network_segment_range, router, network, policy, subnetpool, port, "
     "security_group, floatingip", "2017-01-01T00:00:00-00:00",
     "Enables to set tag on resources with standard attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "2016-05-05T10:00:00-00:00",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
     "standard attributes."),
    ("stateful-security-group", "Stateful security group", "2019-11-26T09:00:00-00:00",
     "Extension adding possibility of defining security group as stateful or stateless"),
    ("tag-creation", "Tag creation extension", "2019-06-25T10:00:00-00:00",
     "Allow to specify tags on resource creation."),
)


def _extension(alias: str, name: str, updated: str, description: str) -> dict:
    return {"name": name, "alias": alias, "description": description, "updated": updated,
            "links": []}


def versions_root(req: Request) -> Any:
    base = req.app.cloud.public_url("network")
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{base}/v2.0/"}]}]})


def version_v2(req: Request) -> Any:
    # Neutron answers only /v2.0/ (with the slash); /v2.0 is a 404.
    if not req.path_info.endswith("/"):
        raise errors.HTTPNotFound()
    base = req.app.cloud.public_url("network")
    return json_response({"resources": [
        {"name": name, "collection": coll,
         "links": [{"rel": "self", "href": f"{base}/v2.0/{coll}"}]}
        for name, coll in (("network", "networks"), ("subnet", "subnets"),
                           ("subnetpool", "subnetpools"), ("port", "ports"))]})


def list_extensions(req: Request) -> Any:
    return json_response({"extensions": [_extension(*e) for e in EXTENSIONS]})


def show_extension(req: Request, alias: str) -> Any:
    for ext in EXTENSIONS:
        if ext[0] == alias:
            return json_response({"extension": _extension(*ext)})
    raise errors.bad("HTTPNotFound", f"Extension with alias {alias} does not exist", 404)


def extensions_not_found(req: Request, **_: str) -> Any:
    """Other methods on the extension URLs are 404, not 405 (a legacy quirk)."""
    raise errors.HTTPNotFound()


_NOT_FOUND = {m: extensions_not_found for m in ("POST", "PUT", "DELETE", "PATCH")}

ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    ("/v2.0", {"GET": version_v2}),
    ("/v2.0/extensions", {"GET": list_extensions, **_NOT_FOUND}),
    ("/v2.0/extensions/{alias}", {"GET": show_extension, **_NOT_FOUND}),
    ("/v2.0/networks", {"GET": networks.list_networks, "POST": networks.create_network}),
    ("/v2.0/networks/{network_id}", {"GET": networks.show_network,
                                     "PUT": networks.update_network,
                                     "DELETE": networks.delete_network}),
    ("/v2.0/networks/{network_id}/dhcp-agents", {"GET": agents.list_network_dhcp_agents}),
    ("/v2.0/subnets", {"GET": subnets.list_subnets, "POST": subnets.create_subnet}),
    ("/v2.0/subnets/{subnet_id}", {"GET": subnets.show_subnet, "PUT": subnets.update_subnet,
                                   "DELETE": subnets.delete_subnet}),
    ("/v2.0/subnetpools", {"GET": subnetpools.list_subnetpools,
                           "POST": subnetpools.create_subnetpool}),
    ("/v2.0/subnetpools/{subnetpool_id}", {"GET": subnetpools.show_subnetpool,
                                           "PUT": subnetpools.update_subnetpool,
                                           "DELETE": subnetpools.delete_subnetpool}),
    ("/v2.0/ports", {"GET": ports.list_ports, "POST": ports.create_port}),
    ("/v2.0/ports/{port_id}", {"GET": ports.show_port, "PUT": ports.update_port,
                               "DELETE": ports.delete_port}),
    ("/v2.0/security-groups", {"GET": security_groups.list_groups,
                               "POST": security_groups.create_group}),
    ("/v2.0/security-groups/{group_id}", {"GET": security_groups.show_group,
                                          "PUT": security_groups.update_group,
                                          "DELETE": security_groups.delete_group}),
    ("/v2.0/security-group-rules", {"GET": security_groups.list_rules,
                                    "POST": security_groups.create_rule}),
    ("/v2.0/security-group-rules/{rule_id}", {"GET": security_groups.show_rule,
                                              "PUT": security_groups.update_rule,
                                              "DELETE": security_groups.delete_rule}),
    ("/v2.0/routers", {"GET": routers.list_routers, "POST": routers.create_router}),
    ("/v2.0/routers/{router_id}", {"GET": routers.show_router, "PUT": routers.update_router,
                                   "DELETE": routers.delete_router}),
    ("/v2.0/routers/{router_id}/add_router_interface", {"PUT": routers.add_interface}),
    ("/v2.0/routers/{router_id}/remove_router_interface", {"PUT": routers.remove_interface}),
    ("/v2.0/routers/{router_id}/add_extraroutes", {"PUT": routers.add_extraroutes}),
    ("/v2.0/routers/{router_id}/remove_extraroutes", {"PUT": routers.remove_extraroutes}),
    ("/v2.0/routers/{router_id}/l3-agents", {"GET": agents.list_router_l3_agents}),
    ("/v2.0/floatingips", {"GET": floatingips.list_floatingips,
                           "POST": floatingips.create_floatingip}),
    ("/v2.0/floatingips/{fip_id}", {"GET": floatingips.show_floatingip,
                                    "PUT": floatingips.update_floatingip,
                                    "DELETE": floatingips.delete_floatingip}),
    ("/v2.0/availability_zones", {"GET": agents.list_availability_zones}),
    ("/v2.0/agents", {"GET": agents.list_agents}),
    ("/v2.0/agents/{agent_id}", {"GET": agents.show_agent, "PUT": agents.update_agent,
                                 "DELETE": agents.delete_agent}),
    ("/v2.0/quotas", {"GET": quotas.list_quotas}),
    ("/v2.0/quotas/project", {"GET": quotas.show_own_project}),
    ("/v2.0/quotas/tenant", {"GET": quotas.show_own_tenant}),
    ("/v2.0/quotas/{project}", {"GET": quotas.show_quota, "PUT": quotas.update_quota,
                                "DELETE": quotas.delete_quota}),
    ("/v2.0/quotas/{project}/default", {"GET": quotas.show_default}),
    ("/v2.0/quotas/{project}/details", {"GET": quotas.show_details}),
    ("/v2.0/auto-allocated-topology/{project}", {"GET": routers.get_auto_allocated,
                                                 "DELETE": routers.delete_auto_allocated}),
    *networks.TAG_ROUTES, *subnets.TAG_ROUTES, *subnetpools.TAG_ROUTES, *ports.TAG_ROUTES,
    *security_groups.TAG_ROUTES, *routers.TAG_ROUTES, *floatingips.TAG_ROUTES,
]


class NeutronRouter(Router):
    """Any path may end in ``.json`` (pecan's ``guess_content_type_from_ext``)."""

    def match(self, method: str, path: str):
        if path.endswith(".json"):
            path = path[:-5]
        return super().match(method, path)


def build_app(cloud: Cloud) -> ApiApp:
    return ApiApp(cloud, INFO, NeutronRouter(ROUTES, public=("/",)))
