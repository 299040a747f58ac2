"""Neutron v2.0 over HTTP, in-process: discovery, error bodies, list mechanics, standard
attributes, tags, If-Match, networks and subnets. Expected texts are Neutron's."""

from __future__ import annotations

import pytest


def post(api, coll, res, **body):
    return api.post("network", f"/v2.0/{coll}", {res: body})


def net(api, **body):
    resp = post(api, "networks", "network", **body)
    assert resp.status == 201, resp
    return resp.json["network"]


def subnet(api, network_id, cidr="10.0.0.0/24", **body):
    resp = post(api, "subnets", "subnet", network_id=network_id, cidr=cidr, ip_version=4,
                **body)
    assert resp.status == 201, resp
    return resp.json["subnet"]


def error(resp, status):
    assert resp.status == status, resp
    body = resp.json["NeutronError"]
    assert body["detail"] == ""
    return body["type"], body["message"]


# -- discovery -------------------------------------------------------------------------------


def test_root_lists_v2_with_trailing_slash_and_needs_no_token(api):
    resp = api.get("network", "/", token=None)
    assert resp.status == 200
    version = resp.json["versions"][0]
    assert version["id"] == "v2.0" and version["status"] == "CURRENT"
    assert version["links"][0]["href"].endswith(":9696/v2.0/")


def test_v2_index_needs_the_slash(api):
    resp = api.get("network", "/v2.0/")
    assert [r["collection"] for r in resp.json["resources"]] == [
        "networks", "subnets", "subnetpools", "ports"]
    assert error(api.get("network", "/v2.0"), 404) == (
        "HTTPNotFound", "The resource could not be found.")


def test_catalog_has_network_endpoint(api):
    resp = api.get("identity", "/v3/auth/catalog")
    services = {s["type"]: s for s in resp.json["catalog"]}
    assert services["network"]["name"] == "neutron"
    assert {e["interface"] for e in services["network"]["endpoints"]} == {
        "public", "internal", "admin"}
    assert services["network"]["endpoints"][0]["url"].endswith(":9696")


def test_extensions_list_and_show(api):
    aliases = {e["alias"] for e in api.get("network", "/v2.0/extensions").json["extensions"]}
    assert {"router", "security-group", "external-net", "binding", "port-security",
            "network_availability_zone", "quotas", "standard-attr-tag",
            "revision-if-match", "pagination", "sorting"} <= aliases
    ext = api.get("network", "/v2.0/extensions/router").json["extension"]
    assert ext["updated"] == "2012-07-20T10:00:00-00:00" and ext["links"] == []
    assert error(api.get("network", "/v2.0/extensions/nope"), 404)[1] == \
        "Extension with alias nope does not exist"
    # Other methods are a 404 there, not a 405.
    assert api.post("network", "/v2.0/extensions", {}).status == 404


def test_json_suffix_and_unknown_collection(api):
    assert api.get("network", "/v2.0/networks.json").status == 200
    assert error(api.get("network", "/v2.0/nothing"), 404)[0] == "HTTPNotFound"


def test_401_without_token(api):
    assert api.get("network", "/v2.0/networks", token=None).status == 401


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body,message", [
    ({"netwrk": {}}, "Unable to find 'network' in request body"),
    ({"network": "x"}, "Object 'network' contains invalid data"),
    ({"network": {"bogus": 1, "other": 2}}, "Unrecognized attribute(s) 'bogus, other'"),
    ({"network": {"status": "DOWN"}}, "Attribute 'status' not allowed in POST"),
    ({"network": {"admin_state_up": "maybe"}},
     "Invalid input for operation: 'maybe' cannot be converted to boolean."),
])
def test_network_body_errors(api, body, message):
    resp = api.post("network", "/v2.0/networks", body)
    assert error(resp, 400)[1] == message


def test_invalid_json_body(api):
    resp = api.request("network", "POST", "/v2.0/networks", raw=b"{nope")
    assert error(resp, 400) == ("HTTPBadRequest", "Body contains invalid data")


def test_put_read_only_and_delete_with_body(api):
    n = net(api)
    resp = api.put("network", f"/v2.0/networks/{n['id']}",
                   {"network": {"availability_zone_hints": []}})
    assert error(resp, 400)[1] == "Cannot update read-only attribute availability_zone_hints"
    resp = api.request("network", "DELETE", f"/v2.0/networks/{n['id']}", raw=b'{"a": 1}')
    assert error(resp, 400)[1] == "Request body is not supported in DELETE."


def test_member_cannot_set_shared_or_other_project(demo, api):
    resp = post(demo, "networks", "network", shared=True)
    assert error(resp, 403) == ("PolicyNotAuthorized",
                                "rule:create_network:shared is disallowed by policy")
    assert post(demo, "networks", "network", shared=False).status == 201
    assert api.token   # the project id is known after login
    resp = post(demo, "networks", "network", project_id=api.project_id)
    assert error(resp, 400)[1] == ("Specifying 'project_id' other than the authenticated "
                                   "project in request is not allowed for the current user.")


# -- networks ----------------------------------------------------------------------------------


def test_network_defaults_and_standard_attributes(api):
    n = net(api, name="n1")
    assert n["tenant_id"] == n["project_id"] == api.project_id
    assert (n["admin_state_up"], n["shared"], n["router:external"], n["status"]) == \
        (True, False, False, "ACTIVE")
    assert n["port_security_enabled"] is True and n["subnets"] == []
    assert n["availability_zone_hints"] == [] and n["availability_zones"] == []
    assert n["description"] == "" and n["tags"] == []
    assert n["created_at"].endswith("Z") and "T" in n["created_at"]
    assert isinstance(n["revision_number"], int)
    assert "is_default" not in n and n["provider:network_type"] == "vxlan"
    assert n["mtu"] == 1450


def test_member_does_not_see_provider_attributes(demo):
    n = net(demo)
    assert "provider:network_type" not in n and "provider:segmentation_id" not in n


def test_availability_zone_hints_validated_against_dhcp_agents(api):
    n = net(api, availability_zone_hints=["ag1"])
    assert n["availability_zone_hints"] == ["ag1"] and n["availability_zones"] == []
    subnet(api, n["id"])
    shown = api.get("network", f"/v2.0/networks/{n['id']}").json["network"]
    assert shown["availability_zones"] == ["ag1"]
    resp = post(api, "networks", "network", availability_zone_hints=["nowhere"])
    assert error(resp, 404) == ("AvailabilityZoneNotFound",
                                "AvailabilityZone nowhere could not be found.")


def test_revision_bumps_and_if_match(api):
    n = net(api)
    url = f"/v2.0/networks/{n['id']}"
    same = api.put("network", url, {"network": {"name": n["name"]}}).json["network"]
    assert same["revision_number"] == n["revision_number"]
    changed = api.put("network", url, {"network": {"name": "x"}}).json["network"]
    assert changed["revision_number"] == n["revision_number"] + 1
    resp = api.put("network", url, {"network": {"name": "y"}},
                   headers={"If-Match": f"revision_number={n['revision_number']}"})
    assert error(resp, 412) == ("RevisionNumberConstraintFailed",
                                f"Constrained to {n['revision_number']}, but current revision "
                                f"is {changed['revision_number']}")
    resp = api.put("network", url, {"network": {"name": "y"}},
                   headers={"If-Match": "revision_number=abc"})
    assert error(resp, 400)[1] == ("Bad if-match request: Revision number etag must be in "
                                   "the format of revision_number=<int>.")
    ok = api.put("network", url, {"network": {"name": "y"}},
                 headers={"If-Match": f"revision_number={changed['revision_number']}"})
    assert ok.status == 200


def test_tags_sub_api_and_filters(api):
    a, b = net(api, name="a", tags=["red", "blue"]), net(api, name="b")
    assert a["tags"] == ["blue", "red"]
    url = f"/v2.0/networks/{b['id']}/tags"
    assert api.put("network", f"{url}/green", None).status == 201
    assert api.get("network", f"{url}/green").status == 204
    assert error(api.get("network", f"{url}/nope"), 404)[1] == "Tag nope could not be found."
    assert api.put("network", url, {"tags": ["x", "red"]}).json == {"tags": ["red", "x"]}

    def names(query):
        return sorted(n["name"] for n in
                      api.get("network", f"/v2.0/networks?{query}").json["networks"])
    assert names("tags=red") == ["a", "b"]
    assert names("tags=red,blue") == ["a"]
    assert names("tags-any=blue,x") == ["a", "b"]
    assert names("not-tags=x") == ["a"]
    assert api.delete("network", url).status == 204
    assert api.get("network", url).json == {"tags": []}


def test_filters_fields_sorting(api):
    for name in ("c", "a", "b"):
        net(api, name=name, admin_state_up=name != "b")
    resp = api.get("network", "/v2.0/networks?admin_state_up=False&fields=name")
    assert resp.json["networks"] == [{"name": "b"}]
    resp = api.get("network", "/v2.0/networks?name=a&name=c&sort_key=name&sort_dir=desc"
                              "&fields=name&fields=id")
    assert [n["name"] for n in resp.json["networks"]] == ["c", "a"]
    assert set(resp.json["networks"][0]) == {"name", "id"}
    assert error(api.get("network", "/v2.0/networks?bogus=1"), 400)[1] == \
        "['bogus'] is invalid attribute for filtering"
    assert error(api.get("network", "/v2.0/networks?sort_key=name&sort_key=id&sort_dir=asc"),
                 400)[1] == "The number of sort_keys and sort_dirs must be same"
    assert error(api.get("network", "/v2.0/networks?sort_key=name&sort_dir=up"), 400)[1] == \
        "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'"
    assert error(api.get("network", "/v2.0/networks?tenant_id=a&project_id=a"), 400) == (
        "TenantIdProjectIdFilterConflict", "Both tenant_id and project_id passed as filters.")


def test_pagination_with_links(api):
    ids = sorted(net(api, name=f"p{i}")["id"] for i in range(5))
    page1 = api.get("network", "/v2.0/networks?limit=2").json
    assert [n["id"] for n in page1["networks"]] == ids[:2]
    links = {link["rel"]: link["href"] for link in page1["networks_links"]}
    assert set(links) == {"next"} and f"marker={ids[1]}" in links["next"]
    page2 = api.get("network", f"/v2.0/networks?limit=2&marker={ids[1]}").json
    assert [n["id"] for n in page2["networks"]] == ids[2:4]
    assert {link["rel"] for link in page2["networks_links"]} == {"next", "previous"}
    last = api.get("network", f"/v2.0/networks?limit=2&marker={ids[3]}").json
    assert [n["id"] for n in last["networks"]] == ids[4:]
    assert [link["rel"] for link in last["networks_links"]] == ["previous"]
    back = api.get("network", f"/v2.0/networks?limit=2&marker={ids[2]}&page_reverse=True")
    assert [n["id"] for n in back.json["networks"]] == ids[:2]
    assert error(api.get("network", "/v2.0/networks?limit=-1"), 400)[1] == \
        "Bad limit request: Limit must be an integer 0 or greater and not '-1'."
    missing = "00000000-0000-4000-8000-000000000000"
    assert error(api.get("network", f"/v2.0/networks?limit=1&marker={missing}"), 404)[1] == \
        f"Network {missing} could not be found."


def test_visibility_shared_and_external(api, demo):
    private = net(api, name="private")
    shared = net(api, name="shared", shared=True)
    ext = net(api, name="ext", **{"router:external": True})
    seen = {n["id"]: n for n in demo.get("network", "/v2.0/networks").json["networks"]}
    assert private["id"] not in seen and shared["id"] in seen and ext["id"] in seen
    assert seen[ext["id"]]["shared"] is False and seen[ext["id"]]["is_default"] is False
    assert error(demo.get("network", f"/v2.0/networks/{private['id']}"), 404) == (
        "NetworkNotFound", f"Network {private['id']} could not be found.")
    resp = demo.put("network", f"/v2.0/networks/{shared['id']}", {"network": {"name": "x"}})
    assert error(resp, 403)[0] == "PolicyNotAuthorized"


def test_external_subnets_visible_and_marked(api, demo):
    """``subnet-external-network``: every project sees an external network's subnets, and
    a subnet says whether its network is external (tempest's external visibility test)."""
    aliases = [e["alias"] for e in demo.get("network", "/v2.0/extensions").json["extensions"]]
    assert "subnet-external-network" in aliases
    ext = net(api, name="ext", **{"router:external": True})
    ext_sub = subnet(api, ext["id"], cidr="172.24.4.0/24")
    private_sub = subnet(api, net(api, name="private")["id"], cidr="10.1.0.0/24")
    seen = demo.get("network", f"/v2.0/subnets?network_id={ext['id']}").json["subnets"]
    assert [s["id"] for s in seen] == [ext_sub["id"]] and seen[0]["router:external"] is True
    assert ext_sub["router:external"] is True and private_sub["router:external"] is False
    assert error(demo.get("network", f"/v2.0/subnets/{private_sub['id']}"), 404)[0] == \
        "SubnetNotFound"
    external_only = api.get("network", "/v2.0/subnets?router:external=True").json["subnets"]
    assert [s["id"] for s in external_only] == [ext_sub["id"]]
    resp = api.put("network", f"/v2.0/subnets/{private_sub['id']}",
                   {"subnet": {"router:external": True}})
    assert error(resp, 400)[1] == "Cannot update read-only attribute router:external"


def test_subnetpools_crud_bounds_and_tags(api, demo):
    resp = post(demo, "subnetpools", "subnetpool", name="pool",
                prefixes=["10.10.0.0/17", "10.10.128.0/17", "10.20.0.0/16"])
    assert resp.status == 201, resp
    pool = resp.json["subnetpool"]
    assert pool["prefixes"] == ["10.10.0.0/16", "10.20.0.0/16"] and pool["ip_version"] == 4
    assert (pool["min_prefixlen"], pool["default_prefixlen"], pool["max_prefixlen"]) == (
        8, 8, 32)
    assert pool["shared"] is False and pool["is_default"] is False
    assert pool["default_quota"] is None and pool["project_id"] == demo.project_id
    url = f"/v2.0/subnetpools/{pool['id']}"
    assert demo.put("network", f"{url}/tags/blue", None).status == 201
    assert demo.get("network", f"{url}/tags").json == {"tags": ["blue"]}
    resp = demo.put("network", url, {"subnetpool": {"min_prefixlen": 24}})
    assert error(resp, 400)[1] == "Illegal prefix bounds: default_prefixlen=8, min_prefixlen=24."
    updated = demo.put("network", url, {"subnetpool": {
        "name": "renamed", "min_prefixlen": 16, "default_prefixlen": 24}}).json["subnetpool"]
    assert (updated["name"], updated["min_prefixlen"], updated["default_prefixlen"]) == (
        "renamed", 16, 24)
    assert updated["revision_number"] > pool["revision_number"]
    assert error(api.get("network", "/v2.0/subnetpools/" + "0" * 8), 404) == (
        "SubnetPoolNotFound", f"Subnet pool {'0' * 8} could not be found.")
    cases = [
        ({"prefixes": []}, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list."),
        ({"prefixes": ["10.0.0.0/8", "2001:db8::/32"]}, "PrefixVersionMismatch",
         "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."),
        ({"prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16},
         "IllegalSubnetPoolPrefixBounds",
         "Illegal prefix bounds: min_prefixlen=24, max_prefixlen=16."),
        ({"prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}, "IllegalSubnetPoolPrefixBounds",
         "Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."),
    ]
    for body, kind, message in cases:
        assert error(post(demo, "subnetpools", "subnetpool", name="p", **body), 400) == (
            kind, message)
    assert error(post(demo, "subnetpools", "subnetpool", prefixes=["10.0.0.0/8"]), 400)[1] \
        == "Failed to parse request. Required attribute 'name' not specified"
    assert api.get("network", url).status == 200    # admins see every pool
    other = api.get("network", "/v2.0/subnetpools").json["subnetpools"]
    assert pool["id"] in [p["id"] for p in other]
    assert demo.delete("network", url).status == 204
    assert demo.get("network", url).status == 404


def test_default_external_network_is_unique(api):
    net(api, is_default=True, **{"router:external": True})
    resp = post(api, "networks", "network", is_default=True, **{"router:external": True})
    assert error(resp, 409)[1].startswith("A default external network already exists: ")


def test_bulk_create(api):
    resp = api.post("network", "/v2.0/networks", {"networks": [{"name": "b1"},
                                                               {"network": {"name": "b2"}}]})
    assert resp.status == 201
    assert [n["name"] for n in resp.json["networks"]] == ["b1", "b2"]
    assert error(api.post("network", "/v2.0/networks", {"networks": []}), 400)[1] == \
        "Resources required"


# -- subnets -----------------------------------------------------------------------------------


def test_subnet_defaults(api):
    n = net(api)
    s = subnet(api, n["id"], cidr="10.0.0.5/24", dns_nameservers=["8.8.8.8"])
    assert s["cidr"] == "10.0.0.0/24" and s["gateway_ip"] == "10.0.0.1"
    assert s["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert s["enable_dhcp"] is True and s["dns_nameservers"] == ["8.8.8.8"]
    assert s["host_routes"] == [] and s["subnetpool_id"] is None
    assert s["ipv6_ra_mode"] is None and s["ipv6_address_mode"] is None
    v6 = api.post("network", "/v2.0/subnets", {"subnet": {
        "network_id": n["id"], "cidr": "2001:DB8::/64", "ip_version": 6}}).json["subnet"]
    assert v6["cidr"] == "2001:db8::/64" and v6["gateway_ip"] == "2001:db8::"
    assert v6["allocation_pools"] == [{"start": "2001:db8::1",
                                       "end": "2001:db8::ffff:ffff:ffff:ffff"}]
    network = api.get("network", f"/v2.0/networks/{n['id']}").json["network"]
    assert network["subnets"] == [s["id"], v6["id"]]
    assert network["revision_number"] > n["revision_number"]


@pytest.mark.parametrize("extra,status,kind,message", [
    ({"cidr": "10.0.0/24"}, 400, "InvalidInput",
     "Invalid input for operation: 10.0.0/24 is not in a CIDR format."),
    ({"cidr": "2001:db8::/64"}, 400, "InvalidInput",
     "Invalid input for operation: cidr '2001:db8::/64' does not match the ip_version '4'."),
    ({"cidr": "10.0.0.0/31"}, 400, "InvalidInput",
     "Invalid input for operation: Subnet has a prefix length that is incompatible with "
     "DHCP service enabled."),
    ({"cidr": None}, 400, "BadRequest",
     "Bad subnets request: A cidr must be specified in the absence of a subnet pool."),
    ({"gateway_ip": "10.0.0.255"}, 400, "InvalidInput",
     "Invalid input for operation: Gateway is not valid on subnet."),
    ({"gateway_ip": "10.0.0.300"}, 400, "HTTPBadRequest",
     "Invalid input for gateway_ip. Reason: '10.0.0.300' is not a valid IP address."),
    ({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}, 409,
     "GatewayConflictWithAllocationPools",
     "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.9."),
    ({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.1.9"}]}, 400,
     "OutOfBoundsAllocationPool",
     "The allocation pool 10.0.0.2-10.0.1.9 spans beyond the subnet cidr 10.0.0.0/24."),
    ({"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]}, 400,
     "InvalidAllocationPool", "The allocation pool 10.0.0.9-10.0.0.2 is not valid."),
    ({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"},
                           {"start": "10.0.0.5", "end": "10.0.0.20"}]}, 409,
     "OverlappingAllocationPools",
     "Found overlapping allocation pools: 10.0.0.2-10.0.0.9 10.0.0.5-10.0.0.20 for subnet "
     "10.0.0.0/24."),
    ({"dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, "HTTPBadRequest",
     "Invalid input for dns_nameservers. Reason: Duplicate nameserver '1.1.1.1'."),
    ({"dns_nameservers": [f"1.1.1.{i}" for i in range(6)]}, 400, "DNSNameServersExhausted",
     "Unable to complete operation for new subnet. The number of DNS nameservers exceeds "
     "the limit 5."),
    ({"ipv6_ra_mode": "slaac"}, 400, "InvalidInput",
     "Invalid input for operation: ipv6_ra_mode is not valid when ip_version is 4."),
])
def test_subnet_validation(api, extra, status, kind, message):
    n = net(api)
    body = {"network_id": n["id"], "cidr": "10.0.0.0/24", "ip_version": 4, **extra}
    if body["cidr"] is None:
        del body["cidr"]
    assert error(api.post("network", "/v2.0/subnets", {"subnet": body}), status) == \
        (kind, message)


def test_overlapping_cidr_on_one_network_only(api):
    n, other = net(api), net(api)
    subnet(api, n["id"], "10.0.0.0/24")
    resp = post(api, "subnets", "subnet", network_id=n["id"], cidr="10.0.0.128/25",
                ip_version=4)
    assert error(resp, 400) == (
        "InvalidInput", f"Invalid input for operation: Requested subnet with cidr: "
        f"10.0.0.128/25 for network: {n['id']} overlaps with another subnet.")
    subnet(api, other["id"], "10.0.0.0/24")


def test_ipv6_mode_rules(api):
    n = net(api)
    body = {"network_id": n["id"], "ip_version": 6, "cidr": "2001:db8::/80",
            "ipv6_address_mode": "slaac"}
    assert error(api.post("network", "/v2.0/subnets", {"subnet": body}), 400)[1] == (
        "Invalid input for operation: Invalid CIDR 2001:db8::/80 for IPv6 address mode. "
        "OpenStack uses the EUI-64 address format, which requires the prefix to be /64.")
    body.update(cidr="2001:db8::/64", ipv6_ra_mode="dhcpv6-stateful")
    assert error(api.post("network", "/v2.0/subnets", {"subnet": body}), 400)[1] == (
        "Invalid input for operation: ipv6_ra_mode set to 'dhcpv6-stateful' with "
        "ipv6_address_mode set to 'slaac' is not valid. If both attributes are set, they "
        "must be the same value.")


def test_subnet_update_and_delete_in_use(api):
    n = net(api)
    s = subnet(api, n["id"])
    url = f"/v2.0/subnets/{s['id']}"
    resp = api.put("network", url, {"subnet": {
        "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}], "name": "s"}})
    assert resp.json["subnet"]["allocation_pools"] == [{"start": "10.0.0.10",
                                                        "end": "10.0.0.20"}]
    port = post(api, "ports", "port", network_id=n["id"]).json["port"]
    ip = port["fixed_ips"][0]["ip_address"]
    assert 10 <= int(ip.rsplit(".", 1)[1]) <= 20
    assert error(api.delete("network", url), 409) == (
        "SubnetInUse", f"Unable to complete operation on subnet {s['id']}: One or more ports "
        f"have an IP allocation from this subnet.")
    assert api.delete("network", f"/v2.0/ports/{port['id']}").status == 204
    # Only the DHCP port is left: it goes with the subnet.
    assert api.delete("network", url).status == 204


def test_network_delete_removes_subnets_and_dhcp_port(api):
    n = net(api)
    subnet(api, n["id"])
    owners = [p["device_owner"] for p in api.get(
        "network", f"/v2.0/ports?network_id={n['id']}").json["ports"]]
    assert owners == ["network:dhcp"]
    assert api.delete("network", f"/v2.0/networks/{n['id']}").status == 204
    assert api.get("network", f"/v2.0/subnets?network_id={n['id']}").json["subnets"] == []
    assert api.get("network", f"/v2.0/ports?network_id={n['id']}").json["ports"] == []
