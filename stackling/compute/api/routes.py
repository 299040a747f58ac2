"""Nova v2.1 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery
from stackling.compute.api import (
    actions,
    aggregates,
    assisted_snapshots,
    availability_zones,
    console_auth_tokens,
    extensions,
    external_events,
    flavors,
    floating_ips,
    hosts,
    hypervisors,
    images,
    instance_actions,
    interfaces,
    ips,
    keypairs,
    migrations,
    proxy_volumes,
    quotas,
    security_groups,
    server_groups,
    server_info,
    server_tags,
    servers,
    services,
    usage_audit_log,
    volume_attachments,
)
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# The microversion range we honour, for every resource we serve (doc/api-versions.md).
VERSIONS = VersionSpec("compute", Version(2, 1), Version(2, 101),
                       legacy_header="X-OpenStack-Nova-API-Version")

INFO = ServiceInfo(
    name="compute", fault_style="compute", versions=VERSIONS,
    unexpected_message="Unexpected API Error. Please contact the administrator\n",
    request_id_headers=("x-openstack-request-id", "x-compute-request-id"),
)


# Nova still lists the legacy v2.0 endpoint (deprecated, no microversions) before v2.1.
V20_UPDATED = "2011-01-21T11:33:21Z"


def _v20(base: str) -> dict:
    return {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
            "updated": V20_UPDATED,
            "links": [{"rel": "self", "href": f"{base}/v2/"},
                      {"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2"}]}


def _listed(doc: dict) -> dict:
    """The root list shows each version with its self link only (no media-types)."""
    out = {k: doc[k] for k in ("id", "status", "version", "min_version", "updated")}
    out["links"] = [link for link in doc["links"] if link["rel"] == "self"]
    return out


def versions_root(req: Request) -> object:
    base = req.app.cloud.public_url("compute")
    return json_response({"versions": [
        _listed(_v20(base)), _listed(discovery.compute_version(base, VERSIONS))]})


def version_v20(req: Request) -> object:
    return json_response({"version": _v20(req.app.cloud.public_url("compute"))})


def version_v21(req: Request) -> object:
    base = req.app.cloud.public_url("compute")
    return json_response({"version": discovery.compute_version(base, VERSIONS)})


P = "/v2.1"
ROUTES: list[tuple[str, dict]] = [
    ("/", {"GET": versions_root}),
    (P, {"GET": version_v21}),
    ("/v2", {"GET": version_v20}),
    # zones, services, aggregates
    (f"{P}/os-availability-zone", {"GET": availability_zones.list_zones}),
    (f"{P}/os-availability-zone/detail", {"GET": availability_zones.list_zones_detail}),
    (f"{P}/os-services", {"GET": services.list_services}),
    (f"{P}/os-services/{{service_id}}", {"PUT": services.update_service,
                                         "DELETE": services.delete_service}),
    (f"{P}/os-aggregates", {"GET": aggregates.list_aggregates,
                            "POST": aggregates.create_aggregate}),
    (f"{P}/os-aggregates/{{aggregate_id}}", {"GET": aggregates.show_aggregate,
                                             "PUT": aggregates.update_aggregate,
                                             "DELETE": aggregates.delete_aggregate}),
    (f"{P}/os-aggregates/{{aggregate_id}}/action", {"POST": aggregates.aggregate_action}),
    # hosts (deprecated, 404 from 2.43)
    (f"{P}/os-hosts", {"GET": hosts.list_hosts}),
    (f"{P}/os-hosts/{{host_id}}", {"GET": hosts.show_host, "PUT": hosts.update_host}),
    (f"{P}/os-hosts/{{host_id}}/reboot", {"GET": hosts.reboot_host}),
    (f"{P}/os-hosts/{{host_id}}/shutdown", {"GET": hosts.shutdown_host}),
    (f"{P}/os-hosts/{{host_id}}/startup", {"GET": hosts.startup_host}),
    # hypervisors
    (f"{P}/os-hypervisors", {"GET": hypervisors.list_hypervisors}),
    (f"{P}/os-hypervisors/detail", {"GET": hypervisors.list_hypervisors_detail}),
    (f"{P}/os-hypervisors/statistics", {"GET": hypervisors.hypervisor_statistics}),
    (f"{P}/os-hypervisors/{{hypervisor_id}}", {"GET": hypervisors.show_hypervisor}),
    (f"{P}/os-hypervisors/{{hypervisor_id}}/uptime", {"GET": hypervisors.hypervisor_uptime}),
    (f"{P}/os-hypervisors/{{pattern}}/search", {"GET": hypervisors.search_hypervisors}),
    (f"{P}/os-hypervisors/{{pattern}}/servers", {"GET": hypervisors.hypervisor_servers}),
    # flavors
    (f"{P}/flavors", {"GET": flavors.list_flavors, "POST": flavors.create_flavor}),
    (f"{P}/flavors/detail", {"GET": flavors.list_flavors_detail}),
    (f"{P}/flavors/{{flavor_id}}", {"GET": flavors.show_flavor, "PUT": flavors.update_flavor,
                                    "DELETE": flavors.delete_flavor}),
    (f"{P}/flavors/{{flavor_id}}/action", {"POST": flavors.flavor_action}),
    (f"{P}/flavors/{{flavor_id}}/os-flavor-access", {"GET": flavors.list_flavor_access}),
    (f"{P}/flavors/{{flavor_id}}/os-extra_specs", {"GET": flavors.list_extra_specs,
                                                   "POST": flavors.create_extra_specs}),
    (f"{P}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", {
        "GET": flavors.show_extra_spec, "PUT": flavors.update_extra_spec,
        "DELETE": flavors.delete_extra_spec}),
    # quotas and limits
    (f"{P}/limits", {"GET": quotas.show_limits}),
    (f"{P}/os-quota-sets/{{project_id_q}}", {"GET": quotas.show_quota_set,
                                             "PUT": quotas.update_quota_set,
                                             "DELETE": quotas.delete_quota_set}),
    (f"{P}/os-quota-sets/{{project_id_q}}/defaults", {"GET": quotas.show_defaults}),
    (f"{P}/os-quota-class-sets/{{quota_class}}", {"GET": quotas.show_quota_class_set,
                                                  "PUT": quotas.update_quota_class_set}),
    (f"{P}/os-quota-sets/{{project_id_q}}/detail", {"GET": quotas.show_quota_set_detail}),
    # deprecated proxies to Cinder (404 from 2.36)
    (f"{P}/os-volumes", {"GET": proxy_volumes.list_volumes,
                         "POST": proxy_volumes.create_volume,
                         "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/os-volumes/detail", {"GET": proxy_volumes.list_volumes_detail}),
    (f"{P}/os-volumes/{{volume_id}}", {"GET": proxy_volumes.show_volume,
                                       "DELETE": proxy_volumes.delete_volume}),
    (f"{P}/os-snapshots", {"GET": proxy_volumes.list_snapshots,
                           "POST": proxy_volumes.create_snapshot,
                           "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/os-snapshots/detail", {"GET": proxy_volumes.list_snapshots_detail}),
    (f"{P}/os-snapshots/{{snapshot_id}}", {"GET": proxy_volumes.show_snapshot,
                                           "DELETE": proxy_volumes.delete_snapshot}),
    # deprecated proxies to Neutron (404 from 2.36)
    (f"{P}/os-security-groups", {"GET": security_groups.list_groups,
                                 "POST": security_groups.create_group,
                                 "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/os-security-groups/{{group_id}}", {"GET": security_groups.show_group,
                                              "PUT": security_groups.update_group,
                                              "DELETE": security_groups.delete_group}),
    (f"{P}/os-security-group-rules", {"POST": security_groups.create_rule,
                                      "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/os-security-group-rules/{{rule_id}}", {"DELETE": security_groups.delete_rule}),
    (f"{P}/os-floating-ips", {"GET": floating_ips.list_floating_ips,
                              "POST": floating_ips.create_floating_ip,
                              "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/os-floating-ips/{{fip_id}}", {"GET": floating_ips.show_floating_ip,
                                         "DELETE": floating_ips.delete_floating_ip}),
    (f"{P}/os-floating-ip-pools", {"GET": floating_ips.list_pools}),
    (f"{P}/os-networks", {"GET": floating_ips.list_networks}),
    (f"{P}/os-networks/{{network_id}}", {"GET": floating_ips.show_network}),
    (f"{P}/os-tenant-networks", {"GET": floating_ips.list_tenant_networks}),
    (f"{P}/os-tenant-networks/{{network_id}}", {"GET": floating_ips.show_tenant_network}),
    # deprecated proxies to Glance (404 from 2.36; image metadata from 2.39)
    (f"{P}/images", {"GET": images.list_images, "DELETE": proxy_volumes.delete_without_id}),
    (f"{P}/images/detail", {"GET": images.list_images_detail}),
    (f"{P}/images/{{image_id}}", {"GET": images.show_image, "DELETE": images.delete_image}),
    (f"{P}/images/{{image_id}}/metadata", {"GET": images.list_image_metadata,
                                           "POST": images.create_image_metadata,
                                           "PUT": images.replace_image_metadata}),
    (f"{P}/images/{{image_id}}/metadata/{{key}}", {
        "GET": images.show_image_metadata_item, "PUT": images.update_image_metadata_item,
        "DELETE": images.delete_image_metadata_item}),
    # server groups
    (f"{P}/os-keypairs", {"GET": keypairs.list_keypairs, "POST": keypairs.create_keypair}),
    (f"{P}/os-keypairs/{{name}}", {"GET": keypairs.show_keypair,
                                   "DELETE": keypairs.delete_keypair}),
    (f"{P}/os-server-groups", {"GET": server_groups.list_groups,
                               "POST": server_groups.create_group}),
    (f"{P}/os-server-groups/{{group_id}}", {"GET": server_groups.show_group,
                                            "DELETE": server_groups.delete_group}),
    # servers
    (f"{P}/servers", {"GET": servers.list_servers, "POST": servers.create_server}),
    (f"{P}/servers/detail", {"GET": servers.list_servers_detail}),
    (f"{P}/servers/{{server_id}}", {"GET": servers.show_server, "PUT": servers.update_server,
                                    "DELETE": servers.delete_server}),
    (f"{P}/servers/{{server_id}}/action", {"POST": actions.server_action}),
    (f"{P}/servers/{{server_id}}/remote-consoles", {"POST": server_info.create_console}),
    (f"{P}/servers/{{server_id}}/diagnostics", {"GET": server_info.show_diagnostics}),
    (f"{P}/servers/{{server_id}}/os-interface", {"GET": interfaces.list_interfaces,
                                                 "POST": interfaces.attach_interface}),
    (f"{P}/servers/{{server_id}}/os-interface/{{port_id}}", {
        "GET": interfaces.show_interface, "DELETE": interfaces.detach_interface}),
    (f"{P}/servers/{{server_id}}/os-security-groups", {
        "GET": security_groups.list_server_groups}),
    (f"{P}/servers/{{server_id}}/os-server-password", {
        "GET": server_info.show_password, "DELETE": server_info.clear_password}),
    (f"{P}/servers/{{server_id}}/os-instance-actions", {"GET": instance_actions.list_actions}),
    (f"{P}/servers/{{server_id}}/os-instance-actions/{{request_id}}", {
        "GET": instance_actions.show_action}),
    (f"{P}/servers/{{server_id}}/tags", {"GET": server_tags.list_tags,
                                         "PUT": server_tags.replace_tags,
                                         "DELETE": server_tags.delete_tags}),
    (f"{P}/servers/{{server_id}}/tags/{{tag}}", {"GET": server_tags.check_tag,
                                                 "PUT": server_tags.add_tag,
                                                 "DELETE": server_tags.delete_tag}),
    (f"{P}/os-simple-tenant-usage", {"GET": server_info.list_usage}),
    (f"{P}/os-migrations", {"GET": migrations.list_migrations}),
    (f"{P}/servers/{{server_id}}/migrations", {"GET": migrations.list_server_migrations}),
    (f"{P}/servers/{{server_id}}/migrations/{{migration_id}}", {
        "GET": migrations.show_server_migration}),
    (f"{P}/os-simple-tenant-usage/{{usage_project_id}}", {"GET": server_info.show_usage}),
    (f"{P}/servers/{{server_id}}/os-volume_attachments", {
        "GET": volume_attachments.list_attachments, "POST": volume_attachments.attach}),
    (f"{P}/servers/{{server_id}}/os-volume_attachments/{{volume_id}}", {
        "GET": volume_attachments.show_attachment, "DELETE": volume_attachments.detach,
        "PUT": volume_attachments.update_attachment}),
    (f"{P}/servers/{{server_id}}/ips", {"GET": ips.list_ips}),
    (f"{P}/servers/{{server_id}}/ips/{{network_label}}", {"GET": ips.show_ips}),
    (f"{P}/servers/{{server_id}}/metadata", {"GET": servers.list_metadata,
                                             "POST": servers.create_metadata,
                                             "PUT": servers.replace_metadata}),
    (f"{P}/servers/{{server_id}}/metadata/{{key}}", {
        "GET": servers.show_metadata_item, "PUT": servers.update_metadata_item,
        "DELETE": servers.delete_metadata_item}),
]
ROUTES += [
    (f"{P}/extensions", {"GET": extensions.list_extensions}),
    (f"{P}/extensions/{{alias}}", {"GET": extensions.show_extension}),
    (f"{P}/os-instance_usage_audit_log", {"GET": usage_audit_log.list_audit_logs}),
    (f"{P}/os-instance_usage_audit_log/{{before}}", {"GET": usage_audit_log.show_audit_log}),
    (f"{P}/os-server-external-events", {"POST": external_events.create_events}),
    (f"{P}/os-console-auth-tokens/{{token}}", {"GET": console_auth_tokens.show_token}),
    (f"{P}/os-assisted-volume-snapshots", {"POST": assisted_snapshots.create_snapshot}),
    (f"{P}/os-assisted-volume-snapshots/{{snapshot_id}}", {
        "DELETE": assisted_snapshots.delete_snapshot}),
]
PUBLIC = {"/", P, "/v2"}


def build_app(cloud: Cloud) -> ApiApp:
    router = Router(ROUTES, project_prefix=P, public=PUBLIC, strict_slashes=True)
    return ApiApp(cloud, INFO, router)
