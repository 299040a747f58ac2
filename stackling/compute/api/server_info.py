"""Read-mostly server sub-resources: remote consoles (2.6+), diagnostics, the server
password and simple tenant usage (nova/api/openstack/compute/remote_consoles.py,
server_diagnostics.py, server_password.py, simple_tenant_usage.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.api.server_actions import check_host, console, invalid_state
from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "os_compute_api:os-server-diagnostics": common.ADMIN,
    "os_compute_api:os-server-password:show": common.OWNER_READER,
    "os_compute_api:os-server-password:clear": common.OWNER,
    "os_compute_api:os-simple-tenant-usage:list": common.ADMIN,
    "os_compute_api:os-simple-tenant-usage:show": common.OWNER_READER,
})

# protocol -> the console types it offers (2.8 adds mks, 2.99 spice-direct)
PROTOCOLS = {"vnc": ("novnc", "xvpvnc"), "spice": ("spice-html5", "spice-direct"),
             "serial": ("serial",), "rdp": ("rdp-html5",), "mks": ("webmks",)}


def create_console(req: Request, server_id: str):
    """``POST /servers/{id}/remote-consoles`` (2.6+): 200 with protocol, type and url."""
    if not req.version.matches("2.6"):
        raise exception.NotFound("The resource could not be found.")
    body = read_json(req)
    data = body.get("remote_console") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise exception.ValidationError(field="remote_console", value=data,
                                        detail="'remote_console' is a required property")
    protocols = [p for p in PROTOCOLS if p != "mks" or req.version.matches("2.8")]
    protocol, kind = data.get("protocol"), data.get("type")
    if protocol not in protocols:
        raise exception.ValidationError(field="remote_console/protocol", value=protocol,
                                        detail=f"{protocol!r} is not one of {protocols}")
    # Nova's enum order: spice-direct (2.99) is appended last
    kinds = [k for p in protocols for k in PROTOCOLS[p] if k != "spice-direct"]
    if req.version.matches("2.99"):
        kinds.append("spice-direct")
    if kind not in kinds:
        raise exception.ValidationError(field="remote_console/type", value=kind,
                                        detail=f"{kind!r} is not one of {kinds}")
    if protocol == "rdp":
        raise exception.BadRequest("Unavailable console type rdp.")
    if kind not in PROTOCOLS[protocol]:
        raise exception.BadRequest(f"Invalid console type {kind}")
    return json_response({"remote_console": {"protocol": protocol,
                                             **console(req, server_id, protocol, kind)}})


def show_diagnostics(req: Request, server_id: str):
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-server-diagnostics",
                         {"project_id": inst.project_id})
        check_host(inst)
        if inst.vm_state in ("building",) or inst.task_state is not None:
            raise invalid_state("get_diagnostics", inst.uuid, "vm_state", inst.vm_state)
        host = inst.host
    diag = req.app.cloud.rpc.call(f"compute.{host}", "get_diagnostics",
                                  instance_uuid=server_id)
    if req.version.matches("2.48"):
        return json_response(diag)
    # Before 2.48 the driver's own flat dict (libvirt-style keys).
    flat: dict[str, Any] = {f"cpu{c['id']}_time": c["time"] for c in diag["cpu_details"]}
    flat["memory"] = diag["memory_details"]["maximum"] * 1024
    for i, d in enumerate(diag["disk_details"]):
        name = f"vd{chr(ord('a') + i)}"
        flat.update({f"{name}_read": d["read_bytes"], f"{name}_read_req": d["read_requests"],
                     f"{name}_write": d["write_bytes"],
                     f"{name}_write_req": d["write_requests"], f"{name}_errors": d["errors_count"]})
    return json_response(flat)


def show_password(req: Request, server_id: str):
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-server-password:show",
                         {"project_id": inst.project_id})
        return json_response({"password": inst.password or ""})


def clear_password(req: Request, server_id: str):
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-server-password:clear",
                         {"project_id": inst.project_id})
        instances.update_fields(inst, password=None)
    return empty_response(204)


# -- os-simple-tenant-usage -------------------------------------------------------------


def _when(req: Request, key: str) -> dt.datetime:
    """``_parse_datetime``: the query's time, or now when absent."""
    text = req.GET.get(key)
    if not text:
        return utcnow()
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise exception.BadRequest("Invalid input received: Datetime is in invalid format")


def _period(req: Request) -> tuple[dt.datetime, dt.datetime]:
    start, end = _when(req, "start"), _when(req, "end")
    if not start < end:
        raise exception.BadRequest("Invalid start time. The start time cannot occur after "
                                   "the end time.")
    return start, min(end, utcnow())


def _server_usage(inst: Instance, start: dt.datetime, end: dt.datetime) -> dict | None:
    launched = inst.launched_at or inst.created_at
    terminated = inst.terminated_at
    if terminated is not None and terminated < start or launched > end:
        return None
    began, ended = max(launched, start), min(terminated or end, end)
    hours = max((ended - began).total_seconds(), 0) / 3600.0
    flavor = inst.flavor or {}
    uptime_end = terminated or utcnow()
    return {"instance_id": inst.uuid, "name": inst.display_name, "tenant_id": inst.project_id,
            "flavor": flavor.get("name"), "hours": hours, "memory_mb": inst.memory_mb,
            "local_gb": inst.root_gb + inst.ephemeral_gb, "vcpus": inst.vcpus,
            "started_at": common.isotime(launched), "ended_at": common.isotime(terminated),
            "state": "terminated" if inst.deleted else inst.vm_state,
            "uptime": int((uptime_end - launched).total_seconds())}


def _usages(req: Request, start: dt.datetime, end: dt.datetime,
            project_id: str | None) -> dict[str, dict]:
    q = select(Instance).where(or_(Instance.terminated_at.is_(None),
                                   Instance.terminated_at >= start),
                               Instance.created_at <= end)
    if project_id:
        q = q.where(Instance.project_id == project_id)
    out: dict[str, dict] = {}
    with req.app.cloud.db.reader() as s:
        for inst in s.scalars(q.order_by(Instance.created_at, Instance.id)):
            usage = _server_usage(inst, start, end)
            if usage is None:
                continue
            t = out.setdefault(inst.project_id, {
                "tenant_id": inst.project_id, "total_local_gb_usage": 0.0,
                "total_vcpus_usage": 0.0, "total_memory_mb_usage": 0.0, "total_hours": 0.0,
                "start": common.isotime(start), "stop": common.isotime(end),
                "server_usages": []})
            t["total_hours"] += usage["hours"]
            t["total_vcpus_usage"] += usage["hours"] * usage["vcpus"]
            t["total_memory_mb_usage"] += usage["hours"] * usage["memory_mb"]
            t["total_local_gb_usage"] += usage["hours"] * usage["local_gb"]
            t["server_usages"].append(usage)
    return out


def list_usage(req: Request):
    common.authorize(req, "os_compute_api:os-simple-tenant-usage:list")
    start, end = _period(req)
    detailed = req.GET.get("detailed") in ("1", "true", "True")
    usages = list(_usages(req, start, end, None).values())
    if not detailed:
        for u in usages:
            u.pop("server_usages")
    return json_response({"tenant_usages": usages})


def show_usage(req: Request, usage_project_id: str):
    common.authorize(req, "os_compute_api:os-simple-tenant-usage:show",
                     {"project_id": usage_project_id})
    start, end = _period(req)
    return json_response({"tenant_usage": _usages(req, start, end, usage_project_id).get(
        usage_project_id, {})})
