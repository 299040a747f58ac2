"""Compute nodes (created from the topology sizes) and /os-hypervisors."""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from stackling import exception
from stackling.compute.api import common
from stackling.compute.objects import zones as az
from stackling.db.models import Service
from stackling.db.models_compute import ComputeNode, Instance
from stackling.web.app import Request, json_response

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.topology import ComputeHost


def ratios(conf) -> tuple[float, float, float]:
    """Nova: an explicit *_allocation_ratio wins, else the initial_* default."""
    return (conf.cpu_allocation_ratio or conf.initial_cpu_allocation_ratio,
            conf.ram_allocation_ratio or conf.initial_ram_allocation_ratio,
            conf.disk_allocation_ratio or conf.initial_disk_allocation_ratio)


def ensure_nodes(cloud: Cloud, hosts: list[ComputeHost]) -> None:
    """Create or refresh the hosts' compute nodes from the topology sizes and nova.conf,
    in one transaction and two reads (a process may serve 1,000 hosts)."""
    conf = cloud.config.nova
    cpu, ram, disk = ratios(conf)
    names = [h.name for h in hosts]
    with cloud.db.writer() as s:
        nodes = {n.hypervisor_hostname: n for n in s.scalars(
            select(ComputeNode).where(ComputeNode.hypervisor_hostname.in_(names)))}
        # usage is the reserved amount plus the claims of instances still on the host
        used = {row[0]: row[1:] for row in s.execute(
            select(Instance.node, func.count(Instance.id), func.sum(Instance.vcpus),
                   func.sum(Instance.memory_mb),
                   func.sum(Instance.root_gb + Instance.ephemeral_gb))
            .where(Instance.node.in_(names), Instance.deleted == 0)
            .group_by(Instance.node))}
        for host in hosts:
            node = nodes.get(host.name)
            if node is None:
                node = ComputeNode(host=host.name, hypervisor_hostname=host.name)
                s.add(node)
            count, vcpus, memory, local = used.get(host.name, (0, 0, 0, 0))
            node.vcpus, node.memory_mb, node.local_gb = host.vcpus, host.memory_mb, host.local_gb
            node.reserved_vcpus = conf.reserved_host_cpus
            node.reserved_memory_mb = conf.reserved_host_memory_mb
            node.reserved_disk_gb = conf.reserved_host_disk_mb // 1024
            node.cpu_allocation_ratio, node.ram_allocation_ratio = cpu, ram
            node.disk_allocation_ratio = disk
            node.running_vms = count
            node.vcpus_used = vcpus or 0
            node.memory_mb_used = conf.reserved_host_memory_mb + (memory or 0)
            node.local_gb_used = local or 0


# -- views -----------------------------------------------------------------------------


def _rows(req: Request) -> list[tuple[ComputeNode, az.ServiceZone | None]]:
    with req.app.cloud.db.reader() as s:
        nodes = s.scalars(select(ComputeNode).order_by(ComputeNode.id)).all()
        services = {sv.host: sv for sv in az.nova_services(s, common.conf(req),
                                                           binary="nova-compute")}
    return [(n, services.get(n.host)) for n in nodes]


def _view(req: Request, node: ComputeNode, svc: az.ServiceZone | None, detail: bool,
          servers: list[dict] | None = None) -> dict[str, Any]:
    uuids = req.version.matches("2.53")
    out: dict[str, Any] = {
        "id": node.uuid if uuids else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if svc and svc.up else "down",
        "status": "disabled" if svc and svc.disabled else "enabled",
    }
    if detail:
        out.update({"hypervisor_type": node.hypervisor_type,
                    "hypervisor_version": node.hypervisor_version,
                    "host_ip": node.host_ip,
                    "service": {"host": node.host,
                                "id": (svc.uuid if uuids else svc.id) if svc else None,
                                "disabled_reason": svc.disabled_reason if svc else None}})
        if not req.version.matches("2.88"):
            free_disk = node.local_gb - node.local_gb_used
            out.update({
                "vcpus": node.vcpus, "memory_mb": node.memory_mb, "local_gb": node.local_gb,
                "vcpus_used": node.vcpus_used, "memory_mb_used": node.memory_mb_used,
                "local_gb_used": node.local_gb_used,
                "free_ram_mb": node.memory_mb - node.memory_mb_used,
                "free_disk_gb": free_disk, "current_workload": 0,
                "running_vms": node.running_vms, "disk_available_least": free_disk,
                "cpu_info": ({"arch": "x86_64", "model": "fake", "vendor": "stackling",
                              "topology": {"cores": node.vcpus, "threads": 1, "sockets": 1},
                              "features": []}
                             if req.version.matches("2.28") else "?"),
            })
        else:
            out["uptime"] = None
    if servers is not None:
        out["servers"] = servers
    return out


def _with_servers(req: Request) -> bool:
    value = req.GET.get("with_servers")
    return req.version.matches("2.53") and value is not None and \
        value.lower() in ("true", "1", "yes", "t", "on")


def _servers_on(req: Request, host: str) -> list[dict]:
    with req.app.cloud.db.reader() as s:
        rows = s.execute(select(Instance.uuid, Instance.id).where(
            Instance.node == host, Instance.deleted == 0).order_by(Instance.id)).all()
    return [{"uuid": u, "name": f"instance-{i:08x}"} for u, i in rows]


def _list(req: Request, detail: bool):
    common.authorize(req, "os_compute_api:os-hypervisors:list-detail" if detail
                     else "os_compute_api:os-hypervisors:list")
    rows = _rows(req)
    pattern = req.GET.get("hypervisor_hostname_pattern") if req.version.matches("2.53") \
        else None
    if pattern is not None:
        rows = [r for r in rows if pattern in r[0].hypervisor_hostname]
        if not rows:
            raise exception.NotFound(f"No hypervisor matching '{pattern}' could be found.")
    marker = req.GET.get("marker") if req.version.matches("2.33") else None
    if marker is not None:
        keys = [str(n.uuid if req.version.matches("2.53") else n.id) for n, _ in rows]
        if marker not in keys:
            raise exception.BadRequest(f"marker [{marker}] not found")
        rows = rows[keys.index(marker) + 1:]
    body: dict[str, Any] = {}
    limit = req.GET.get("limit") if req.version.matches("2.33") else None
    if limit is not None:
        n = common.validate_integer(limit, "limit", 0)
        if n and len(rows) > n:
            rows = rows[:n]
            last = rows[-1][0]
            key = last.uuid if req.version.matches("2.53") else last.id
            base = req.app.cloud.public_url("compute")
            path = "os-hypervisors/detail" if detail else "os-hypervisors"
            body["hypervisors_links"] = [{"rel": "next",
                                          "href": f"{base}/v2.1/{path}?limit={n}&marker={key}"}]
    with_servers = _with_servers(req)
    body["hypervisors"] = [
        _view(req, n, svc, detail, _servers_on(req, n.hypervisor_hostname) if with_servers
              else None) for n, svc in rows]
    return json_response(dict(sorted(body.items(), key=lambda kv: kv[0] != "hypervisors")))


def list_hypervisors(req: Request):
    return _list(req, detail=False)


def list_hypervisors_detail(req: Request):
    return _list(req, detail=True)


def show_hypervisor(req: Request, hypervisor_id: str):
    common.authorize(req, "os_compute_api:os-hypervisors:show")
    if req.version.matches("2.53"):
        try:
            uuidlib.UUID(hypervisor_id)
        except ValueError:
            raise exception.BadRequest(f"Invalid uuid {hypervisor_id}") from None
    else:
        try:
            int(hypervisor_id)
        except ValueError:
            raise exception.NotFound(
                f"Hypervisor with ID '{hypervisor_id}' could not be found.") from None
    for node, svc in _rows(req):
        if str(node.uuid if req.version.matches("2.53") else node.id) == hypervisor_id:
            servers = _servers_on(req, node.hypervisor_hostname) if _with_servers(req) \
                else None
            return json_response({"hypervisor": _view(req, node, svc, True, servers)})
    raise exception.NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


def _find(req: Request, hypervisor_id: str) -> tuple[ComputeNode, az.ServiceZone | None]:
    if req.version.matches("2.53"):
        try:
            uuidlib.UUID(hypervisor_id)
        except ValueError:
            raise exception.BadRequest(f"Invalid uuid {hypervisor_id}") from None
    for node, svc in _rows(req):
        if str(node.uuid if req.version.matches("2.53") else node.id) == hypervisor_id:
            return node, svc
    raise exception.NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


def hypervisor_uptime(req: Request, hypervisor_id: str):
    """2.1-2.87 (2.88 folded ``uptime`` into the hypervisor view)."""
    if req.version.matches("2.88"):
        raise exception.NotFound("The resource could not be found.")
    common.authorize(req, "os_compute_api:os-hypervisors:uptime")
    node, svc = _find(req, hypervisor_id)
    if svc is None or not svc.up:
        # Nova: ComputeServiceUnavailable → 400
        raise exception.BadRequest(f"Compute service of {node.host} is unavailable at "
                                   "this time.")
    out = _view(req, node, svc, False)
    out["uptime"] = _uptime()
    return json_response({"hypervisor": out})


def _uptime() -> str:
    """What the host's `uptime` prints (the libvirt driver's answer)."""
    import os
    import time

    try:
        with open("/proc/uptime") as f:
            seconds = int(float(f.read().split()[0]))
    except OSError:
        seconds = 0
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "0.00, 0.00, 0.00"
    return (f" {time.strftime('%H:%M:%S')} up {days} days, {hours:2d}:{minutes:02d},  "
            f"1 user,  load average: {load}")


def _legacy_matches(req: Request, pattern: str) -> list:
    """2.1-2.52 ``/os-hypervisors/{pattern}/search|servers``: substring match, 404 if none."""
    if req.version.matches("2.53"):
        raise exception.NotFound("The resource could not be found.")
    rows = [r for r in _rows(req) if pattern in r[0].hypervisor_hostname]
    if not rows:
        raise exception.NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return rows


def search_hypervisors(req: Request, pattern: str):
    common.authorize(req, "os_compute_api:os-hypervisors:search")
    rows = _legacy_matches(req, pattern)
    return json_response({"hypervisors": [_view(req, n, svc, False) for n, svc in rows]})


def hypervisor_servers(req: Request, pattern: str):
    common.authorize(req, "os_compute_api:os-hypervisors:servers")
    rows = _legacy_matches(req, pattern)
    out = []
    for node, svc in rows:
        servers = _servers_on(req, node.hypervisor_hostname)
        out.append(_view(req, node, svc, False, servers or None))
    return json_response({"hypervisors": out})


def hypervisor_statistics(req: Request):
    """Gone at 2.88 (404 like any method below/above its range)."""
    if req.version.matches("2.88"):
        raise exception.NotFound("The resource could not be found.")
    common.authorize(req, "os_compute_api:os-hypervisors:statistics")
    rows = _rows(req)
    keys = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "running_vms")
    stats = {k: sum(getattr(n, k) for n, _ in rows) for k in keys}
    stats.update(count=len(rows), current_workload=0,
                 free_ram_mb=stats["memory_mb"] - stats["memory_mb_used"],
                 free_disk_gb=stats["local_gb"] - stats["local_gb_used"],
                 disk_available_least=stats["local_gb"] - stats["local_gb_used"])
    return json_response({"hypervisor_statistics": stats})


def service_rows(cloud: Cloud) -> list[Service]:
    with cloud.db.reader() as s:
        return list(s.scalars(select(Service).where(Service.project == "nova")))
