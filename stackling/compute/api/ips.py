"""/servers/{id}/ips and /ips/{network_label}: a server's addresses by network."""

from __future__ import annotations

from stackling import exception, policy
from stackling.compute import neutron
from stackling.compute.api import common
from stackling.compute.objects import instance as instances
from stackling.web.app import Request, json_response

policy.register({
    "os_compute_api:ips:index": common.OWNER_READER,
    "os_compute_api:ips:show": common.OWNER_READER,
})


def _networks(req: Request, server_id: str, rule: str) -> dict[str, list[dict]]:
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, rule, {"project_id": inst.project_id})
        uuid = inst.uuid
    # The ips view leaves out the extended (type, MAC) fields the server views show.
    return {label: [{"version": ip["version"], "addr": ip["addr"]} for ip in ips]
            for label, ips in neutron.addresses(req.app.cloud, req.context, uuid).items()}


def list_ips(req: Request, server_id: str):
    return json_response({"addresses": _networks(req, server_id, "os_compute_api:ips:index")})


def show_ips(req: Request, server_id: str, network_label: str):
    networks = _networks(req, server_id, "os_compute_api:ips:show")
    if network_label not in networks:
        raise exception.NotFound("Instance is not a member of specified network")
    return json_response({network_label: networks[network_label]})
