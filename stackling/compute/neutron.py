"""Nova's network API (nova/network/neutron.py): the Networking API contract, only.

Every call is an HTTP request of the Neutron v2.0 API sent through ``ServiceClient``:
validation, port creation and the views' lookups with the caller's token; binding
(``binding:host_id``, ``device_owner``) with an admin token, as Nova's ``[neutron]``
service user does (nova.conf ``[neutron]``; in one process the bootstrap admin stands
in). Nothing here reads Neutron's tables. Without a Network API (served in this process,
or over HTTP: a network endpoint in the catalog that answered) no server has a port:
addresses are ``{}`` and the only security group a project has is ``default``. Texts
are Nova's (``validate_networks``, ``_create_port_minimal``, ``deallocate_for_instance``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from stackling import clients, exception
from stackling.compute import security_group_api

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.context import RequestContext

LOG = logging.getLogger(__name__)


class SecurityGroupNotFound(exception.BadRequest):
    """Nova's SecurityGroupNotFound carries neutronclient's text; create answers 400."""

    msg_fmt = "Security group %(security_group_id)s not found."


MAX_SEARCH_IDS = 150       # ids per listing of ports or floating IPs
NETWORK_RECHECK = 10.0      # seconds before asking again a catalog without a network API
_ANSWERED: dict[int, float] = {}    # id(sender) → time of the last check (inf: it answered)
_ANSWERED_LOCK = threading.Lock()


def has_network(cloud: Cloud) -> bool:
    """A Network API serves: in this process, or (over HTTP) the catalog's network endpoint
    answered ``GET /v2.0/extensions`` once; after that its failures are errors, as in
    Nova, never a silently portless server."""
    if "network" in getattr(cloud, "apps", {}):
        return True
    from stackling.seams.http import HttpSender

    sender = cloud.sender("nova") if hasattr(cloud, "sender") else None
    if not isinstance(sender, HttpSender):
        return False
    with _ANSWERED_LOCK:     # held while asking: no boot meanwhile goes without ports
        checked = _ANSWERED.get(id(sender), 0.0)
        if checked != float("inf") and time.monotonic() - checked >= NETWORK_RECHECK:
            checked = float("inf") if _network_answers(sender) else time.monotonic()
            _ANSWERED[id(sender)] = checked
        return checked == float("inf")


def _network_answers(sender) -> bool:
    try:
        resp = sender.session.get(sender.root("network") + "/v2.0/extensions",
                                  raise_exc=False, timeout=5)
    except Exception as exc:   # no endpoint in the catalog, nothing listening, Keystone down
        LOG.info("no Network API answers (%s): servers get no ports", exc)
        return False
    return resp.status_code < 500


def _client(cloud: Cloud, ctx: RequestContext) -> clients.ServiceClient:
    return clients.ServiceClient(cloud, "network", ctx.token or "")


def addresses(cloud: Cloud, ctx: RequestContext, instance_uuid: str) -> dict[str, list[dict]]:
    """``{network label: [{version, addr, OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr}]}``.

    The shape of nova's ``get_networks_for_instance`` rendered by the ips view with
    extended addresses; the server views and ``/servers/{id}/ips`` both use it.
    """
    return server_networks(cloud, ctx, [instance_uuid])[instance_uuid][0]


def server_networks(cloud: Cloud, ctx: RequestContext, instance_uuids: list[str]
                    ) -> dict[str, tuple[dict[str, list[dict]], list[dict]]]:
    """Each server's addresses (see above) and security groups (``[{"name": ...}]`` of the
    groups on its ports; none without ports, and the views then leave ``security_groups``
    out) from one listing of the ports of all the view's servers, as Nova's
    ``get_instances_security_groups_bindings`` does; network and group names are asked
    once per view. A failed listing leaves the servers without addresses and groups."""
    out: dict[str, tuple[dict[str, list[dict]], list[dict]]] = {
        uuid: ({}, []) for uuid in instance_uuids}
    if not instance_uuids or not has_network(cloud):
        return out
    client = _client(cloud, ctx)
    try:
        ports = _listed(client, "ports", "device_id", list(out))
    except (clients.ApiError, KeyError, TypeError):
        return out
    try:
        fips: dict[str, list[dict]] = {}
        for fip in _listed(client, "floatingips", "port_id", [p.get("id") for p in ports]):
            fips.setdefault(fip.get("port_id"), []).append(fip)
    except (clients.ApiError, KeyError, TypeError):
        fips = {}
    net_names: dict[str, str] = {}
    group_names: dict[str, str | None] = {}
    for port in ports:
        if port.get("device_id") not in out:
            continue
        addrs, groups = out[port["device_id"]]
        net_id = port.get("network_id")
        if net_id not in net_names:
            net_names[net_id] = _name(client, f"/v2.0/networks/{net_id}", "network") or net_id
        items = addrs.setdefault(net_names[net_id], [])
        for ip in port.get("fixed_ips") or []:
            addr = ip.get("ip_address", "")
            items.append({"version": 6 if ":" in addr else 4, "addr": addr,
                          "OS-EXT-IPS:type": "fixed",
                          "OS-EXT-IPS-MAC:mac_addr": port.get("mac_address")})
        # Floating IPs follow the fixed ones, under the internal network's label.
        for fip in fips.get(port.get("id"), []):
            items.append({"version": 4, "addr": fip["floating_ip_address"],
                          "OS-EXT-IPS:type": "floating",
                          "OS-EXT-IPS-MAC:mac_addr": port.get("mac_address")})
        for group_id in port.get("security_groups") or []:
            if group_id not in group_names:
                group_names[group_id] = _name(client, f"/v2.0/security-groups/{group_id}",
                                              "security_group")
            name = group_names[group_id]
            if name is not None and {"name": name} not in groups:
                groups.append({"name": name})
    return out


def _name(client: clients.ServiceClient, path: str, key: str) -> str | None:
    try:
        return client.get(path)[key]["name"]
    except (clients.ApiError, KeyError, TypeError):
        return None


def _listed(client: clients.ServiceClient, collection: str, key: str, values: list[str]
            ) -> list[dict]:
    """``GET /v2.0/<collection>?key=v1&key=v2...`` in chunks of at most MAX_SEARCH_IDS
    values, so that a long server list never makes a URL too long (as Nova does)."""
    out: list[dict] = []
    for i in range(0, len(values), MAX_SEARCH_IDS):
        chunk = values[i:i + MAX_SEARCH_IDS]
        out.extend(client.get(f"/v2.0/{collection}?" + urlencode({key: chunk}, doseq=True))
                   [collection])
    return out


def instance_uuids_by_ip(cloud: Cloud, ctx: RequestContext, addresses: list[str]
                         ) -> set[str]:
    """compute API ``_ip_filter_using_neutron``: the servers of the ports (the caller may
    see) whose fixed IPs contain one of ``addresses`` (``ip_address_substr``)."""
    if not has_network(cloud):
        return set()
    client = _client(cloud, ctx)
    uuids: set[str] = set()
    for address in addresses:
        ports = client.get("/v2.0/ports?" + urlencode(
            {"fixed_ips": f"ip_address_substr={address}", "fields": "device_id"}))["ports"]
        uuids |= {p["device_id"] for p in ports if p.get("device_id")}
    return uuids


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
    try:
        found = security_group_api.find_id(_client(cloud, ctx), name, ctx.project_id)
    except clients.ApiError as err:
        raise exception.StacklingError(str(err)) from None
    if found is None:
        raise missing
    return found


class PortBindingFailed(Exception):
    def __init__(self, port_id: str) -> None:
        super().__init__(f"Binding failed for port {port_id}, please check neutron logs "
                         f"for more information.")


class NeutronAPI:
    def __init__(self, cloud: Cloud, token: str, project_id: str) -> None:
        self.cloud = cloud
        self.user = clients.ServiceClient(cloud, "network", token)
        self.project_id = project_id

    def admin(self, refresh: bool = False) -> clients.ServiceClient:
        """As nova.conf's ``[neutron]`` service user (port binding is admin-only)."""
        return clients.ServiceClient(self.cloud, "network",
                                     clients.service_token(self.cloud, "nova", refresh))

    def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.admin().request(method, path, body)[1]
        except clients.ApiError as exc:
            if exc.status != 401:
                raise
            return self.admin(refresh=True).request(method, path, body)[1]

    # -- nova-api: validate_networks ---------------------------------------------------------

    def visible_networks(self) -> list[dict]:
        own = self.user.get("/v2.0/networks?" + urlencode(
            {"tenant_id": self.project_id, "shared": "False"}))["networks"]
        shared = self.user.get("/v2.0/networks?shared=True")["networks"]
        return [n for n in own + shared if not n.get("router:external")]

    def auto_network(self) -> str | None:
        """``networks: auto``: the one network the project may use, or a new topology."""
        nets = [n for n in self.visible_networks() if n["admin_state_up"]]
        if len(nets) > 1:
            raise exception.Conflict("Multiple possible networks found, use a Network ID "
                                     "to be more specific.")
        if nets:
            return nets[0]["id"]
        try:
            self.user.get(f"/v2.0/auto-allocated-topology/{self.project_id}?fields=dry-run")
            topo = self.user.get(f"/v2.0/auto-allocated-topology/{self.project_id}")
        except clients.ApiError as exc:
            raise exception.BadRequest(f"Unable to automatically allocate a network for "
                                       f"project {self.project_id}") from exc
        return topo["auto_allocated_topology"]["id"]

    def default_network(self) -> str | None:
        """Before 2.37 without ``networks``: the only network, none, or ambiguity."""
        nets = self.visible_networks()
        if len(nets) > 1:
            raise exception.Conflict("Multiple possible networks found, use a Network ID "
                                     "to be more specific.")
        return nets[0]["id"] if nets else None

    def validate(self, requested: list[dict]) -> None:
        for entry in requested:
            if entry.get("port_id"):
                self._check_port(entry["port_id"])
        net_ids = list(dict.fromkeys(e["network_id"] for e in requested
                                     if e.get("network_id") and not e.get("port_id")))
        if net_ids:
            found = {n["id"]: n for n in self.user.get(
                "/v2.0/networks?" + urlencode([("id", i) for i in net_ids]))["networks"]}
            missing = [i for i in net_ids if i not in found]
            if missing:
                raise exception.BadRequest(f"Network {', '.join(missing)} could not be found.")
            for nid in net_ids:
                if not found[nid]["subnets"]:
                    raise exception.BadRequest(f"Network {nid} requires a subnet in order to "
                                               f"boot instances on.")
        for entry in requested:
            if entry.get("fixed_ip") and entry.get("network_id"):
                hits = self.user.get("/v2.0/ports?" + urlencode([
                    ("network_id", entry["network_id"]),
                    ("fixed_ips", f"ip_address={entry['fixed_ip']}"),
                    ("fields", "device_id")]))["ports"]
                if hits:
                    raise exception.BadRequest(
                        f"Fixed IP address {entry['fixed_ip']} is already in use on instance "
                        f"{hits[0]['device_id']}.")

    def _check_port(self, port_id: str) -> dict:
        try:
            port = self.user.get(f"/v2.0/ports/{port_id}")["port"]
        except clients.ApiError as exc:
            if exc.status == 404:
                raise exception.BadRequest(f"Port id {port_id} could not be found.") from None
            raise
        if port.get("device_id"):
            raise exception.Conflict(f"Port {port_id} is still in use.")
        if not port.get("fixed_ips"):
            raise exception.BadRequest(f"Port {port_id} requires a FixedIP in order to be "
                                       f"used.")
        return port

    def security_group_ids(self, names: list[str]) -> list[str]:
        groups = self.user.get("/v2.0/security-groups?" + urlencode(
            {"tenant_id": self.project_id, "fields": ["id", "name"]}, doseq=True)
        )["security_groups"]
        out = []
        for name in names:
            match = [g["id"] for g in groups if g["name"] == name or g["id"] == name]
            if not match:
                raise exception.BadRequest(f"Security group {name} not found.")
            if len(match) > 1:
                raise exception.Conflict(f"Multiple security groups found matching '{name}'. "
                                         f"Use an ID to be more specific.")
            out.append(match[0])
        return out

    # -- nova-compute: allocate_for_instance / deallocate_for_instance -----------------------

    def allocate(self, instance_uuid: str, host: str, zone: str | None,
                 requested: list[dict], security_groups: list[str]) -> list[dict]:
        """Create the missing ports (user token), then bind every port (admin)."""
        group_ids = self.security_group_ids(security_groups) if security_groups else None
        info = []
        for entry in requested:
            if entry.get("port_id"):
                port = self._check_port(entry["port_id"])
                info.append({"port_id": port["id"], "network_id": port["network_id"],
                             "preserve_on_delete": True, "tag": entry.get("tag")})
                continue
            body: dict[str, Any] = {"device_id": instance_uuid,
                                    "network_id": entry["network_id"],
                                    "admin_state_up": True, "tenant_id": self.project_id}
            if entry.get("fixed_ip"):
                body["fixed_ips"] = [{"ip_address": entry["fixed_ip"]}]
            if group_ids is not None:
                body["security_groups"] = group_ids
            try:
                port = self.user.post("/v2.0/ports", {"port": body})["port"]
            except clients.ApiError as exc:
                raise _port_error(exc, entry) from None
            info.append({"port_id": port["id"], "network_id": port["network_id"],
                         "preserve_on_delete": False, "tag": entry.get("tag")})
        for item in info:
            self.bind(item["port_id"], instance_uuid, host, zone)
        return info

    def bind(self, port_id: str, instance_uuid: str, host: str, zone: str | None) -> dict:
        port = self.admin_call("PUT", f"/v2.0/ports/{port_id}", {"port": {
            "device_id": instance_uuid, "device_owner": f"compute:{zone or 'nova'}",
            "binding:host_id": host}})["port"]
        if port.get("binding:vif_type") == "binding_failed":
            raise PortBindingFailed(port_id)
        return port

    def deallocate(self, instance_uuid: str, preserved: set[str]) -> None:
        """Delete the ports Nova made; unbind those the user passed in (``preserved``)."""
        ports = self.admin_call("GET", f"/v2.0/ports?device_id={instance_uuid}")["ports"]
        for port in ports:
            self.release(port["id"], port["id"] in preserved)

    def release(self, port_id: str, preserve: bool) -> None:
        try:
            if preserve:
                self.admin_call("PUT", f"/v2.0/ports/{port_id}", {"port": {
                    "device_id": "", "device_owner": "", "binding:host_id": None,
                    "binding:profile": {}}})
            else:
                self.admin_call("DELETE", f"/v2.0/ports/{port_id}")
        except clients.ApiError as exc:
            if exc.status != 404:
                raise


def deallocate_for_instance(cloud: Cloud, instance_uuid: str, networking: dict,
                            token: str = "") -> None:
    """deallocate_for_instance: delete the ports Nova made, unbind those the user passed
    (``networking``: the instance's ``requested`` networks, ``info`` and ``project_id``).

    Every path that deletes a server ends here: its compute host's terminate, a build that
    failed or was deleted meanwhile, and the API's local delete (a server no host holds:
    shelved-offloaded, never scheduled, or whose host is down). Errors are logged, never
    raised: the server is gone either way.
    """
    preserved = {e["port_id"] for e in networking.get("requested") or [] if e.get("port_id")}
    preserved |= {i["port_id"] for i in networking.get("info") or []
                  if i.get("preserve_on_delete")}
    if not has_network(cloud):
        return
    try:
        NeutronAPI(cloud, token, networking.get("project_id") or "").deallocate(
            instance_uuid, preserved)
    except Exception:
        LOG.exception("could not release the ports of %s", instance_uuid)


def _port_error(exc: clients.ApiError, entry: dict) -> Exception:
    kind = (exc.body or {}).get("NeutronError", {}).get("type") if isinstance(
        exc.body, dict) else None
    if kind in ("IpAddressInUse", "IpAddressAlreadyAllocated"):
        return exception.Conflict(f"Fixed IP {entry.get('fixed_ip')} is already in use.")
    if kind == "IpAddressGenerationFailure":
        return exception.BadRequest(f"No fixed IP addresses available for network: "
                                    f"{entry['network_id']}")
    if kind == "OverQuota":
        return exception.Forbidden("Maximum number of ports exceeded")
    return exception.StacklingError(str(exc))
