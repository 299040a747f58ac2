"""Servers with networks: Nova validates and creates/binds ports through the Network API,
shows addresses and floating IPs, attaches interfaces and releases its ports on delete."""

from __future__ import annotations

import pytest

from tests.functional.test_compute_servers import LATEST, image, settled, v  # noqa: F401
from tests.functional.test_network_api import net, subnet
from tests.helpers import wait_for


@pytest.fixture
def topology(api, demo):
    ext = net(api, name="public", **{"router:external": True})
    subnet(api, ext["id"], cidr="172.24.4.0/24", enable_dhcp=False)
    private = net(demo, name="private")
    sub = subnet(demo, private["id"])
    router = demo.post("network", "/v2.0/routers", {"router": {
        "name": "r", "external_gateway_info": {"network_id": ext["id"]}}}).json["router"]
    demo.put("network", f"/v2.0/routers/{router['id']}/add_router_interface",
             {"subnet_id": sub["id"]})
    return {"ext": ext, "net": private, "subnet": sub}


def boot(client, image, networks, headers=LATEST, **extra):  # noqa: F811
    server = {"name": "vm", "imageRef": image, "flavorRef": "1", **extra}
    if networks is not None:
        server["networks"] = networks
    return client.post("compute", "/v2.1/servers", {"server": server}, headers=headers)


def ports_of(client, server_id):
    return client.get("network", f"/v2.0/ports?device_id={server_id}").json["ports"]


def test_server_gets_a_bound_port_and_addresses(demo, image, topology):  # noqa: F811
    resp = boot(demo, image, [{"uuid": topology["net"]["id"]}],
                security_groups=[{"name": "default"}])
    assert resp.status == 202, resp
    server = settled(demo, resp.json["server"]["id"])
    assert server["status"] == "ACTIVE"
    [port] = ports_of(demo, server["id"])
    assert port["device_owner"] == f"compute:{server['OS-EXT-AZ:availability_zone']}"
    assert port["status"] == "ACTIVE" and port["tenant_id"] == demo.project_id
    ip = port["fixed_ips"][0]["ip_address"]
    assert server["addresses"] == {"private": [{
        "version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}]}
    assert server["security_groups"] == [{"name": "default"}]
    fip = demo.post("network", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": topology["ext"]["id"], "port_id": port["id"]}}).json[
        "floatingip"]
    shown = demo.get("compute", f"/v2.1/servers/{server['id']}", headers=LATEST).json["server"]
    assert shown["addresses"]["private"][1] == {
        "version": 4, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating",
        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}
    assert demo.delete("compute", f"/v2.1/servers/{server['id']}").status == 204
    wait_for(lambda: not ports_of(demo, server["id"]), timeout=10)
    after = demo.get("network", f"/v2.0/floatingips/{fip['id']}").json["floatingip"]
    assert (after["port_id"], after["status"]) == (None, "DOWN")


def test_user_port_is_kept_and_unbound_on_delete(demo, image, topology):  # noqa: F811
    port = demo.post("network", "/v2.0/ports", {"port": {
        "network_id": topology["net"]["id"]}}).json["port"]
    server = settled(demo, boot(demo, image, [{"port": port["id"]}]).json["server"]["id"])
    assert server["status"] == "ACTIVE"
    bound = demo.get("network", f"/v2.0/ports/{port['id']}").json["port"]
    assert bound["device_id"] == server["id"]
    again = boot(demo, image, [{"port": port["id"]}])
    assert again.status == 409
    assert again.json["conflictingRequest"]["message"] == f"Port {port['id']} is still in use."
    demo.delete("compute", f"/v2.1/servers/{server['id']}")
    wait_for(lambda: demo.get("network", f"/v2.0/ports/{port['id']}").json["port"][
        "device_id"] == "", timeout=10)
    kept = demo.get("network", f"/v2.0/ports/{port['id']}").json["port"]
    assert kept["device_owner"] == "" and kept["fixed_ips"] == port["fixed_ips"]


def test_network_request_validation(demo, image, topology):  # noqa: F811
    missing = "00000000-0000-4000-8000-000000000000"

    def message(resp, status, key="badRequest"):
        assert resp.status == status, resp
        return resp.json[key]["message"]
    assert message(boot(demo, image, [{"uuid": missing}]), 400) == \
        f"Network {missing} could not be found."
    assert message(boot(demo, image, [{"port": missing}]), 400) == \
        f"Port id {missing} could not be found."
    assert message(boot(demo, image, [{"port": missing}, {"port": missing}]), 400) == \
        f"Port ID '{missing}' was specified twice: you cannot attach a port multiple times."
    bare = net(demo, name="bare")
    assert message(boot(demo, image, [{"uuid": bare["id"]}]), 400) == \
        f"Network {bare['id']} requires a subnet in order to boot instances on."
    assert message(boot(demo, image, "auto"), 409, "conflictingRequest") == \
        "Multiple possible networks found, use a Network ID to be more specific."
    assert message(boot(demo, image, None, headers=v("2.37")), 400).endswith(
        "'networks' is a required property")
    assert message(boot(demo, image, [{"uuid": "nope"}], headers=v("2.36")), 400) == \
        "Bad networks format: network uuid is not in proper format (nope)"
    server = settled(demo, boot(demo, image, [{"uuid": topology["net"]["id"],
                                               "fixed_ip": "10.0.0.77"}]).json["server"]["id"])
    taken = boot(demo, image, [{"uuid": topology["net"]["id"], "fixed_ip": "10.0.0.77"}])
    assert message(taken, 400) == \
        f"Fixed IP address 10.0.0.77 is already in use on instance {server['id']}."
    assert message(boot(demo, image, [{"uuid": topology["net"]["id"]}],
                        security_groups=[{"name": "nope"}]), 400) == \
        "Unable to find security_group with name or id 'nope'"


def test_networks_auto_uses_the_only_network(demo, image, topology):  # noqa: F811
    server = settled(demo, boot(demo, image, "auto").json["server"]["id"])
    assert list(server["addresses"]) == ["private"]


def test_exhausted_subnet_fails_the_build(demo, image):  # noqa: F811
    tiny = net(demo, name="tiny")
    subnet(demo, tiny["id"], cidr="10.5.0.0/30")   # one address, the DHCP port has it
    server = settled(demo, boot(demo, image, [{"uuid": tiny["id"]}]).json["server"]["id"])
    assert server["status"] == "ERROR"
    assert server["fault"]["message"].endswith(
        f"No fixed IP addresses available for network: {tiny['id']}")
    assert ports_of(demo, server["id"]) == []


def test_os_interface_attach_list_detach(demo, image, topology):  # noqa: F811
    other = net(demo, name="second")
    subnet(demo, other["id"], cidr="10.1.0.0/24")
    server = settled(demo, boot(demo, image, [{"uuid": topology["net"]["id"]}]).json[
        "server"]["id"])
    url = f"/v2.1/servers/{server['id']}/os-interface"
    resp = demo.post("compute", url, {"interfaceAttachment": {
        "net_id": other["id"], "fixed_ips": [{"ip_address": "10.1.0.50"}]}}, headers=LATEST)
    assert resp.status == 200, resp
    att = resp.json["interfaceAttachment"]
    assert att["net_id"] == other["id"] and att["port_state"] == "ACTIVE"
    assert att["fixed_ips"][0]["ip_address"] == "10.1.0.50" and "tag" in att
    listed = demo.get("compute", url, headers=LATEST).json["interfaceAttachments"]
    assert {a["net_id"] for a in listed} == {other["id"], topology["net"]["id"]}
    shown = demo.get("compute", f"/v2.1/servers/{server['id']}", headers=LATEST).json["server"]
    assert set(shown["addresses"]) == {"private", "second"}
    both = demo.post("compute", url, {"interfaceAttachment": {
        "net_id": other["id"], "port_id": att["port_id"]}}, headers=LATEST)
    assert both.json["badRequest"]["message"] == "Must not input both network_id and port_id"
    assert demo.delete("compute", f"{url}/{att['port_id']}").status == 202
    assert demo.get("network", f"/v2.0/ports/{att['port_id']}").status == 404
