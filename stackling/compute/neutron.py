"""Nova's network API (nova/network/neutron.py): a server's addresses and security groups.

Real Nova always asks Neutron. Here the answers come from the cloud's Network API when
one is served in-process (``cloud.apps["network"]``), through ``ServiceClient`` with the
caller's token as for Cinder; without one, no server has a port, so every server's
addresses are ``{}`` and the only security group a project has is ``default``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from stackling import clients, exception

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.context import RequestContext


class SecurityGroupNotFound(exception.BadRequest):
    """Nova's SecurityGroupNotFound carries neutronclient's text; create answers 400."""

    msg_fmt = "Security group %(security_group_id)s not found."


def has_network(cloud: Cloud) -> bool:
    return "network" in getattr(cloud, "apps", {})


def _client(cloud: Cloud, ctx: RequestContext) -> clients.ServiceClient:
    return clients.ServiceClient(cloud, "network", ctx.token or "")


def addresses(cloud: Cloud, ctx: RequestContext, instance_uuid: str) -> dict[str, list[dict]]:
    """``{network label: [{version, addr, OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr}]}``.

    The shape of nova's ``get_networks_for_instance`` rendered by the ips view with
    extended addresses; the server views and ``/servers/{id}/ips`` both use it.
    """
    if not has_network(cloud):
        return {}
    client = _client(cloud, ctx)
    try:
        ports = client.get(f"/v2.0/ports?device_id={instance_uuid}")["ports"]
    except (clients.ApiError, KeyError, TypeError):
        return {}
    names: dict[str, str] = {}
    out: dict[str, list[dict]] = {}
    for port in ports:
        net_id = port.get("network_id")
        if net_id not in names:
            try:
                names[net_id] = client.get(f"/v2.0/networks/{net_id}")["network"]["name"]
            except (clients.ApiError, KeyError, TypeError):
                names[net_id] = net_id
        items = out.setdefault(names[net_id], [])
        for ip in port.get("fixed_ips") or []:
            addr = ip.get("ip_address", "")
            items.append({"version": 6 if ":" in addr else 4, "addr": addr,
                          "OS-EXT-IPS:type": "fixed",
                          "OS-EXT-IPS-MAC:mac_addr": port.get("mac_address")})
    return out


def security_groups(cloud: Cloud, ctx: RequestContext, instance_uuid: str) -> list[dict]:
    """``[{"name": ...}]`` of the groups on the server's ports (Nova's
    get_instances_security_groups_bindings); none without ports, and the server views
    then leave ``security_groups`` out, as Nova does."""
    if not has_network(cloud):
        return []
    client = _client(cloud, ctx)
    names: list[str] = []
    try:
        ports = client.get(f"/v2.0/ports?device_id={instance_uuid}")["ports"]
        for group_id in dict.fromkeys(g for p in ports for g in p.get("security_groups") or []):
            name = client.get(f"/v2.0/security-groups/{group_id}")["security_group"]["name"]
            if name not in names:
                names.append(name)
    except (clients.ApiError, KeyError, TypeError):
        return []
    return [{"name": n} for n in names]


def check_security_group(cloud: Cloud, ctx: RequestContext, name: str) -> str:
    """The requested group's id (or ``default``, which Nova passes through unchecked).

    Nova looks the name up with neutronclient's find_resourceid_by_name_or_id and turns
    its 404 into SecurityGroupNotFound, whose text is neutronclient's message.
    """
    if name == "default":
        return name
    missing = SecurityGroupNotFound(
        f"Unable to find security_group with name or id '{name}'")
    if not has_network(cloud):
        raise missing
    client = _client(cloud, ctx)
    try:
        return client.get(f"/v2.0/security-groups/{quote(name, safe='')}"
                          )["security_group"]["id"]
    except clients.ApiError as err:
        if err.status != 404:
            raise exception.StacklingError(str(err)) from None
    query = urlencode({"name": name, "project_id": ctx.project_id})
    found = client.get(f"/v2.0/security-groups?{query}")["security_groups"]
    if len(found) > 1:
        raise exception.Conflict(
            f"Multiple security_group matches found for name '{name}', use an ID to be "
            "more specific.")
    if not found:
        raise missing
    return found[0]["id"]
