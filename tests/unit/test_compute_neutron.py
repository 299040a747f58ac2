"""Nova's network API facade (compute/neutron.py) against a stand-in Network API: the
shapes Nova renders from Neutron's ports (views/ips.py, _add_security_grps)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import webob
import webob.dec

from stackling import exception
from stackling.compute import neutron
from stackling.seams.http import InProcessSender

SERVER = "3f0a3c5e-1111-4222-8333-444455556666"
PORTS = {"ports": [{"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
                    "device_id": SERVER, "security_groups": ["sg1", "sg2"],
                    "fixed_ips": [{"ip_address": "10.0.0.5"},
                                  {"ip_address": "fd00::5"}]}]}
RESOURCES = {
    f"/v2.0/ports?device_id={SERVER}": PORTS,
    "/v2.0/networks/n1": {"network": {"id": "n1", "name": "private"}},
    "/v2.0/security-groups/sg1": {"security_group": {"id": "sg1", "name": "default"}},
    "/v2.0/security-groups/sg2": {"security_group": {"id": "sg2", "name": "web"}},
    "/v2.0/security-groups?name=web&project_id=p": {"security_groups": [{"id": "sg2"}]},
    "/v2.0/security-groups?name=nope&project_id=p": {"security_groups": []},
}


@webob.dec.wsgify
def network_app(req):
    key = req.path_qs
    if key not in RESOURCES:
        return webob.Response(status=404, content_type="application/json",
                              body=json.dumps({"NeutronError": {"message": "nf"}}).encode())
    return webob.Response(content_type="application/json",
                          body=json.dumps(RESOURCES[key]).encode())


CTX = SimpleNamespace(token="t", project_id="p")


def stand_in_cloud(apps: dict) -> SimpleNamespace:
    """A cloud whose service-client seam delivers to ``apps`` in-process."""
    cloud = SimpleNamespace(apps=apps)
    cloud.sender = lambda project="nova": InProcessSender(cloud)
    return cloud


def test_without_a_network_service_nothing_is_attached():
    cloud = SimpleNamespace(apps={})
    assert neutron.addresses(cloud, CTX, SERVER) == {}
    assert neutron.server_networks(cloud, CTX, [SERVER])[SERVER][1] == []
    assert neutron.check_security_group(cloud, CTX, "default") == "default"
    with pytest.raises(exception.BadRequest) as err:
        neutron.check_security_group(cloud, CTX, "web")
    assert err.value.message == "Unable to find security_group with name or id 'web'"


def test_ports_become_addresses_and_groups():
    cloud = stand_in_cloud({"network": network_app})
    assert neutron.addresses(cloud, CTX, SERVER) == {"private": [
        {"version": 4, "addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"},
        {"version": 6, "addr": "fd00::5", "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]}
    assert neutron.server_networks(cloud, CTX, [SERVER])[SERVER][1] == [{"name": "default"},
                                                                    {"name": "web"}]
    assert neutron.check_security_group(cloud, CTX, "sg1") == "sg1"
    assert neutron.check_security_group(cloud, CTX, "web") == "sg2"
    with pytest.raises(exception.BadRequest):
        neutron.check_security_group(cloud, CTX, "nope")


def test_one_listing_of_ports_serves_every_server_of_a_view():
    other = "3f0a3c5e-9999-4222-8333-444455556666"
    asked: list[str] = []
    resources = dict(RESOURCES)
    port2 = {"id": "p2", "network_id": "n1", "mac_address": "fa:16:3e:00:00:02",
             "device_id": other, "security_groups": ["sg2"],
             "fixed_ips": [{"ip_address": "10.0.0.6"}]}
    resources[f"/v2.0/ports?device_id={SERVER}&device_id={other}"] = {
        "ports": PORTS["ports"] + [port2]}
    resources["/v2.0/floatingips?port_id=p1&port_id=p2"] = {"floatingips": [
        {"port_id": "p2", "floating_ip_address": "172.24.4.9"}]}

    @webob.dec.wsgify
    def app(req):
        asked.append(req.path_qs)
        if req.path_qs not in resources:
            return webob.Response(status=404, content_type="application/json", body=b"{}")
        return webob.Response(content_type="application/json",
                              body=json.dumps(resources[req.path_qs]).encode())

    views = neutron.server_networks(stand_in_cloud({"network": app}), CTX, [SERVER, other])
    assert views[other] == ({"private": [
        {"version": 4, "addr": "10.0.0.6", "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:02"},
        {"version": 4, "addr": "172.24.4.9", "OS-EXT-IPS:type": "floating",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:02"}]}, [{"name": "web"}])
    assert views[SERVER][1] == [{"name": "default"}, {"name": "web"}]
    # one listing of ports and of floating IPs; each network and group name asked once
    assert sorted(asked) == sorted([
        f"/v2.0/ports?device_id={SERVER}&device_id={other}",
        "/v2.0/floatingips?port_id=p1&port_id=p2", "/v2.0/networks/n1",
        "/v2.0/security-groups/sg1", "/v2.0/security-groups/sg2"])
