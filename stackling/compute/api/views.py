"""Server views, microversion by microversion (nova/api/openstack/compute/views/servers.py).

``ServerData`` is what a view needs of an instance, read once per request; the view
functions are pure so that the microversion rules are unit-tested directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from stackling.compute.api import common, disk_config
from stackling.web.microversion import Version

# nova/api/openstack/common.py _STATE_MAP: vm_state → {task_state: status}
_REBOOT = {"rebooting": "REBOOT", "reboot_pending": "REBOOT", "reboot_started": "REBOOT",
           "rebooting_hard": "HARD_REBOOT", "reboot_pending_hard": "HARD_REBOOT",
           "reboot_started_hard": "HARD_REBOOT"}
_REBUILD = {"rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
            "rebuild_spawning": "REBUILD"}
_RESIZE = {t: "RESIZE" for t in ("resize_prep", "resize_migrating", "resize_migrated",
                                 "resize_finish")}
_STATE_MAP = {
    "active": {"default": "ACTIVE", **_REBOOT, "updating_password": "PASSWORD", **_REBUILD,
               "migrating": "MIGRATING", **_RESIZE},
    "building": {"default": "BUILD"},
    "stopped": {"default": "SHUTOFF", **_RESIZE, **_REBUILD},
    "resized": {"default": "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
    "paused": {"default": "PAUSED", "migrating": "MIGRATING"},
    "suspended": {"default": "SUSPENDED"},
    "rescued": {"default": "RESCUE"},
    "error": {"default": "ERROR", **_REBUILD},
    "deleted": {"default": "DELETED"},
    "soft-delete": {"default": "SOFT_DELETED"},
    "shelved": {"default": "SHELVED"},
    "shelved_offloaded": {"default": "SHELVED_OFFLOADED"},
}

# status filter → vm_states (and, for REBOOT/HARD_REBOOT, task states)
STATUS_TO_VM = {"ACTIVE": "active", "BUILD": "building", "SHUTOFF": "stopped",
                "ERROR": "error", "DELETED": "deleted", "REBOOT": "active",
                "HARD_REBOOT": "active", "PAUSED": "paused", "SUSPENDED": "suspended",
                "SHELVED": "shelved", "SHELVED_OFFLOADED": "shelved_offloaded",
                "SOFT_DELETED": "soft-delete", "RESCUE": "rescued",
                "VERIFY_RESIZE": "resized", "PASSWORD": "active"}

PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def status_from_state(vm_state: str, task_state: str | None) -> str:
    states = _STATE_MAP.get(vm_state, {"default": "UNKNOWN"})
    return states.get(task_state or "default", states["default"])


@dataclass
class ServerData:
    uuid: str
    id: int
    name: str
    project_id: str
    user_id: str
    vm_state: str
    task_state: str | None
    power_state: int
    host: str | None
    node: str | None
    availability_zone: str | None        # the instance's zone (host's zone once scheduled)
    requested_az: str | None
    image_ref: str | None
    flavor: dict
    metadata: dict
    created_at: Any
    updated_at: Any
    launched_at: Any = None
    terminated_at: Any = None
    description: str | None = None
    hostname: str | None = None
    key_name: str | None = None
    user_data: str | None = None
    config_drive: str = ""
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    reservation_id: str | None = None
    launch_index: int = 0
    locked: bool = False
    locked_reason: str | None = None
    tags: list = field(default_factory=list)
    scheduler_hints: dict = field(default_factory=dict)
    fault: dict | None = None
    host_up: bool | None = None
    host_disabled: bool = False
    deleted: bool = False
    volumes: list = field(default_factory=list)   # (volume id, delete_on_termination)
    addresses: dict = field(default_factory=dict)  # neutron.server_networks(), {} while building
    security_groups: list = field(default_factory=list)  # neutron.server_networks()


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: sha224 of project id + host, '' without a host."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def links(base: str, project_id: str, uuid: str, kind: str = "servers") -> list[dict]:
    return [{"rel": "self", "href": f"{base}/v2.1/{project_id}/{kind}/{uuid}"},
            {"rel": "bookmark", "href": f"{base}/{project_id}/{kind}/{uuid}"}]


def basic(uuid: str, name: str, base: str, project_id: str) -> dict:
    return {"id": uuid, "name": name, "links": links(base, project_id, uuid)}


def _flavor_view(d: ServerData, version: Version, base: str, project_id: str,
                 show_extra_specs: bool) -> dict:
    f = d.flavor
    if not version.matches("2.47"):
        return {"id": f["id"], "links": [{"rel": "bookmark",
                                          "href": f"{base}/{project_id}/flavors/{f['id']}"}]}
    out = {"vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"],
           "ephemeral": f.get("ephemeral", 0), "swap": f.get("swap", 0),
           "original_name": f["name"]}
    if show_extra_specs:
        out["extra_specs"] = f.get("extra_specs", {})
    return out


def _image_view(d: ServerData, version: Version, base: str, project_id: str) -> Any:
    if not d.image_ref:
        return ""
    out: dict[str, Any] = {"id": d.image_ref, "links": [
        {"rel": "bookmark", "href": f"{base}/{project_id}/images/{d.image_ref}"}]}
    if version.matches("2.98"):
        out["properties"] = {}
    return out


def host_status(d: ServerData) -> str:
    if not d.host:
        return ""
    if d.host_up is False:
        return "DOWN"
    if d.host_disabled:
        return "MAINTENANCE"
    return "UP"


def plain_addresses(addresses: dict) -> dict:
    """Addresses without ``OS-EXT-IPS:type``/``OS-EXT-IPS-MAC:mac_addr``: Nova's update
    and rebuild answers before 2.75 (``extend_address=False``)."""
    return {label: [{"version": ip["version"], "addr": ip["addr"]} for ip in ips]
            for label, ips in addresses.items()}


def show(d: ServerData, version: Version, base: str, project_id: str, *, is_admin: bool,
         show_host_status: bool = False, show_extra_specs: bool = False,
         reduced: bool = False, show_server_groups: bool = True) -> dict:
    """GET /servers/{id} and each /servers/detail item; ``reduced`` is PUT before 2.75.

    ``server_groups`` (2.71) is in show, update and rebuild only: Nova leaves it out of
    /servers/detail (``show_server_groups`` is False there).
    """
    status = status_from_state(d.vm_state, d.task_state)
    server: dict[str, Any] = {
        "id": d.uuid, "name": d.name, "status": status, "tenant_id": d.project_id,
        "user_id": d.user_id, "metadata": d.metadata,
        "hostId": host_id(d.project_id, d.host),
        "image": _image_view(d, version, base, project_id),
        "flavor": _flavor_view(d, version, base, project_id, show_extra_specs),
        "created": common.zulu(d.created_at), "updated": common.zulu(d.updated_at or
                                                                      d.created_at),
        "addresses": d.addresses, "accessIPv4": d.access_ip_v4 or "", "accessIPv6": d.access_ip_v6 or "",
        "links": links(base, project_id, d.uuid),
        "OS-DCF:diskConfig": disk_config.view(d.scheduler_hints),
    }
    if status in PROGRESS_STATUSES:
        server["progress"] = 100 if status == "ACTIVE" else 0
    if version.matches("2.9"):
        server["locked"] = d.locked
    if version.matches("2.19"):
        server["description"] = d.description
    if version.matches("2.26"):
        server["tags"] = list(d.tags)
    if version.matches("2.63"):
        server["trusted_image_certificates"] = None
    if show_server_groups and version.matches("2.71"):
        group = d.scheduler_hints.get("group")
        server["server_groups"] = [group] if group else []
    if version.matches("2.73"):
        server["locked_reason"] = d.locked_reason
    if d.fault and status in ("ERROR", "DELETED"):
        fault = {"code": d.fault["code"], "created": common.zulu(d.fault["created_at"]),
                 "message": d.fault["message"]}
        if is_admin or d.fault["code"] != 500:
            fault["details"] = d.fault["details"] or ""
        server["fault"] = fault
    if reduced and not version.matches("2.75"):
        server["addresses"] = plain_addresses(d.addresses)
        return server
    server["OS-EXT-AZ:availability_zone"] = d.availability_zone or ""
    server["config_drive"] = d.config_drive
    server["key_name"] = d.key_name
    server["OS-SRV-USG:launched_at"] = (d.launched_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
                                        if d.launched_at else None)
    server["OS-SRV-USG:terminated_at"] = (d.terminated_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
                                          if d.terminated_at else None)
    server["OS-EXT-STS:task_state"] = d.task_state
    server["OS-EXT-STS:vm_state"] = d.vm_state
    server["OS-EXT-STS:power_state"] = d.power_state
    server["os-extended-volumes:volumes_attached"] = [
        {"id": vid, "delete_on_termination": dot} if version.matches("2.3") else {"id": vid}
        for vid, dot in d.volumes]
    if d.security_groups:                  # Nova adds the key only for a server with ports
        server["security_groups"] = d.security_groups
    if is_admin:
        server["OS-EXT-SRV-ATTR:host"] = d.host
        server["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{d.id:08x}"
        server["OS-EXT-SRV-ATTR:hypervisor_hostname"] = d.node
        if version.matches("2.3"):
            server.update({
                "OS-EXT-SRV-ATTR:reservation_id": d.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": d.launch_index,
                "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:hostname": d.hostname,
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data": d.user_data})
    elif version.matches("2.90"):
        server["OS-EXT-SRV-ATTR:hostname"] = d.hostname
    if version.matches("2.16") and show_host_status:
        server["host_status"] = host_status(d)
    if version.matches("2.96"):
        server["pinned_availability_zone"] = d.requested_az
    if version.matches("2.100"):
        server["scheduler_hints"] = {k: v for k, v in d.scheduler_hints.items()
                                     if not k.startswith("_")}
    return server
