"""Nova's floating IP and network proxies over Neutron (nova/api/openstack/compute/
floating_ips.py, floating_ip_pools.py, networks.py, tenant_networks.py).

``/os-floating-ips``, ``/os-floating-ip-pools``, ``/os-networks`` and
``/os-tenant-networks`` are served up to 2.35 (404 from 2.36); ``addFloatingIp`` and
``removeFloatingIp`` up to 2.43. A pool is an external network; Nova's floating IP is
Neutron's, shown as ``{id, ip, fixed_ip, pool, instance_id}``.
"""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
from typing import Any
from urllib.parse import quote, urlencode

from stackling import clients, exception, policy
from stackling.compute.api import common
from stackling.compute.api.security_groups import action_body, start
from stackling.compute.objects import instance as instances
from stackling.compute.security_group_api import client, neutron_text
from stackling.web.app import Request, empty_response, json_response, read_json

RULE = "os_compute_api:os-floating-ips:%s"
policy.register({RULE % name: common.OWNER_READER for name in ("list", "show")})
policy.register({RULE % name: common.OWNER for name in ("create", "delete", "add",
                                                         "remove")})
policy.register({"os_compute_api:os-floating-ip-pools": common.ANY,
                 "os_compute_api:os-networks:list": common.OWNER_READER,
                 "os_compute_api:os-networks:show": common.OWNER_READER,
                 "os_compute_api:os-tenant-networks:list": common.OWNER_READER,
                 "os_compute_api:os-tenant-networks:show": common.OWNER_READER})
MAX_ACTION_VERSION = "2.43"
DEFAULT_POOL = "nova"     # the default of Nova's [neutron] default_floating_pool


def view(fip: dict, network: dict | None) -> dict:
    details = fip.get("port_details") or {}
    network = network or {}
    return {"fixed_ip": fip.get("fixed_ip_address"), "id": fip["id"],
            "instance_id": details.get("device_id"), "ip": fip["floating_ip_address"],
            "pool": network.get("name") or network.get("id") or fip["floating_network_id"]}


def _network(req: Request, network_id: str) -> dict:
    return client(req.context).get(f"/v2.0/networks/{network_id}")["network"]


def _by_id(req: Request, fip_id: str) -> dict:
    try:
        return client(req.context).get(f"/v2.0/floatingips/{quote(fip_id, safe='')}")[
            "floatingip"]
    except clients.ApiError as err:
        if err.status == 404:
            raise exception.NotFound(f"Floating IP not found for ID {fip_id}") from None
        raise


def by_address(req: Request, address: str) -> dict:
    """``_get_floating_ip_by_address``: exactly one, or Nova's 404 / 409."""
    fips = client(req.context).get("/v2.0/floatingips?" + urlencode(
        {"floating_ip_address": address}))["floatingips"] if address else []
    if not fips:
        raise exception.NotFound(f"Floating IP not found for address {address}.")
    if len(fips) > 1:
        raise exception.Conflict(f"Multiple floating IPs are found for address {address}.")
    return fips[0]


# -- os-floating-ips -------------------------------------------------------------------------


def list_floating_ips(req: Request):
    start(req, RULE % "list")
    neutron = client(req.context)
    fips = neutron.get("/v2.0/floatingips?" + urlencode(
        {"tenant_id": req.context.project_id}))["floatingips"]
    ids = sorted({f["floating_network_id"] for f in fips})
    nets = {n["id"]: n for n in neutron.get("/v2.0/networks?" + urlencode(
        [("id", i) for i in ids]))["networks"]} if ids else {}
    return json_response({"floating_ips": [view(f, nets.get(f["floating_network_id"]))
                                           for f in fips]})


def show_floating_ip(req: Request, fip_id: str):
    start(req, RULE % "show")
    fip = _by_id(req, fip_id)
    return json_response({"floating_ip": view(fip, _network(req, fip["floating_network_id"]))})


def _pool_id(req: Request, pool: str) -> str:
    """``_get_floating_ip_pool_id_by_name_or_id``: the one external network so named."""
    try:
        uuidlib.UUID(pool)
        key = "id"
    except ValueError:
        key = "name"
    nets = client(req.context).get("/v2.0/networks?" + urlencode(
        {"router:external": "True", "fields": "id", key: pool}))["networks"]
    if not nets:
        raise exception.NotFound("Floating IP pool not found.")
    if len(nets) > 1:
        raise exception.StacklingError(f"Multiple floating IP pools matches found for name "
                                       f"'{pool}'")
    return nets[0]["id"]


def create_floating_ip(req: Request):
    """Allocate from ``pool`` (else ``[neutron] default_floating_pool``); 200."""
    start(req, RULE % "create")
    body = read_json(req) if req.body else None
    if body is not None and not isinstance(body, dict):
        raise exception.ValidationError(field="body", value=body,
                                        detail=f"{body!r} is not of type 'object', 'null'")
    pool = (body or {}).get("pool")
    if pool is not None and not isinstance(pool, str):
        raise exception.ValidationError(field="pool", value=pool,
                                        detail=f"{pool!r} is not of type 'string', 'null'")
    pool = pool or DEFAULT_POOL
    network_id = _pool_id(req, pool)
    try:
        fip = client(req.context).post("/v2.0/floatingips", {"floatingip": {
            "floating_network_id": network_id}})["floatingip"]
    except clients.ApiError as err:
        raise _allocation_error(err, pool) from None
    return json_response({"floating_ip": view(fip, _network(req, network_id))})


def _allocation_error(err: clients.ApiError, pool: str) -> Exception:
    kind = (err.body or {}).get("NeutronError", {}).get("type") if isinstance(
        err.body, dict) else None
    if kind in ("IpAddressGenerationFailure", "ExternalIpAddressExhausted"):
        return exception.NotFound(f"No more floating IPs in pool {pool}.")
    if kind == "OverQuota":
        return exception.Forbidden(f"IP allocation over quota in pool {pool}.")
    if err.status == 400:
        return exception.BadRequest("The floating IP request failed with a BadRequest")
    return exception.StacklingError(neutron_text(err))


def delete_floating_ip(req: Request, fip_id: str):
    """Disassociate and release (``disassociate_and_release_floating_ip``); 202."""
    start(req, RULE % "delete")
    fip = _by_id(req, fip_id)
    instance_of(req, fip)
    try:
        client(req.context).delete(f"/v2.0/floatingips/{fip['id']}")
    except clients.ApiError as err:
        if err.status == 404:
            raise exception.NotFound(f"Floating IP not found for address "
                                     f"{fip['floating_ip_address']}.") from None
        raise
    return empty_response(202)


def instance_of(req: Request, fip: dict) -> str | None:
    """``get_instance_by_floating_ip_addr``: the server whose port has the address, which
    the caller must be able to see (404 otherwise)."""
    device = (fip.get("port_details") or {}).get("device_id")
    if not fip.get("port_id") or not device:
        return None
    with req.app.cloud.db.reader() as s:
        return instances.get(s, req.context, device).uuid


def list_pools(req: Request):
    start(req, "os_compute_api:os-floating-ip-pools")
    nets = client(req.context).get("/v2.0/networks?router:external=True")["networks"]
    return json_response({"floating_ip_pools": [{"name": n["name"] or n["id"]}
                                                for n in nets]})


# -- addFloatingIp / removeFloatingIp --------------------------------------------------------


def _address(action: str, data: Any, keys: tuple[str, ...]) -> dict:
    """The actions' schema: ``address`` (and ``fixed_address``) must be IP addresses."""
    action_body(action, data, "address", set(keys))
    for key in keys:
        if key in data:
            try:
                ipaddress.ip_address(data[key])
            except ValueError:
                raise exception.ValidationError(
                    field=f"{action}/{key}", value=data[key],
                    detail=f"{data[key]!r} is not valid under any of the given "
                           "schemas") from None
    return data


def _action_allowed(req: Request, name: str) -> None:
    if not req.version.matches(None, MAX_ACTION_VERSION):
        raise exception.BadRequest(f"There is no such action: {name}")


def _fixed_ips(ports: list[dict]) -> list[tuple[str, str]]:
    return [(ip["ip_address"], p["id"]) for p in ports for ip in p.get("fixed_ips") or []]


def add_floating_ip(req: Request, server_id: str, data: Any):
    _action_allowed(req, "addFloatingIp")
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, RULE % "add", {"project_id": inst.project_id})
    body = _address("addFloatingIp", data, ("address", "fixed_address"))
    address = body["address"]
    neutron = client(req.context)
    ports = neutron.get(f"/v2.0/ports?device_id={inst.uuid}")["ports"]
    if not ports:
        raise exception.BadRequest("Instance network is not ready yet")
    fixed = _fixed_ips(ports)
    if not fixed:
        raise exception.BadRequest("No fixed IPs associated to instance")
    fixed_address = body.get("fixed_address")
    if fixed_address and fixed_address not in {a for a, _ in fixed}:
        raise exception.BadRequest("Specified fixed address not assigned to instance")
    if not fixed_address:
        fixed_address = next((a for a, _ in fixed if ipaddress.ip_address(a).version == 4),
                             None)
        if fixed_address is None:
            raise exception.BadRequest(
                f"Unable to associate floating IP {address} to any fixed IPs for instance "
                f"{server_id}. Instance has no fixed IPv4 addresses to associate.")
    port_id = next(p for a, p in fixed if a == fixed_address)
    try:
        fip = by_address(req, address)
    except exception.NotFound:
        raise exception.NotFound("floating IP not found") from None
    try:
        neutron.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
            "port_id": port_id, "fixed_ip_address": fixed_address}})
    except clients.ApiError as err:
        if err.status == 409:     # FloatingIpAssociateFailed, with Neutron's text
            raise exception.BadRequest(neutron_text(err)) from None
        if err.status == 403:
            raise exception.Forbidden(neutron_text(err)) from None
        raise exception.BadRequest(
            f"Unable to associate floating IP {address} to fixed IP {fixed_address} for "
            f"instance {server_id}. Error: {neutron_text(err)}") from None
    return empty_response(202)


def remove_floating_ip(req: Request, server_id: str, data: Any):
    _action_allowed(req, "removeFloatingIp")
    address = _address("removeFloatingIp", data, ("address",))["address"]
    fip = by_address(req, address)
    owner = instance_of(req, fip)
    target = {"project_id": req.context.project_id}   # Nova's default target
    if owner:
        with req.app.cloud.db.reader() as s:
            target = {"project_id": instances.get(s, req.context, owner).project_id}
    common.authorize(req, RULE % "remove", target)
    if owner and fip.get("port_id") and owner == server_id:
        client(req.context).put(f"/v2.0/floatingips/{fip['id']}",
                                {"floatingip": {"port_id": None}})
        return empty_response(202)
    raise exception.Conflict(f"Floating IP {address} is not associated with instance "
                             f"{server_id}.")


HANDLERS = {"addFloatingIp": add_floating_ip, "removeFloatingIp": remove_floating_ip}


# -- os-networks and os-tenant-networks ------------------------------------------------------

NETWORK_FIELDS = ("id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6",
                  "gateway_v6", "label", "netmask_v6")
ADMIN_FIELDS = ("created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge",
                "vlan", "vpn_public_address", "vpn_public_port", "vpn_private_address",
                "dhcp_start", "project_id", "host", "bridge_interface", "multi_host",
                "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
                "share_address")


def network_view(req: Request, net: dict) -> dict:
    """nova-network's fields, all None now but ``id`` and ``label`` (the admin sees more)."""
    fields = NETWORK_FIELDS + (ADMIN_FIELDS if req.context.is_admin else ())
    out: dict[str, Any] = dict.fromkeys(fields)
    out.update(id=net["id"], label=net.get("name"))
    return out


def tenant_network_view(net: dict) -> dict:
    """What Nova has shown since Neutron: the id, the name, and the text ``"None"``."""
    return {"id": net["id"], "cidr": "None", "label": net.get("name")}


def _show_network(req: Request, network_id: str) -> dict:
    try:
        return _network(req, quote(network_id, safe=""))
    except clients.ApiError as err:
        if err.status == 404:
            raise exception.NotFound("Network not found") from None
        raise


def _all_networks(req: Request) -> list[dict]:
    return client(req.context).get("/v2.0/networks")["networks"]


def list_networks(req: Request):
    start(req, "os_compute_api:os-networks:list")
    return json_response({"networks": [network_view(req, n) for n in _all_networks(req)]})


def show_network(req: Request, network_id: str):
    start(req, "os_compute_api:os-networks:show")
    return json_response({"network": network_view(req, _show_network(req, network_id))})


def list_tenant_networks(req: Request):
    start(req, "os_compute_api:os-tenant-networks:list")
    return json_response({"networks": [tenant_network_view(n) for n in _all_networks(req)]})


def show_tenant_network(req: Request, network_id: str):
    start(req, "os_compute_api:os-tenant-networks:show")
    return json_response({"network": tenant_network_view(_show_network(req, network_id))})
