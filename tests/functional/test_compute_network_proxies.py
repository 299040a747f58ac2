"""Nova's network proxies and actions over Neutron: os-security-groups, -rules,
os-floating-ips, -pools, os-networks, os-tenant-networks (≤ 2.35), the server's groups,
add/removeSecurityGroup and add/removeFloatingIp (≤ 2.43)."""

from __future__ import annotations

import pytest

from tests.functional.test_compute_networks import boot, ports_of, topology  # noqa: F401
from tests.functional.test_compute_servers import LATEST, image, settled, v  # noqa: F401
from tests.helpers import wait_for

OLD = v("2.35")
MISSING = "00000000-0000-4000-8000-000000000000"


def message(resp, status):
    assert resp.status == status, resp
    return next(iter(resp.json.values()))["message"]


def make_group(client, name="web", description="d"):
    resp = client.post("compute", "/v2.1/os-security-groups", {"security_group": {
        "name": name, "description": description}}, headers=OLD)
    assert resp.status == 200, resp
    return resp.json["security_group"]


def add_rule(client, **rule):
    return client.post("compute", "/v2.1/os-security-group-rules",
                       {"security_group_rule": rule}, headers=OLD)


# -- security groups ---------------------------------------------------------------------


def test_security_group_create_show_update_list_delete(demo):
    group = make_group(demo)
    assert group["name"] == "web" and group["tenant_id"] == demo.project_id
    assert group["rules"] == []
    url = f"/v2.1/os-security-groups/{group['id']}"
    shown = demo.get("compute", url, headers=OLD).json["security_group"]
    assert shown == group
    # Neutron has it: the proxy made it there.
    assert demo.get("network", f"/v2.0/security-groups/{group['id']}").status == 200
    resp = demo.put("compute", url, {"security_group": {"name": "web2", "description": "e"}},
                    headers=OLD)
    assert resp.json["security_group"]["name"] == "web2", resp
    listed = demo.get("compute", "/v2.1/os-security-groups", headers=OLD).json[
        "security_groups"]
    assert [g["name"] for g in listed] == ["default", "web2"]
    assert demo.delete("compute", url, headers=OLD).status == 202
    assert message(demo.get("compute", url, headers=OLD), 404).startswith(
        f"Security group {group['id']} does not exist")


def test_security_group_errors(demo):
    assert message(demo.get("compute", "/v2.1/os-security-groups/nope", headers=OLD),
                   400) == "Security group id should be uuid"
    assert demo.get("compute", f"/v2.1/os-security-groups/{MISSING}", headers=OLD
                    ).status == 404
    assert demo.delete("compute", f"/v2.1/os-security-groups/{MISSING}", headers=OLD
                       ).status == 404
    assert "'description' is a required property" in message(demo.post(
        "compute", "/v2.1/os-security-groups", {"security_group": {"name": "x"}},
        headers=OLD), 400)
    default = demo.get("compute", "/v2.1/os-security-groups", headers=OLD).json[
        "security_groups"][0]
    assert default["name"] == "default"
    # Neutron's 409 for the default group is Nova's 400.
    assert demo.delete("compute", f"/v2.1/os-security-groups/{default['id']}",
                       headers=OLD).status == 400
    assert demo.delete("compute", "/v2.1/os-security-groups/", headers=OLD).status == 404
    # Gone from 2.36 on, as every network proxy.
    assert demo.get("compute", "/v2.1/os-security-groups", headers=v("2.36")).status == 404


def test_all_tenants_is_for_admins(api, demo):
    mine = make_group(demo, name="demo-group")
    admin_all = api.get("compute", "/v2.1/os-security-groups?all_tenants=1",
                        headers=OLD).json["security_groups"]
    assert mine["id"] in {g["id"] for g in admin_all}
    demo_all = demo.get("compute", "/v2.1/os-security-groups?all_tenants=1",
                        headers=OLD).json["security_groups"]
    assert {g["tenant_id"] for g in demo_all} == {demo.project_id}


def test_rules_create_delete_and_views(demo):
    group, peer = make_group(demo, "a"), make_group(demo, "b")
    resp = add_rule(demo, parent_group_id=group["id"], ip_protocol="tcp", from_port=22,
                    to_port=22)
    assert resp.status == 200, resp
    rule = resp.json["security_group_rule"]
    assert rule == {"id": rule["id"], "parent_group_id": group["id"], "ip_protocol": "tcp",
                    "from_port": 22, "to_port": 22, "group": {},
                    "ip_range": {"cidr": "0.0.0.0/0"}}
    by_group = add_rule(demo, parent_group_id=group["id"], ip_protocol="icmp",
                        group_id=peer["id"]).json["security_group_rule"]
    assert (by_group["from_port"], by_group["to_port"]) == (-1, -1)
    assert by_group["group"] == {"name": "b", "tenant_id": demo.project_id}
    assert by_group["ip_range"] == {}
    shown = demo.get("compute", f"/v2.1/os-security-groups/{group['id']}", headers=OLD
                     ).json["security_group"]
    assert {r["id"] for r in shown["rules"]} == {rule["id"], by_group["id"]}
    # A rule whose peer group is deleted goes with it (Neutron cascades).
    assert demo.delete("compute", f"/v2.1/os-security-groups/{peer['id']}",
                       headers=OLD).status == 202
    shown = demo.get("compute", f"/v2.1/os-security-groups/{group['id']}", headers=OLD
                     ).json["security_group"]
    assert [r["id"] for r in shown["rules"]] == [rule["id"]]
    url = f"/v2.1/os-security-group-rules/{rule['id']}"
    assert demo.delete("compute", url, headers=OLD).status == 202
    assert demo.delete("compute", url, headers=OLD).status == 404


@pytest.mark.parametrize("rule, text", [
    ({"ip_protocol": "tcp", "from_port": 65536, "to_port": 22},
     "Invalid port range 65536:22. Former value cannot be greater than the later"),
    ({"ip_protocol": "tcp", "from_port": 22, "to_port": 65536},
     "Invalid port range 22:65536. Valid TCP ports should be between 1-65535"),
    ({"ip_protocol": "tcp", "from_port": 22, "to_port": 21},
     "Invalid port range 22:21. Former value cannot be greater than the later"),
    ({"ip_protocol": "999x", "from_port": 22, "to_port": 22}, "Invalid IP protocol 999x."),
    ({"ip_protocol": "tcp", "from_port": "a", "to_port": 22},
     "Invalid input received: To and From ports must be integers"),
    ({"ip_protocol": "icmp", "from_port": 256, "to_port": 0},
     "Invalid port range 256:0. For ICMP, the type:code must be valid"),
    ({"ip_protocol": "tcp"}, "Not enough parameters to build a valid rule."),
    ({"ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "10.0.0.0/0"},
     "Bad prefix for network in cidr 10.0.0.0/0"),
    ({"ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "nope"},
     "nope is not a valid IP network."),
])
def test_rule_validation(demo, rule, text):
    group = make_group(demo)
    assert message(add_rule(demo, parent_group_id=group["id"], **rule), 400) == text


def test_rule_duplicate_and_missing_groups(demo):
    group = make_group(demo)
    rule = {"parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 22,
            "to_port": 22}
    assert add_rule(demo, **rule).status == 200
    assert message(add_rule(demo, **rule), 400) == \
        f"This rule already exists in group {group['id']}"
    assert add_rule(demo, **{**rule, "parent_group_id": MISSING}).status == 404
    assert add_rule(demo, **{**rule, "group_id": MISSING}).status == 404
    assert "is not a 'uuid'" in message(add_rule(demo, **{**rule, "parent_group_id": "x"}),
                                        400)
    assert demo.delete("compute", f"/v2.1/os-security-group-rules/{MISSING}",
                       headers=OLD).status == 404


# -- servers and their groups -------------------------------------------------------------


def _server(demo, image, topology):  # noqa: F811
    resp = boot(demo, image, [{"uuid": topology["net"]["id"]}])
    assert resp.status == 202, resp
    return settled(demo, resp.json["server"]["id"])


def test_server_security_groups_add_remove(demo, image, topology):  # noqa: F811
    server = _server(demo, image, topology)
    group = make_group(demo)
    act = f"/v2.1/servers/{server['id']}/action"
    url = f"/v2.1/servers/{server['id']}/os-security-groups"
    assert demo.post("compute", act, {"addSecurityGroup": {"name": "web"}}).status == 202
    [port] = ports_of(demo, server["id"])
    assert group["id"] in port["security_groups"]
    listed = demo.get("compute", url, headers=LATEST).json["security_groups"]
    assert [g["name"] for g in listed] == ["default", "web"]
    assert listed[1]["rules"] == []
    shown = demo.get("compute", f"/v2.1/servers/{server['id']}").json["server"]
    assert sorted(g["name"] for g in shown["security_groups"]) == ["default", "web"]
    for name in ("web", "default"):
        assert demo.post("compute", act, {"removeSecurityGroup": {"name": name}}
                         ).status == 202
    # No group left on the ports: the server view leaves the key out, as Nova does.
    shown = demo.get("compute", f"/v2.1/servers/{server['id']}").json["server"]
    assert "security_groups" not in shown
    assert message(demo.post("compute", act, {"removeSecurityGroup": {"name": "web"}}),
                   404) == f"Security group web not associated with the instance " \
                           f"{server['id']}"
    assert message(demo.post("compute", act, {"addSecurityGroup": {"name": "nope"}}),
                   404) == f"Security group nope is not found for project {demo.project_id}"
    assert message(demo.post("compute", act, {"addSecurityGroup": {"name": " "}}),
                   400) == "Security group name cannot be empty"
    assert demo.post("compute", act, {"addSecurityGroup": {}}).status == 400


def test_groups_of_a_server_without_ports(demo, image):  # noqa: F811
    server = settled(demo, boot(demo, image, "none").json["server"]["id"])
    url = f"/v2.1/servers/{server['id']}"
    assert demo.get("compute", f"{url}/os-security-groups").json == {"security_groups": []}
    assert message(demo.post("compute", f"{url}/action",
                             {"addSecurityGroup": {"name": "default"}}), 404) == \
        f"instance_id {server['id']} could not be found as device id on any ports"
    assert demo.get("compute", f"/v2.1/servers/{MISSING}/os-security-groups").status == 404


# -- floating IPs ---------------------------------------------------------------------------


def test_floating_ip_allocate_list_show_delete(demo, topology):  # noqa: F811
    pools = demo.get("compute", "/v2.1/os-floating-ip-pools", headers=OLD).json
    assert pools == {"floating_ip_pools": [{"name": "public"}]}
    resp = demo.post("compute", "/v2.1/os-floating-ips", {"pool": "public"}, headers=OLD)
    assert resp.status == 200, resp
    fip = resp.json["floating_ip"]
    assert fip["pool"] == "public" and fip["instance_id"] is None and fip["fixed_ip"] is None
    assert fip["ip"].startswith("172.24.4.")
    url = f"/v2.1/os-floating-ips/{fip['id']}"
    assert demo.get("compute", url, headers=OLD).json["floating_ip"] == fip
    assert demo.get("compute", "/v2.1/os-floating-ips", headers=OLD).json == {
        "floating_ips": [fip]}
    by_id = demo.post("compute", "/v2.1/os-floating-ips", {"pool": topology["ext"]["id"]},
                      headers=OLD)
    assert by_id.json["floating_ip"]["pool"] == "public"
    assert demo.delete("compute", url, headers=OLD).status == 202
    assert message(demo.get("compute", url, headers=OLD), 404) == \
        f"Floating IP not found for ID {fip['id']}"
    assert demo.delete("compute", url, headers=OLD).status == 404
    assert message(demo.post("compute", "/v2.1/os-floating-ips", {"pool": "nowhere"},
                             headers=OLD), 404) == "Floating IP pool not found."
    # No pool: [neutron] default_floating_pool, "nova", which this cloud has not.
    assert demo.post("compute", "/v2.1/os-floating-ips", None, headers=OLD).status == 404
    assert demo.get("compute", "/v2.1/os-floating-ips", headers=v("2.36")).status == 404


def test_add_remove_floating_ip(demo, image, topology):  # noqa: F811
    server = _server(demo, image, topology)
    [port] = ports_of(demo, server["id"])
    fixed = port["fixed_ips"][0]["ip_address"]
    fip = demo.post("compute", "/v2.1/os-floating-ips", {"pool": "public"}, headers=OLD
                    ).json["floating_ip"]
    act = f"/v2.1/servers/{server['id']}/action"
    resp = demo.post("compute", act, {"addFloatingIp": {"address": fip["ip"]}}, headers=OLD)
    assert resp.status == 202, resp
    shown = demo.get("compute", f"/v2.1/os-floating-ips/{fip['id']}", headers=OLD).json[
        "floating_ip"]
    assert (shown["instance_id"], shown["fixed_ip"]) == (server["id"], fixed)
    addresses = demo.get("compute", f"/v2.1/servers/{server['id']}").json["server"][
        "addresses"]["private"]
    assert addresses[1]["addr"] == fip["ip"] and addresses[1]["OS-EXT-IPS:type"] == "floating"
    # A second floating IP for the same fixed IP: Neutron's 409 is Nova's 400.
    other = demo.post("compute", "/v2.1/os-floating-ips", {"pool": "public"}, headers=OLD
                      ).json["floating_ip"]
    assert demo.post("compute", act, {"addFloatingIp": {"address": other["ip"]}},
                     headers=OLD).status == 400
    assert message(demo.post("compute", act, {"addFloatingIp": {
        "address": fip["ip"], "fixed_address": "10.9.9.9"}}, headers=OLD), 400) == \
        "Specified fixed address not assigned to instance"
    assert message(demo.post("compute", act, {"removeFloatingIp": {"address": other["ip"]}},
                             headers=OLD), 409) == \
        f"Floating IP {other['ip']} is not associated with instance {server['id']}."
    assert demo.post("compute", act, {"removeFloatingIp": {"address": fip["ip"]}},
                     headers=OLD).status == 202
    shown = demo.get("compute", f"/v2.1/os-floating-ips/{fip['id']}", headers=OLD).json[
        "floating_ip"]
    assert (shown["instance_id"], shown["fixed_ip"]) == (None, None)


def test_floating_ip_action_errors(demo, image, topology):  # noqa: F811
    server = _server(demo, image, topology)
    act = f"/v2.1/servers/{server['id']}/action"
    assert message(demo.post("compute", act, {"addFloatingIp": {"address": "0.0.0.0"}},
                             headers=OLD), 404) == "floating IP not found"
    assert message(demo.post("compute", act, {"removeFloatingIp": {"address": "0.0.0.0"}},
                             headers=OLD), 404) == \
        "Floating IP not found for address 0.0.0.0."
    assert demo.post("compute", act, {"addFloatingIp": {"address": ""}},
                     headers=OLD).status == 400
    assert message(demo.post("compute", act, {"addFloatingIp": {"address": "0.0.0.0"}},
                             headers=v("2.44")), 400) == \
        "There is no such action: addFloatingIp"
    bare = settled(demo, boot(demo, image, "none").json["server"]["id"])
    assert message(demo.post("compute", f"/v2.1/servers/{bare['id']}/action",
                             {"addFloatingIp": {"address": "0.0.0.0"}}, headers=OLD),
                   400) == "Instance network is not ready yet"


# -- networks -------------------------------------------------------------------------------


def test_os_networks_and_tenant_networks(api, demo, topology):  # noqa: F811
    private = topology["net"]
    listed = demo.get("compute", "/v2.1/os-tenant-networks", headers=OLD).json["networks"]
    assert {"id": private["id"], "cidr": "None", "label": "private"} in listed
    shown = demo.get("compute", f"/v2.1/os-tenant-networks/{private['id']}", headers=OLD)
    assert shown.json == {"network": {"id": private["id"], "cidr": "None",
                                      "label": "private"}}
    assert message(demo.get("compute", f"/v2.1/os-tenant-networks/{MISSING}", headers=OLD),
                   404) == "Network not found"
    nets = api.get("compute", "/v2.1/os-networks", headers=OLD).json["networks"]
    mine = next(n for n in nets if n["id"] == private["id"])
    assert mine["label"] == "private" and mine["cidr"] is None and "vlan" in mine
    member = demo.get("compute", f"/v2.1/os-networks/{private['id']}", headers=OLD).json[
        "network"]
    assert member["label"] == "private" and "vlan" not in member
    assert api.get("compute", f"/v2.1/os-networks/{MISSING}", headers=OLD).status == 404
    assert api.get("compute", "/v2.1/os-networks", headers=v("2.36")).status == 404


def test_server_delete_releases_ports(demo, image, topology):  # noqa: F811
    server = _server(demo, image, topology)
    assert ports_of(demo, server["id"])
    assert demo.delete("compute", f"/v2.1/servers/{server['id']}").status == 204
    wait_for(lambda: not ports_of(demo, server["id"]), timeout=10)


def test_shelved_offloaded_server_delete_releases_ports(demo, image, topology):  # noqa: F811
    server = _server(demo, image, topology)
    act = f"/v2.1/servers/{server['id']}/action"
    assert demo.post("compute", act, {"shelve": None}).status == 202
    wait_for(lambda: demo.get("compute", f"/v2.1/servers/{server['id']}").json["server"][
        "status"] == "SHELVED_OFFLOADED", timeout=10)
    assert ports_of(demo, server["id"])        # kept while offloaded, as in Nova
    # No host holds it: the API deletes it locally, and its ports with it.
    assert demo.delete("compute", f"/v2.1/servers/{server['id']}").status == 204
    assert ports_of(demo, server["id"]) == []


def test_attached_interface_of_a_server_booted_without_network_is_released(
        demo, image, topology):  # noqa: F811
    server = settled(demo, boot(demo, image, "none").json["server"]["id"])
    resp = demo.post("compute", f"/v2.1/servers/{server['id']}/os-interface",
                     {"interfaceAttachment": {"net_id": topology["net"]["id"]}})
    assert resp.status == 200, resp
    assert demo.delete("compute", f"/v2.1/servers/{server['id']}").status == 204
    wait_for(lambda: not ports_of(demo, server["id"]), timeout=10)


def test_list_servers_filtered_by_ip(demo, image, topology):  # noqa: F811
    one, two = _server(demo, image, topology), _server(demo, image, topology)
    [port] = ports_of(demo, one["id"])
    ip = port["fixed_ips"][0]["ip_address"]
    listed = demo.get("compute", f"/v2.1/servers?ip={ip}").json["servers"]
    assert [s["id"] for s in listed] == [one["id"]]
    assert two["id"] not in {s["id"] for s in listed}
    assert demo.get("compute", "/v2.1/servers?ip=192.0.2.1").json["servers"] == []


def test_networks_auto_gets_me_a_network(api, demo, image):  # noqa: F811
    from tests.functional.test_network_api import net, subnet
    # Without a default external network Neutron cannot build the topology: Nova's 400.
    refused = boot(demo, image, "auto")
    assert message(refused, 400) == \
        f"Unable to automatically allocate a network for project {demo.project_id}"
    ext = net(api, name="public", **{"router:external": True, "is_default": True})
    subnet(api, ext["id"], cidr="172.24.4.0/24", enable_dhcp=False)
    resp = boot(demo, image, "auto", min_count=2)
    assert resp.status == 202, resp
    servers = demo.get("compute", "/v2.1/servers/detail", headers=LATEST).json["servers"]
    assert len(servers) == 2
    for server in servers:
        assert list(settled(demo, server["id"])["addresses"]) == ["auto_allocated_network"]
    mine = demo.get("network", f"/v2.0/networks?tenant_id={demo.project_id}").json[
        "networks"]
    assert [n["name"] for n in mine] == ["auto_allocated_network"]


def test_start_up_recovery_finishing_a_delete_releases_ports(cloud, demo, image,
                                                             topology):  # noqa: F811
    from sqlalchemy import update

    from stackling import recovery
    from stackling.db.models_compute import Instance
    server = _server(demo, image, topology)
    assert ports_of(demo, server["id"])
    # A hard stop left the delete half-way: the restart's repair finishes it, ports too.
    with cloud.db.writer() as s:
        s.execute(update(Instance).where(Instance.uuid == server["id"]).values(
            task_state="deleting"))
    assert recovery.recover(cloud) >= 1
    assert demo.get("compute", f"/v2.1/servers/{server['id']}").status == 404
    assert ports_of(demo, server["id"]) == []


def test_update_and_rebuild_before_2_75_show_plain_addresses(demo, image,
                                                             topology):  # noqa: F811
    server = _server(demo, image, topology)
    [port] = ports_of(demo, server["id"])
    plain = {"private": [{"version": 4, "addr": port["fixed_ips"][0]["ip_address"]}]}
    url = f"/v2.1/servers/{server['id']}"
    updated = demo.put("compute", url, {"server": {"name": "x"}}, headers=v("2.74"))
    assert updated.json["server"]["addresses"] == plain
    rebuilt = demo.post("compute", f"{url}/action", {"rebuild": {"imageRef": image}},
                        headers=v("2.74"))
    assert rebuilt.status == 202, rebuilt
    assert rebuilt.json["server"]["addresses"] == plain
    full = demo.put("compute", url, {"server": {"name": "y"}}, headers=v("2.75"))
    assert full.json["server"]["addresses"]["private"][0]["OS-EXT-IPS:type"] == "fixed"
