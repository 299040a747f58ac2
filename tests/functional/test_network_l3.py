"""Security groups, routers, floating IPs, zones, agents, quotas and the auto-allocated
topology over HTTP, in-process. Expected texts are Neutron's."""

from __future__ import annotations

import pytest

from tests.functional.test_network_api import error, net, post, subnet
from tests.functional.test_network_ports import port


def sg(api, **body):
    resp = post(api, "security-groups", "security_group", **body)
    assert resp.status == 201, resp
    return resp.json["security_group"]


def rule(api, group_id, **body):
    return post(api, "security-group-rules", "security_group_rule",
                security_group_id=group_id, **body)


# -- security groups -------------------------------------------------------------------------


def test_default_group_created_on_first_list_with_four_rules(demo):
    groups = demo.get("network", "/v2.0/security-groups").json["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert default["description"] == "Default security group" and default["stateful"] is True
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"])
             for r in default["security_group_rules"]}
    assert rules == {("egress", "IPv4", None), ("egress", "IPv6", None),
                     ("ingress", "IPv4", default["id"]), ("ingress", "IPv6", default["id"])}
    assert all(r["belongs_to_default_sg"] and r["protocol"] is None
               for r in default["security_group_rules"])
    again = demo.get("network", "/v2.0/security-groups").json["security_groups"]
    assert [g["id"] for g in again] == [default["id"]]


def test_new_group_gets_two_egress_rules_and_default_name_refused(demo):
    g = sg(demo, name="web")
    assert sorted((r["direction"], r["ethertype"]) for r in g["security_group_rules"]) == [
        ("egress", "IPv4"), ("egress", "IPv6")]
    assert error(post(demo, "security-groups", "security_group", name="default"), 409) == (
        "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
    default = demo.get("network", "/v2.0/security-groups?name=default").json[
        "security_groups"][0]
    resp = demo.put("network", f"/v2.0/security-groups/{default['id']}",
                    {"security_group": {"name": "other"}})
    assert error(resp, 409)[1] == "Updating default security group not allowed."
    assert error(demo.delete("network", f"/v2.0/security-groups/{default['id']}"), 409) == (
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.")


def test_rule_create_and_duplicate(demo):
    g = sg(demo, name="web")
    resp = rule(demo, g["id"], direction="ingress", protocol="TCP", port_range_min=22,
                port_range_max=22, remote_ip_prefix="10.0.0.5")
    assert resp.status == 201, resp
    r = resp.json["security_group_rule"]
    assert (r["protocol"], r["ethertype"], r["remote_ip_prefix"], r["normalized_cidr"]) == (
        "tcp", "IPv4", "10.0.0.5/32", "10.0.0.5/32")
    assert r["belongs_to_default_sg"] is False and r["description"] == ""
    dup = rule(demo, g["id"], direction="ingress", protocol="6", port_range_min=22,
               port_range_max=22, remote_ip_prefix="10.0.0.5/32")
    assert error(dup, 409) == ("SecurityGroupRuleExists",
                               f"Security group rule already exists. Rule id is {r['id']}.")
    shown = demo.get("network", f"/v2.0/security-groups/{g['id']}").json["security_group"]
    assert len(shown["security_group_rules"]) == 3
    assert shown["revision_number"] > g["revision_number"]
    assert demo.delete("network", f"/v2.0/security-group-rules/{r['id']}").status == 204


@pytest.mark.parametrize("body,kind,message", [
    ({"direction": "ingress", "ethertype": "IPv5"}, "SecurityGroupRuleInvalidEtherType",
     "Security group rule for ethertype 'IPv5' not supported. Allowed values are "
     "['IPv4', 'IPv6']."),
    ({"direction": "ingress", "port_range_min": 80, "port_range_max": 80},
     "SecurityGroupProtocolRequiredWithPorts",
     "Must also specify protocol if port range is given."),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
     "SecurityGroupInvalidPortRange",
     "For TCP/UDP protocols, port_range_min must be <= port_range_max"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 80},
     "SecurityGroupInvalidPortValue", "Invalid value for port 0"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_max": 3},
     "SecurityGroupMissingIcmpType",
     "ICMP code (port-range-max) 3 is provided but ICMP type (port-range-min) is missing."),
    ({"direction": "ingress", "protocol": "gre", "port_range_min": 1, "port_range_max": 2},
     "SecurityGroupInvalidProtocolForPort",
     "Ports cannot be specified for protocol gre. Ports are only supported for DCCP, SCTP, "
     "TCP, UDP, UDPLITE."),
    ({"direction": "ingress", "remote_ip_prefix": "2001:db8::/64"},
     "SecurityGroupRuleParameterConflict",
     "Conflicting value ethertype IPv4 for CIDR 2001:db8::/64"),
    ({"direction": "ingress", "protocol": "ipv6-icmp"},
     "SecurityGroupEthertypeConflictWithProtocol",
     "Invalid ethertype IPv4 for protocol ipv6-icmp."),
])
def test_rule_validation(demo, body, kind, message):
    g = sg(demo, name="x")
    assert error(rule(demo, g["id"], **body), 400) == (kind, message)


@pytest.mark.parametrize("protocol,lo,hi,kind,message", [
    ("tcp", -16, 80, "SecurityGroupInvalidPortValue", "Invalid value for port -16"),
    ("tcp", 80, 65536, "SecurityGroupInvalidPortValue", "Invalid value for port 65536"),
    ("tcp", "x", 80, "SecurityGroupInvalidPortValue", "Invalid value for port x"),
    ("tcp", None, 6, "SecurityGroupInvalidPortRange",
     "For TCP/UDP protocols, port_range_min must be <= port_range_max"),
    ("icmp", 1, 256, "SecurityGroupInvalidIcmpValue",
     "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."),
    ("icmp", 300, 1, "SecurityGroupInvalidIcmpValue",
     "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."),
    ("icmp", -1, 25, "SecurityGroupInvalidPortValue", "Invalid value for port -1"),
])
def test_rule_ports_out_of_range(demo, protocol, lo, hi, kind, message):
    """Ports are checked while the body is parsed (0 to 65535), before the ICMP bounds."""
    g = sg(demo, name="x")
    resp = rule(demo, g["id"], direction="ingress", protocol=protocol, port_range_min=lo,
                port_range_max=hi)
    assert error(resp, 400) == (kind, message)


def test_unknown_remote_group_is_the_groups_404(demo):
    """Neutron does not check remote_group_id's format: any unknown id is a 404."""
    g = sg(demo, name="x")
    for remote in ("bad_group_id", "5f0b7c2e-1d9c-4a37-9f3a-1d5a7b9c0e11"):
        resp = rule(demo, g["id"], direction="ingress", protocol="tcp", remote_group_id=remote)
        assert error(resp, 404) == ("SecurityGroupNotFound",
                                    f"Security group {remote} does not exist")
    resp = rule(demo, "not-a-uuid", direction="ingress")
    assert error(resp, 404)[0] == "SecurityGroupNotFound"
    resp = rule(demo, g["id"], direction="ingress", remote_address_group_id="ag")
    assert error(resp, 404) == ("AddressGroupNotFound", "Address group ag could not be found.")


def test_no_group_may_be_renamed_default(demo):
    g = sg(demo, name="web")
    for name in ("default", "DEFAULT"):
        resp = demo.put("network", f"/v2.0/security-groups/{g['id']}",
                        {"security_group": {"name": name}})
        assert error(resp, 409) == ("SecurityGroupDefaultAlreadyExists",
                                    "Default security group already exists.")
    shown = demo.get("network", f"/v2.0/security-groups/{g['id']}").json["security_group"]
    assert shown["name"] == "web"
    resp = demo.put("network", f"/v2.0/security-groups/{g['id']}",
                    {"security_group": {"name": "web2"}})
    assert resp.json["security_group"]["name"] == "web2"


def test_rule_protocol_not_supported(demo):
    g = sg(demo, name="x")
    kind, message = error(rule(demo, g["id"], direction="ingress", protocol="bogus"), 400)
    assert kind == "SecurityGroupRuleInvalidProtocol"
    assert message.startswith("Security group rule protocol bogus not supported. Only "
                              "protocol values (None, 'any', 'ah', ")
    assert message.endswith("and integer representations [0 to 255] are supported.")


def test_full_port_range_normalised_and_ipv6_icmp(demo):
    g = sg(demo, name="x")
    r = rule(demo, g["id"], direction="ingress", protocol="udp", port_range_min=1,
             port_range_max=65535).json["security_group_rule"]
    assert (r["port_range_min"], r["port_range_max"]) == (None, None)
    r6 = rule(demo, g["id"], direction="ingress", ethertype="ipv6",
              protocol="icmp").json["security_group_rule"]
    assert (r6["ethertype"], r6["protocol"]) == ("IPv6", "ipv6-icmp")


# -- routers and floating IPs ------------------------------------------------------------------


def external(api, cidr="172.24.4.0/24"):
    n = net(api, name="public", **{"router:external": True})
    s = subnet(api, n["id"], cidr=cidr, enable_dhcp=False)
    return n, s


def test_router_gateway_interface_and_in_use(api, demo):
    ext, ext_sub = external(api)
    n = net(demo)
    s = subnet(demo, n["id"])
    resp = post(demo, "routers", "router", name="r1",
                external_gateway_info={"network_id": ext["id"]},
                availability_zone_hints=["ag2"])
    assert resp.status == 201, resp
    r = resp.json["router"]
    assert r["status"] == "ACTIVE" and r["routes"] == [] and r["availability_zones"] == ["ag2"]
    gw = r["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["subnet_id"] == ext_sub["id"]
    assert "distributed" not in r and "ha" not in r
    add = demo.put("network", f"/v2.0/routers/{r['id']}/add_router_interface",
                   {"subnet_id": s["id"]})
    assert add.status == 200, add
    body = add.json
    assert body["id"] == r["id"] and body["subnet_id"] == s["id"]
    assert body["subnet_ids"] == [s["id"]] and body["project_id"] == demo.project_id
    iface = demo.get("network", f"/v2.0/ports/{body['port_id']}").json["port"]
    assert iface["device_owner"] == "network:router_interface"
    assert iface["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.0.0.1"}]
    again = demo.put("network", f"/v2.0/routers/{r['id']}/add_router_interface",
                     {"subnet_id": s["id"]})
    assert error(again, 400)[1] == f"Bad router request: Router already has a port on subnet " \
                                   f"{s['id']}."
    assert error(demo.delete("network", f"/v2.0/ports/{body['port_id']}"), 409) == (
        "ServicePortInUse", f"Port {body['port_id']} cannot be deleted directly via the port "
        f"API: has device owner network:router_interface.")
    assert error(demo.delete("network", f"/v2.0/routers/{r['id']}"), 409) == (
        "RouterInUse", f"Router {r['id']} has ports still attached: {body['port_id']}")
    resp = demo.put("network", f"/v2.0/routers/{r['id']}", {"router": {"routes": [
        {"destination": "192.168.0.0/24", "nexthop": "10.0.0.7"}]}})
    assert resp.json["router"]["routes"] == [{"destination": "192.168.0.0/24",
                                              "nexthop": "10.0.0.7"}]
    cleared = demo.put("network", f"/v2.0/routers/{r['id']}", {"router": {"routes": None}})
    assert cleared.json["router"]["routes"] == []    # null means none (tempest's cleanup)
    removed = demo.put("network", f"/v2.0/routers/{r['id']}/remove_router_interface",
                       {"subnet_id": s["id"]})
    assert removed.status == 200 and removed.json["port_id"] == body["port_id"]
    missing = demo.put("network", f"/v2.0/routers/{r['id']}/remove_router_interface",
                       {"subnet_id": s["id"]})
    assert error(missing, 404)[1] == f"Router {r['id']} has no interface on subnet {s['id']}"
    assert error(api.delete("network", f"/v2.0/networks/{ext['id']}"), 409)[0] == \
        "NetworkInUse"
    assert demo.delete("network", f"/v2.0/routers/{r['id']}").status == 204


def test_router_errors(api, demo):
    n = net(demo)
    resp = post(demo, "routers", "router", external_gateway_info={"network_id": n["id"]})
    assert error(resp, 400)[1] == f"Bad router request: Network {n['id']} is not an " \
                                  f"external network."
    resp = post(demo, "routers", "router", availability_zone_hints=["nowhere"])
    assert error(resp, 404)[1] == "AvailabilityZone nowhere could not be found."
    r = post(demo, "routers", "router").json["router"]
    resp = demo.put("network", f"/v2.0/routers/{r['id']}/add_router_interface", {})
    assert error(resp, 400)[1] == "Bad router request: Either subnet_id or port_id must be " \
                                  "specified."


def test_floating_ip_lifecycle(api, demo):
    ext, ext_sub = external(api)
    n = net(demo, name="private")
    s = subnet(demo, n["id"])
    vm = port(demo, network_id=n["id"])
    resp = post(demo, "floatingips", "floatingip", floating_network_id=ext["id"])
    assert resp.status == 201, resp
    fip = resp.json["floatingip"]
    assert fip["status"] == "DOWN" and fip["router_id"] is None
    assert fip["port_id"] is None and fip["port_details"] is None
    assert fip["floating_ip_address"].startswith("172.24.4.")
    url = f"/v2.0/floatingips/{fip['id']}"
    unreachable = demo.put("network", url, {"floatingip": {"port_id": vm["id"]}})
    assert error(unreachable, 404) == (
        "ExternalGatewayForFloatingIPNotFound",
        f"External network {ext['id']} is not reachable from subnet {s['id']}.  Therefore, "
        f"cannot associate Port {vm['id']} with a Floating IP.")
    r = post(demo, "routers", "router", external_gateway_info={"network_id": ext["id"]}
             ).json["router"]
    demo.put("network", f"/v2.0/routers/{r['id']}/add_router_interface",
             {"subnet_id": s["id"]})
    linked = demo.put("network", url, {"floatingip": {"port_id": vm["id"]}}).json["floatingip"]
    assert linked["router_id"] == r["id"] and linked["status"] == "ACTIVE"
    assert linked["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    assert linked["port_details"]["mac_address"] == vm["mac_address"]
    resp = demo.put("network", f"/v2.0/routers/{r['id']}", {"router": {
        "external_gateway_info": {}}})
    assert error(resp, 409)[0] == "RouterExternalGatewayInUseByFloatingIp"
    # Deleting the port disassociates.
    demo.delete("network", f"/v2.0/ports/{vm['id']}")
    after = demo.get("network", url).json["floatingip"]
    assert (after["port_id"], after["router_id"], after["status"]) == (None, None, "DOWN")
    assert demo.delete("network", url).status == 204
    not_ext = post(demo, "floatingips", "floatingip", floating_network_id=n["id"])
    assert error(not_ext, 400)[1] == f"Bad floatingip request: Network {n['id']} is not a " \
                                     f"valid external network."


# -- zones, agents, quotas, auto-allocation ------------------------------------------------------


def test_availability_zones_and_agents(api, demo):
    zones = api.get("network", "/v2.0/availability_zones").json["availability_zones"]
    assert {(z["name"], z["resource"], z["state"]) for z in zones} == {
        (z, res, "available") for z in ("ag1", "ag2", "nova") for res in ("network", "router")}
    routers_only = api.get("network", "/v2.0/availability_zones?resource=router").json
    assert {z["resource"] for z in routers_only["availability_zones"]} == {"router"}
    agents = api.get("network", "/v2.0/agents").json["agents"]
    assert {(a["agent_type"], a["host"], a["availability_zone"]) for a in agents} >= {
        ("DHCP agent", "controller1", "ag1"), ("L3 agent", "controller3", "nova")}
    assert all(a["alive"] and a["admin_state_up"] for a in agents)
    assert " " in agents[0]["heartbeat_timestamp"] and "T" not in agents[0]["created_at"]
    assert demo.get("network", "/v2.0/agents").json == {"agents": []}
    dhcp = next(a for a in agents if a["agent_type"] == "DHCP agent"
                and a["availability_zone"] == "ag1")
    api.put("network", f"/v2.0/agents/{dhcp['id']}", {"agent": {"admin_state_up": False}})
    zones = api.get("network", "/v2.0/availability_zones?name=ag1&resource=network").json
    assert zones["availability_zones"] == [{"name": "ag1", "resource": "network",
                                            "state": "unavailable"}]


def test_quotas_and_details(api, demo):
    assert api.token and demo.token   # the project ids are known after login
    own = demo.get("network", f"/v2.0/quotas/{demo.project_id}").json["quota"]
    assert (own["network"], own["subnet"], own["port"], own["router"], own["floatingip"],
            own["security_group"], own["security_group_rule"]) == (100, 100, 500, 10, 50,
                                                                    10, 100)
    net(demo)
    details = demo.get("network", f"/v2.0/quotas/{demo.project_id}/details").json["quota"]
    assert details["network"] == {"limit": 100, "used": 1, "reserved": 0}
    resp = demo.get("network", f"/v2.0/quotas/{api.project_id}/details")
    assert error(resp, 403) == ("AdminRequired", "User does not have admin privileges: Only "
                                "admin is authorized to access quotas for another project.")
    resp = api.put("network", f"/v2.0/quotas/{demo.project_id}", {"quota": {"network": 0}})
    assert error(resp, 400)[1] == ("Quota limit 0 for network must be greater than or equal "
                                   "to already used 1")
    resp = api.put("network", f"/v2.0/quotas/{demo.project_id}", {"quota": {"network": 1}})
    assert resp.json["quota"]["network"] == 1
    assert error(post(demo, "networks", "network"), 409) == (
        "OverQuota", "Quota exceeded for resources: ['network'].")
    assert api.delete("network", f"/v2.0/quotas/{demo.project_id}").status == 204
    assert demo.get("network", "/v2.0/quotas/project").json == {
        "project": {"project_id": demo.project_id}}


def test_auto_allocated_topology(api, demo):
    resp = demo.get("network", "/v2.0/auto-allocated-topology/None?fields=dry-run")
    assert error(resp, 409) == ("AutoAllocationFailure",
                                "Deployment error: No default router:external network.")
    ext = net(api, is_default=True, **{"router:external": True})
    subnet(api, ext["id"], cidr="172.24.4.0/24", enable_dhcp=False)
    dry = demo.get("network", "/v2.0/auto-allocated-topology/None?fields=dry-run").json
    assert dry["auto_allocated_topology"]["id"] == "dry-run=pass"
    got = demo.get("network", "/v2.0/auto-allocated-topology/None").json[
        "auto_allocated_topology"]
    assert got["project_id"] == got["tenant_id"] == demo.project_id
    network = demo.get("network", f"/v2.0/networks/{got['id']}").json["network"]
    assert network["name"] == "auto_allocated_network" and network["admin_state_up"] is True
    assert demo.get("network", f"/v2.0/auto-allocated-topology/{demo.project_id}").json[
        "auto_allocated_topology"]["id"] == got["id"]
    other = demo.get("network", f"/v2.0/auto-allocated-topology/{api.project_id}")
    assert error(other, 403) == ("NotAuthorized", "Not authorized.")
    assert demo.delete("network", "/v2.0/auto-allocated-topology/None").status == 204
    assert error(demo.get("network", f"/v2.0/networks/{got['id']}"), 404)[0] == \
        "NetworkNotFound"
