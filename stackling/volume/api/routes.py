"""Cinder v3 API: the route table and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import discovery
from stackling.volume.api import (
    attachments,
    availability_zones,
    extensions,
    group_types,
    groups,
    hosts,
    limits,
    messages,
    qos,
    quotas,
    services,
    snapshots,
    transfers,
    types,
    volumes,
)
from stackling.web.app import ApiApp, Request, ServiceInfo, json_response
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# See doc/api-versions.md ("Block Storage") for what each version changes here.
VERSIONS = VersionSpec("volume", Version(3, 0), Version(3, 71))

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
    ("/v3/volumes", {"GET": volumes.list_volumes, "POST": volumes.create_volume,
                     "PUT": volumes.no_volume_id, "DELETE": volumes.no_volume_id}),
    ("/v3/volumes/detail", {"GET": volumes.list_volumes_detail}),
    ("/v3/volumes/summary", {"GET": volumes.volume_summary}),
    ("/v3/volumes/{volume_id}", {"GET": volumes.show_volume, "PUT": volumes.update_volume,
                                 "DELETE": volumes.delete_volume}),
    ("/v3/volumes/{volume_id}/action", {"POST": volumes.volume_action}),
    ("/v3/volumes/{volume_id}/metadata", {"GET": volumes.get_metadata,
                                          "POST": volumes.create_metadata,
                                          "PUT": volumes.replace_metadata}),
    ("/v3/volumes/{volume_id}/metadata/{key}", {"GET": volumes.show_metadata_item,
                                                "PUT": volumes.update_metadata_item,
                                                "DELETE": volumes.delete_metadata_item}),
    ("/v3/snapshots", {"GET": snapshots.list_snapshots, "POST": snapshots.create_snapshot}),
    ("/v3/snapshots/detail", {"GET": snapshots.list_snapshots_detail}),
    ("/v3/snapshots/{snapshot_id}", {"GET": snapshots.show_snapshot,
                                     "PUT": snapshots.update_snapshot,
                                     "DELETE": snapshots.delete_snapshot}),
    ("/v3/snapshots/{snapshot_id}/action", {"POST": snapshots.snapshot_action}),
    ("/v3/snapshots/{snapshot_id}/metadata", {"GET": snapshots.get_metadata,
                                              "POST": snapshots.create_metadata,
                                              "PUT": snapshots.replace_metadata}),
    ("/v3/snapshots/{snapshot_id}/metadata/{key}", {
        "GET": snapshots.show_metadata_item, "PUT": snapshots.update_metadata_item,
        "DELETE": snapshots.delete_metadata_item}),
    ("/v3/types", {"GET": types.list_types, "POST": types.create_type}),
    ("/v3/types/{type_id}", {"GET": types.show_type, "PUT": types.update_type,
                             "DELETE": types.delete_type}),
    ("/v3/types/{type_id}/action", {"POST": types.type_action}),
    ("/v3/types/{type_id}/os-volume-type-access", {"GET": types.list_type_access}),
    ("/v3/types/{type_id}/extra_specs", {"GET": types.list_extra_specs,
                                         "POST": types.create_extra_specs}),
    ("/v3/types/{type_id}/extra_specs/{key}", {"GET": types.show_extra_spec,
                                               "PUT": types.update_extra_spec,
                                               "DELETE": types.delete_extra_spec}),
    ("/v3/types/{type_id}/encryption", {"GET": types.show_encryption,
                                        "POST": types.create_encryption}),
    ("/v3/types/{type_id}/encryption/{key}", {"GET": types.show_encryption_item,
                                              "PUT": types.update_encryption,
                                              "DELETE": types.delete_encryption}),
    ("/v3/attachments", {"GET": attachments.list_attachments,
                         "POST": attachments.create_attachment}),
    ("/v3/attachments/detail", {"GET": attachments.list_attachments_detail}),
    ("/v3/attachments/{attachment_id}", {"GET": attachments.show_attachment,
                                         "PUT": attachments.update_attachment,
                                         "DELETE": attachments.delete_attachment}),
    ("/v3/attachments/{attachment_id}/action", {"POST": attachments.attachment_action}),
    *[(f"/v3/{prefix}{tail}", methods) for prefix in ("os-volume-transfer", "volume-transfers")
      for tail, methods in (
          ("", {"GET": transfers.list_transfers, "POST": transfers.create_transfer}),
          ("/detail", {"GET": transfers.list_transfers_detail}),
          ("/{transfer_id}", {"GET": transfers.show_transfer,
                              "DELETE": transfers.delete_transfer}),
          ("/{transfer_id}/accept", {"POST": transfers.accept_transfer}))],
    ("/v3/group_types", {"GET": group_types.list_group_types,
                         "POST": group_types.create_group_type}),
    ("/v3/group_types/{type_id}", {"GET": group_types.show_group_type,
                                   "PUT": group_types.update_group_type,
                                   "DELETE": group_types.delete_group_type}),
    ("/v3/group_types/{type_id}/group_specs", {"GET": group_types.list_group_specs,
                                               "POST": group_types.create_group_specs}),
    ("/v3/group_types/{type_id}/group_specs/{key}", {
        "GET": group_types.show_group_spec, "PUT": group_types.update_group_spec,
        "DELETE": group_types.delete_group_spec}),
    ("/v3/groups", {"GET": groups.list_groups, "POST": groups.create_group}),
    ("/v3/groups/detail", {"GET": groups.list_groups_detail}),
    ("/v3/groups/action", {"POST": groups.groups_action}),
    ("/v3/groups/{group_id}", {"GET": groups.show_group, "PUT": groups.update_group}),
    ("/v3/groups/{group_id}/action", {"POST": groups.group_action}),
    ("/v3/group_snapshots", {"GET": groups.list_group_snapshots,
                             "POST": groups.create_group_snapshot}),
    ("/v3/group_snapshots/detail", {"GET": groups.list_group_snapshots_detail}),
    ("/v3/group_snapshots/{group_snapshot_id}", {"GET": groups.show_group_snapshot,
                                                 "DELETE": groups.delete_group_snapshot}),
    ("/v3/group_snapshots/{group_snapshot_id}/action", {
        "POST": groups.group_snapshot_action}),
    ("/v3/os-hosts", {"GET": hosts.list_hosts}),
    ("/v3/os-hosts/{host}", {"GET": hosts.show_host}),
    ("/v3/scheduler-stats/get_pools", {"GET": hosts.get_pools}),
    ("/v3/capabilities/{host}", {"GET": hosts.show_capabilities}),
    ("/v3/qos-specs", {"GET": qos.list_qos, "POST": qos.create_qos}),
    ("/v3/qos-specs/{specs_id}", {"GET": qos.show_qos, "PUT": qos.set_keys,
                                  "DELETE": qos.delete_qos}),
    ("/v3/qos-specs/{specs_id}/delete_keys", {"PUT": qos.delete_keys}),
    ("/v3/qos-specs/{specs_id}/associations", {"GET": qos.associations}),
    ("/v3/qos-specs/{specs_id}/associate", {"GET": qos.associate}),
    ("/v3/qos-specs/{specs_id}/disassociate", {"GET": qos.disassociate}),
    ("/v3/qos-specs/{specs_id}/disassociate_all", {"GET": qos.disassociate_all}),
    ("/v3/extensions", {"GET": extensions.list_extensions}),
    ("/v3/os-availability-zone", {"GET": availability_zones.list_zones}),
    ("/v3/os-services", {"GET": services.list_services}),
    ("/v3/os-services/{action}", {"PUT": services.update_service}),
    ("/v3/os-quota-sets/{target_project}", {"GET": quotas.show_quota,
                                            "PUT": quotas.update_quota,
                                            "DELETE": quotas.delete_quota}),
    ("/v3/os-quota-sets/{target_project}/defaults", {"GET": quotas.show_defaults}),
    ("/v3/os-quota-class-sets/{quota_class}", {"GET": quotas.show_quota_class_set,
                                               "PUT": quotas.update_quota_class_set}),
    ("/v3/limits", {"GET": limits.show_limits}),
    ("/v3/messages", {"GET": messages.list_messages}),
    ("/v3/messages/{message_id}", {"GET": messages.show_message,
                                   "DELETE": messages.delete_message}),
]
PUBLIC = {"/", "/v3"}


def build_app(cloud: Cloud) -> ApiApp:
    return ApiApp(cloud, INFO, Router(ROUTES, project_prefix="/v3", public=PUBLIC))
