"""Ports over HTTP, in-process: fixed IPs and their errors, MACs, security groups on ports,
port security, address pairs, binding, and concurrent allocation on a small subnet."""

from __future__ import annotations

import ipaddress
import threading

from tests.functional.test_network_api import error, net, post, subnet
from tests.helpers import ApiClient


def port(api, **body):
    resp = post(api, "ports", "port", **body)
    assert resp.status == 201, resp
    return resp.json["port"]


def test_port_defaults(api):
    n = net(api)
    s = subnet(api, n["id"])
    p = port(api, network_id=n["id"])
    assert p["mac_address"].startswith("fa:16:3e:") and len(p["mac_address"]) == 17
    assert p["status"] == "DOWN" and p["device_owner"] == "" and p["device_id"] == ""
    assert len(p["fixed_ips"]) == 1 and p["fixed_ips"][0]["subnet_id"] == s["id"]
    assert ipaddress.ip_address(p["fixed_ips"][0]["ip_address"]) in \
        ipaddress.ip_network("10.0.0.0/24")
    assert p["port_security_enabled"] is True and p["allowed_address_pairs"] == []
    assert p["binding:vif_type"] == "unbound" and p["binding:host_id"] == ""
    assert p["binding:vnic_type"] == "normal" and p["binding:profile"] == {}
    default = api.get("network", "/v2.0/security-groups?name=default").json["security_groups"]
    assert p["security_groups"] == [default[0]["id"]]
    assert p["tenant_id"] == p["project_id"] == api.project_id


def test_dhcp_port_takes_the_lowest_address(api):
    n = net(api)
    subnet(api, n["id"])
    dhcp = api.get("network", f"/v2.0/ports?network_id={n['id']}&device_owner=network:dhcp")
    assert dhcp.json["ports"][0]["fixed_ips"][0]["ip_address"] == "10.0.0.2"


def test_member_does_not_see_binding(demo):
    n = net(demo)
    p = port(demo, network_id=n["id"])
    assert "binding:host_id" not in p and "binding:vif_type" not in p
    assert p["binding:vnic_type"] == "normal"
    resp = post(demo, "ports", "port", network_id=n["id"], **{"binding:host_id": "h"})
    assert error(resp, 403)[1] == "rule:create_port:binding:host_id is disallowed by policy"


def test_fixed_ip_errors(api):
    n = net(api)
    s = subnet(api, n["id"])
    other = subnet(api, net(api)["id"])
    p = port(api, network_id=n["id"], fixed_ips=[{"ip_address": "10.0.0.50"}])
    assert p["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.0.0.50"}]
    cases = [
        ([{"ip_address": "10.0.0.50"}], 409, "IpAddressAlreadyAllocated",
         f"IP address 10.0.0.50 already allocated in subnet {s['id']}"),
        ([{"ip_address": "192.168.0.5"}], 400, "InvalidIpForNetwork",
         "IP address 192.168.0.5 is not a valid IP for any of the subnets on the specified "
         "network."),
        ([{"subnet_id": s["id"], "ip_address": "10.0.0.255"}], 400, "InvalidIpForSubnet",
         "IP address 10.0.0.255 is not a valid IP for the specified subnet."),
        ([{"subnet_id": other["id"]}], 400, "InvalidInput",
         f"Invalid input for operation: Failed to create port on network {n['id']}, because "
         f"fixed_ips included invalid subnet {other['id']}."),
        ([{}], 400, "InvalidInput",
         "Invalid input for operation: IP allocation requires subnet_id or ip_address."),
        ([{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}], 400, "HTTPBadRequest",
         "Invalid input for fixed_ips. Reason: Duplicate IP address '10.0.0.9'."),
    ]
    for fixed, status, kind, message in cases:
        resp = post(api, "ports", "port", network_id=n["id"], fixed_ips=fixed)
        assert error(resp, status) == (kind, message), fixed
    empty = net(api)
    resp = post(api, "ports", "port", network_id=empty["id"], fixed_ips=[{"subnet_id":
                                                                         s["id"]}])
    assert error(resp, 400)[1] == ("Invalid input for operation: IP allocation requires "
                                   "subnets for network.")
    assert port(api, network_id=empty["id"])["fixed_ips"] == []


def test_exhausting_a_29_is_neutrons_409(api):
    n = net(api)
    s = subnet(api, n["id"], cidr="10.9.0.0/29")
    held = {"10.9.0.2"}  # the DHCP port
    for _ in range(4):
        held.add(port(api, network_id=n["id"])["fixed_ips"][0]["ip_address"])
    assert held == {f"10.9.0.{i}" for i in range(2, 7)}
    assert error(post(api, "ports", "port", network_id=n["id"]), 409) == (
        "IpAddressGenerationFailure", f"No more IP addresses available on network {n['id']}.")
    resp = post(api, "ports", "port", network_id=n["id"], fixed_ips=[{"subnet_id": s["id"]}])
    assert error(resp, 409) == ("IpAddressGenerationFailure",
                                f"No more IP addresses available for subnet {s['id']}.")


def test_released_address_is_reused_and_ips_replaced(api):
    n = net(api)
    s = subnet(api, n["id"], cidr="10.9.0.0/29")
    p = port(api, network_id=n["id"], fixed_ips=[{"ip_address": "10.9.0.4"}])
    resp = api.put("network", f"/v2.0/ports/{p['id']}",
                   {"port": {"fixed_ips": [{"ip_address": "10.9.0.5"}]}})
    assert resp.json["port"]["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.9.0.5"}]
    assert resp.json["port"]["revision_number"] > p["revision_number"]
    again = port(api, network_id=n["id"], fixed_ips=[{"ip_address": "10.9.0.4"}])
    api.delete("network", f"/v2.0/ports/{again['id']}")
    for _ in range(3):
        port(api, network_id=n["id"])
    assert error(post(api, "ports", "port", network_id=n["id"]), 409)[0] == \
        "IpAddressGenerationFailure"


def test_extra_dhcp_opts_merged_by_name_and_version(api):
    n = net(api)
    p = port(api, network_id=n["id"], extra_dhcp_opts=[
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "tftp-server", "opt_value": "2015::dead", "ip_version": 6},
        {"opt_name": "server-ip-address", "opt_value": None}])     # a null is not kept
    assert p["extra_dhcp_opts"] == [
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4},
        {"opt_name": "tftp-server", "opt_value": "2015::dead", "ip_version": 6}]
    resp = api.put("network", f"/v2.0/ports/{p['id']}", {"port": {"extra_dhcp_opts": [
        {"opt_name": "bootfile-name", "opt_value": None},
        {"opt_name": "tftp-server", "opt_value": "2015::beef", "ip_version": "6"},
        {"opt_name": "router", "opt_value": ""}]}})
    assert resp.json["port"]["extra_dhcp_opts"] == [
        {"opt_name": "tftp-server", "opt_value": "2015::beef", "ip_version": 6},
        {"opt_name": "router", "opt_value": "", "ip_version": 4}]
    assert "extra_dhcp_opt" in [e["alias"] for e in
                                api.get("network", "/v2.0/extensions").json["extensions"]]
    bad = {"opt_name": "tftp-server", "opt_value": ""}
    resp = post(api, "ports", "port", network_id=n["id"], extra_dhcp_opts=[bad])
    assert error(resp, 400) == ("InvalidInput", "Invalid input for operation: No valid key "
                                f"specs matched for: {bad}.")


def test_mac_in_use(api):
    n = net(api)
    port(api, network_id=n["id"], mac_address="FA:16:3E:00:00:01")
    resp = post(api, "ports", "port", network_id=n["id"], mac_address="fa:16:3e:00:00:01")
    assert error(resp, 409) == ("MacAddressInUse", f"Unable to complete operation for network "
                                f"{n['id']}. The mac address fa:16:3e:00:00:01 is in use.")


def test_port_security_and_groups(api):
    n = net(api)
    subnet(api, n["id"])
    sg = post(api, "security-groups", "security_group", name="web").json["security_group"]
    p = port(api, network_id=n["id"], security_groups=[sg["id"]])
    assert p["security_groups"] == [sg["id"]]
    resp = post(api, "ports", "port", network_id=n["id"], port_security_enabled=False,
                security_groups=[sg["id"]])
    assert error(resp, 400) == ("PortSecurityAndIPRequiredForSecurityGroups",
                                "Port security must be enabled and port must have an IP "
                                "address in order to use security groups.")
    resp = api.put("network", f"/v2.0/ports/{p['id']}",
                   {"port": {"port_security_enabled": False}})
    assert error(resp, 409)[0] == "PortSecurityPortHasSecurityGroup"
    off = port(api, network_id=n["id"], port_security_enabled=False)
    assert off["security_groups"] == []
    resp = api.put("network", f"/v2.0/ports/{off['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": "10.0.0.99"}]}})
    assert error(resp, 409)[1] == ("Port Security must be enabled in order to have allowed "
                                   "address pairs on a port.")
    missing = "00000000-0000-4000-8000-000000000000"
    resp = post(api, "ports", "port", network_id=n["id"], security_groups=[missing])
    assert error(resp, 404)[1] == f"Security group {missing} does not exist"
    assert error(api.delete("network", f"/v2.0/security-groups/{sg['id']}"), 409) == (
        "SecurityGroupInUse", f"Security Group {sg['id']} in use.")


def test_allowed_address_pairs(api):
    n = net(api)
    subnet(api, n["id"])
    p = port(api, network_id=n["id"], allowed_address_pairs=[{"ip_address": "10.0.0.0/28"}])
    assert p["allowed_address_pairs"] == [{"ip_address": "10.0.0.0/28",
                                           "mac_address": p["mac_address"]}]
    resp = post(api, "ports", "port", network_id=n["id"], allowed_address_pairs=[
        {"ip_address": "10.0.0.7"}, {"ip_address": "10.0.0.7"}])
    assert error(resp, 400)[1] == ("Request contains duplicate address pair: mac_address None "
                                   "ip_address 10.0.0.7.")


def test_binding_by_admin(api):
    n = net(api)
    subnet(api, n["id"])
    p = port(api, network_id=n["id"])
    resp = api.put("network", f"/v2.0/ports/{p['id']}", {"port": {
        "binding:host_id": "controller1", "device_owner": "compute:ag1", "device_id": "vm"}})
    bound = resp.json["port"]
    assert bound["binding:vif_type"] == "ovs" and bound["binding:host_id"] == "controller1"
    assert bound["binding:vif_details"]["port_filter"] is True
    assert bound["status"] == "ACTIVE"
    found = api.get("network", "/v2.0/ports?device_id=vm").json["ports"]
    assert [x["id"] for x in found] == [p["id"]]
    ip = p["fixed_ips"][0]["ip_address"]
    by_ip = api.get("network", f"/v2.0/ports?fixed_ips=ip_address%3D{ip}").json["ports"]
    assert [x["id"] for x in by_ip] == [p["id"]]


def test_member_sees_only_own_ports(api, demo):
    shared = net(api, shared=True)
    subnet(api, shared["id"])
    mine = port(demo, network_id=shared["id"])
    theirs = port(api, network_id=shared["id"])
    seen = {p["id"] for p in demo.get("network", "/v2.0/ports").json["ports"]}
    assert mine["id"] in seen and theirs["id"] not in seen
    assert error(demo.get("network", f"/v2.0/ports/{theirs['id']}"), 404)[0] == "PortNotFound"


def test_network_with_ports_is_in_use(api):
    n = net(api)
    subnet(api, n["id"])
    p = port(api, network_id=n["id"])
    assert error(api.delete("network", f"/v2.0/networks/{n['id']}"), 409) == (
        "NetworkInUse", f"Unable to complete operation on network {n['id']}. There are one or "
        f"more ports still in use on the network, id for these ports is: {p['id']}.")


def test_port_quota(api):
    n = net(api)
    api.put("network", f"/v2.0/quotas/{api.project_id}", {"quota": {"port": 1}})
    port(api, network_id=n["id"])
    assert error(post(api, "ports", "port", network_id=n["id"]), 409) == (
        "OverQuota", "Quota exceeded for resources: ['port'].")


def _concurrently(count: int, fn) -> list:
    """``fn()`` from ``count`` threads released together; the results in finishing order."""
    results: list = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def run():
        start.wait()
        result = fn()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == count
    return results


def test_concurrent_creates_never_share_an_address(cloud_factory, database_url):
    """200 creates at once on a /24, then 66 more racing for its last 52 addresses: on
    PostgreSQL and MariaDB the writers really race (the (subnet, address) key and the
    retry settle it), every address is handed out once, the losers get Neutron's 409.
    bench/bench_network.py --concurrent runs 2,000 on a /20."""
    api = ApiClient(cloud_factory(database_url=database_url))
    n = net(api)
    subnet(api, n["id"], cidr="10.8.0.0/24")   # 252 free after the gateway and DHCP port

    def create():
        return post(api, "ports", "port", network_id=n["id"])
    first = _concurrently(200, create)
    assert [r.status for r in first] == [201] * 200
    last = _concurrently(66, create)
    made = [r.json["port"]["fixed_ips"][0]["ip_address"] for r in first + last
            if r.status == 201]
    failed = [r for r in last if r.status != 201]
    assert len(made) == len(set(made)) == 252
    assert [error(r, 409) for r in failed] == [(
        "IpAddressGenerationFailure", f"No more IP addresses available on network {n['id']}."
    )] * 14
    listed = api.get("network", f"/v2.0/ports?network_id={n['id']}&fields=fixed_ips").json
    held = [ip["ip_address"] for p in listed["ports"] for ip in p["fixed_ips"]]
    assert len(held) == len(set(held)) == 253 and "10.8.0.2" in held   # + the DHCP port
