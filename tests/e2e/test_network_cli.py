"""The real `openstack` CLI and openstacksdk against Neutron and Nova's networking on a
started cloud: the acceptance flow of issue 12, then everything deleted, no port left."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_network_router_server_floating_ip_flow(live_cloud, tmp_path):
    c = live_cloud

    def demo(*args):
        return c.openstack_json(*args, cloud="stackling-demo")

    def ok(*args, cloud="stackling-demo"):
        r = c.openstack(*args, cloud=cloud)
        assert r.returncode == 0, r.stderr
        return r

    disk = tmp_path / "cirros.img"
    disk.write_bytes(b"\0" * 4096)
    image = c.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                             "--container-format", "bare", "--public", "net-e2e")["id"]
    public = c.openstack_json("network", "create", "--external", "net-e2e-public")
    assert public["router:external"] in (True, "External")
    c.openstack_json("subnet", "create", "--network", public["id"], "--subnet-range",
                     "172.24.40.0/24", "--no-dhcp", "net-e2e-public-sub")
    hinted = demo("network", "create", "--availability-zone-hint", "ag1", "net-e2e-hinted")
    assert hinted["availability_zone_hints"] == ["ag1"]
    refused = c.openstack("network", "create", "--availability-zone-hint", "nowhere", "x",
                          cloud="stackling-demo")
    assert refused.returncode != 0
    assert "AvailabilityZone nowhere could not be found." in refused.stderr
    zones = c.openstack_json("availability", "zone", "list", "--network", "--long")
    assert {(z["Zone Name"], z["Zone Resource"]) for z in zones} >= {
        ("ag1", "network"), ("ag1", "router"), ("nova", "network")}

    net = demo("network", "create", "net-e2e")
    sub = demo("subnet", "create", "--network", "net-e2e", "--subnet-range", "10.40.0.0/24",
               "net-e2e-sub")
    assert sub["gateway_ip"] == "10.40.0.1"
    router = demo("router", "create", "net-e2e-router")
    ok("router", "set", "--external-gateway", public["id"], "net-e2e-router")
    ok("router", "add", "subnet", "net-e2e-router", "net-e2e-sub")
    shown = demo("router", "show", "net-e2e-router")
    assert shown["external_gateway_info"]["network_id"] == public["id"]
    sg = demo("security", "group", "create", "net-e2e-sg")
    rule = demo("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
                "net-e2e-sg")
    assert rule["port_range_min"] == 22 and rule["protocol"] == "tcp"
    dup = c.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                      "--dst-port", "22", "net-e2e-sg", cloud="stackling-demo")
    assert dup.returncode != 0 and "Security group rule already exists." in dup.stderr
    key = demo("keypair", "create", "--private-key", str(tmp_path / "k.pem"), "net-e2e-key")
    assert key["name"] == "net-e2e-key"
    # Recent clients generate the key themselves and import it (2.92 is import-only).
    assert "PRIVATE KEY-----" in (tmp_path / "k.pem").read_text()
    assert demo("keypair", "show", "net-e2e-key")["fingerprint"] == key["fingerprint"]

    server = demo("server", "create", "--image", image, "--flavor", "m1.tiny", "--network",
                  "net-e2e", "--security-group", "net-e2e-sg", "--key-name", "net-e2e-key",
                  "--wait", "net-e2e-vm")
    assert server["status"] == "ACTIVE" and server["key_name"] == "net-e2e-key"
    [port] = demo("port", "list", "--server", server["id"])
    fixed = port["Fixed IP Addresses"][0]["ip_address"]
    assert fixed.startswith("10.40.0.")
    fip = demo("floating", "ip", "create", public["id"])
    assert fip["status"] == "DOWN"
    ok("server", "add", "floating", "ip", "net-e2e-vm", fip["floating_ip_address"])
    shown = demo("server", "show", "net-e2e-vm")
    addrs = shown["addresses"]["net-e2e"]
    assert fixed in addrs and fip["floating_ip_address"] in addrs
    assert demo("floating", "ip", "show", fip["id"])["status"] == "ACTIVE"

    # The SDK's auto_ip flow finds the floating IP as a public address.
    conn = c.connect(cloud="stackling-demo")
    found = conn.get_server("net-e2e-vm")
    assert found.public_v4 == fip["floating_ip_address"]

    ok("server", "delete", "--wait", "net-e2e-vm")
    assert demo("port", "list", "--network", net["id"], "--device-owner",
                "compute:ag1") == []
    ok("floating", "ip", "delete", fip["id"])
    ok("router", "remove", "subnet", "net-e2e-router", "net-e2e-sub")
    ok("router", "delete", router["id"])
    ok("security", "group", "delete", sg["id"])
    ok("keypair", "delete", "net-e2e-key")
    ok("network", "delete", net["id"], hinted["id"])
    ok("network", "delete", public["id"], cloud="stackling")
    left = [p for p in c.openstack_json("port", "list", "--long")
            if p["Device Owner"] != "network:dhcp" and p["Network"] in (net["id"],
                                                                          public["id"])]
    assert left == []
