"""/os-hosts (admin, up to 2.42): Nova's deprecated host API (api/openstack/compute/hosts.py).

List and show read services, compute nodes and instances. Update (``status``,
``maintenance_mode``) and the power actions answer what Nova answers with its fake
virt driver, which changes nothing on the host: ``enabled``/``disabled``,
``on_maintenance``/``off_maintenance`` and the action's name. Real Nova gets those
answers from the compute host over RPC; stackling's hosts run the same fake driver in
this process, so the API answers for them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import zones
from stackling.db.models_compute import ComputeNode, Instance
from stackling.web.app import Request, json_response, read_json

MAX_VERSION = "2.42"
CHOICES = ["enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"]

policy.register({f"os_compute_api:os-hosts:{rule}": common.ADMIN
                 for rule in ("list", "show", "update", "reboot", "shutdown", "start")})


class HostMappingNotFound(exception.NotFound):
    msg_fmt = "Host '%(name)s' is not mapped to any cell"


def _version(req: Request) -> None:
    if not req.version.matches(None, MAX_VERSION):
        raise exception.NotFound("The resource could not be found.")


def _start(req: Request, rule: str) -> None:
    _version(req)
    common.authorize(req, f"os_compute_api:os-hosts:{rule}", {})


def _compute_host(req: Request, host: str) -> None:
    """Only compute hosts are mapped to a cell (nova-manage cell_v2 discover_hosts)."""
    with req.app.cloud.db.reader() as s:
        if not zones.nova_services(s, common.conf(req), host=host, binary="nova-compute"):
            raise HostMappingNotFound(name=host)


def list_hosts(req: Request):
    """Enabled services but the API ones: host_name, service (the topic), zone."""
    _start(req, "list")
    zone = req.GET.get("zone")
    with req.app.cloud.db.reader() as s:
        services = zones.nova_services(s, common.conf(req))
    hosts = [{"host_name": svc.host, "service": svc.binary.removeprefix("nova-"),
              "zone": svc.zone}
             for svc in services if not svc.disabled and svc.binary not in zones.API_SERVICES
             and (not zone or svc.zone == zone)]
    return json_response({"hosts": hosts})


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict:
    return {"resource": {"host": host, "project": project, "cpu": cpu,
                         "memory_mb": memory_mb, "disk_gb": disk_gb}}


def show_host(req: Request, host_id: str):
    """(total), (used_now), (used_max) and one entry per project with instances there."""
    _start(req, "show")
    _compute_host(req, host_id)
    with req.app.cloud.db.reader() as s:
        node = s.scalars(select(ComputeNode).where(ComputeNode.host == host_id)
                         .order_by(ComputeNode.id)).first()
        if node is None:
            raise exception.NotFound(f"Compute host {host_id} could not be found.")
        instances = list(s.scalars(select(Instance).where(
            Instance.host == host_id, Instance.deleted == 0).order_by(Instance.id)))
        out = [_resource(host_id, "(total)", node.vcpus, node.memory_mb, node.local_gb),
               _resource(host_id, "(used_now)", node.vcpus_used, node.memory_mb_used,
                         node.local_gb_used),
               _resource(host_id, "(used_max)", sum(i.vcpus for i in instances),
                         sum(i.memory_mb for i in instances),
                         sum(i.root_gb + i.ephemeral_gb for i in instances))]
        projects: dict[str, dict] = {}
        for inst in instances:
            entry = projects.setdefault(inst.project_id, _resource(
                host_id, inst.project_id, 0, 0, 0))["resource"]
            entry["cpu"] += inst.vcpus
            entry["memory_mb"] += inst.memory_mb
            entry["disk_gb"] += inst.root_gb + inst.ephemeral_gb
    return json_response({"host": out + [{"resource": p["resource"]}
                                         for p in projects.values()]})


def _update_body(req: Request) -> dict[str, Any]:
    body = read_json(req)
    if not isinstance(body, dict):
        raise exception.ValidationError(field="`body`", value=body,
                                        detail=f"{body!r} is not of type 'object'")
    common.reject_extra("`body`", body, {"status", "maintenance_mode"})
    for key in ("status", "maintenance_mode"):
        if key in body and body[key] not in CHOICES:
            raise exception.ValidationError(field=key, value=body[key],
                                            detail=f"{body[key]!r} is not one of {CHOICES}")
    if "status" not in body and "maintenance_mode" not in body:
        raise exception.ValidationError(field="`body`", value=body,
                                        detail=f"{body!r} is not valid under any of the "
                                               "given schemas")
    return body


def update_host(req: Request, host_id: str):
    _version(req)
    body = _update_body(req)          # the schema is checked before the policy
    common.authorize(req, "os_compute_api:os-hosts:update", {})
    result: dict[str, Any] = {"host": host_id}
    if "status" in body:
        _compute_host(req, host_id)
        enabled = body["status"].strip().lower() == "enable"
        result["status"] = "enabled" if enabled else "disabled"
    if "maintenance_mode" in body:
        _compute_host(req, host_id)
        on = body["maintenance_mode"].strip().lower() == "enable"
        result["maintenance_mode"] = "on_maintenance" if on else "off_maintenance"
    return json_response(result)


def _power(req: Request, host_id: str, rule: str, action: str):
    _start(req, rule)
    _compute_host(req, host_id)
    return json_response({"host": host_id, "power_action": action})


def reboot_host(req: Request, host_id: str):
    return _power(req, host_id, "reboot", "reboot")


def shutdown_host(req: Request, host_id: str):
    return _power(req, host_id, "shutdown", "shutdown")


def startup_host(req: Request, host_id: str):
    return _power(req, host_id, "start", "startup")
