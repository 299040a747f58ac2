"""/servers/{id}/os-interface: list, show, attach and detach ports through the Network API
(``nova/api/openstack/compute/attach_interfaces.py``).

Nova-compute binds the port on attach; here nova-api makes the same Neutron calls at once
(the server is on one in-process host, so the synchronous RPC call would add nothing).
"""

from __future__ import annotations

from typing import Any

from stackling import clients, exception, policy
from stackling.compute import neutron as network_api
from stackling.compute.api import common
from stackling.compute.objects import instance as instances
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "os_compute_api:os-attach-interfaces:list": common.OWNER_READER,
    "os_compute_api:os-attach-interfaces:show": common.OWNER_READER,
    "os_compute_api:os-attach-interfaces:create": common.OWNER,
    "os_compute_api:os-attach-interfaces:delete": common.OWNER,
})
ATTACHABLE = ("active", "paused", "stopped", "suspended", "shelved", "shelved_offloaded")


class PortNotFound(exception.NotFound):
    msg_fmt = "Port %(port_id)s is not attached"


def _server(req: Request, server_id: str, action: str) -> dict:
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, f"os_compute_api:os-attach-interfaces:{action}",
                         {"project_id": inst.project_id})
        return {"uuid": inst.uuid, "host": inst.host, "zone": inst.availability_zone,
                "vm_state": inst.vm_state, "project_id": inst.project_id,
                "info": list(inst.network_info or [])}


def _neutron(req: Request) -> network_api.NeutronAPI:
    ctx = req.context
    return network_api.NeutronAPI(req.app.cloud, ctx.token or "", ctx.project_id or "")


def _view(req: Request, port: dict, tag: str | None) -> dict:
    out = {"net_id": port["network_id"], "port_id": port["id"],
           "mac_addr": port["mac_address"], "port_state": port["status"],
           "fixed_ips": [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                         for f in port["fixed_ips"]]}
    if req.version.matches("2.70"):
        out["tag"] = tag
    return out


def _ports(req: Request, server: dict) -> list[dict]:
    return _neutron(req).admin_call("GET", f"/v2.0/ports?device_id={server['uuid']}")["ports"]


def _tags(server: dict) -> dict[str, str | None]:
    return {i["port_id"]: i.get("tag") for i in server["info"]}


def list_interfaces(req: Request, server_id: str) -> Any:
    server = _server(req, server_id, "list")
    tags = _tags(server)
    return json_response({"interfaceAttachments": [
        _view(req, p, tags.get(p["id"])) for p in _ports(req, server)]})


def show_interface(req: Request, server_id: str, port_id: str) -> Any:
    server = _server(req, server_id, "show")
    port = next((p for p in _ports(req, server) if p["id"] == port_id), None)
    if port is None:
        raise PortNotFound(port_id=port_id)
    return json_response({"interfaceAttachment": _view(req, port, _tags(server).get(port_id))})


def attach_interface(req: Request, server_id: str) -> Any:
    data = common.body_key(read_json(req), "interfaceAttachment") if req.body else {}
    allowed = {"net_id", "port_id", "fixed_ips"} | ({"tag"} if req.version.matches("2.49")
                                                    else set())
    common.reject_extra("interfaceAttachment", data, allowed)
    net_id, port_id = data.get("net_id"), data.get("port_id")
    fixed = data.get("fixed_ips") or []
    if net_id and port_id:
        raise exception.BadRequest("Must not input both network_id and port_id")
    if fixed and not net_id:
        raise exception.BadRequest("Must input network_id when request IP address")
    server = _server(req, server_id, "create")
    if server["vm_state"] not in ATTACHABLE:
        raise exception.Conflict(f"Cannot 'attach_interface' instance {server['uuid']} while "
                                 f"it is in vm_state {server['vm_state']}")
    neutron = _neutron(req)
    if not net_id and not port_id:
        net_id = neutron.default_network()
        if net_id is None:
            raise exception.BadRequest("No network available to attach an interface to.")
    entry = {"network_id": None if port_id else net_id, "port_id": port_id,
             "fixed_ip": fixed[0].get("ip_address") if fixed else None,
             "tag": data.get("tag")}
    try:
        if not port_id:
            neutron.validate([entry])
        info = neutron.allocate(server["uuid"], server["host"] or "", server["zone"],
                                [entry], [])
    except clients.ApiError as exc:
        raise exception.NotFound(exc.message) if exc.status == 404 else \
            exception.BadRequest(exc.message) from None
    except network_api.PortBindingFailed as exc:
        raise exception.StacklingError(str(exc)) from None
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        instances.update_fields(inst, network_info=list(inst.network_info or []) + info)
    port = neutron.admin_call("GET", f"/v2.0/ports/{info[0]['port_id']}")["port"]
    return json_response({"interfaceAttachment": _view(req, port, data.get("tag"))})


def detach_interface(req: Request, server_id: str, port_id: str) -> Any:
    server = _server(req, server_id, "delete")
    if port_id not in {p["id"] for p in _ports(req, server)}:
        raise PortNotFound(port_id=port_id)
    preserve = any(i["port_id"] == port_id and i.get("preserve_on_delete")
                   for i in server["info"])
    _neutron(req).release(port_id, preserve)
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        instances.update_fields(inst, network_info=[
            i for i in inst.network_info or [] if i["port_id"] != port_id])
    return empty_response(202)
