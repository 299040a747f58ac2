"""Server sub-resources and checks as Nova gives them: ips, views per microversion,
metadata quota, requested security groups (expected texts from nova's own code)."""

from __future__ import annotations

from tests.functional.test_compute_servers import LATEST, boot, image, settled, v  # noqa: F401

MISSING = "5f9a0b43-0000-4000-8000-000000000000"


def test_ips_without_networking(demo, image):  # noqa: F811
    resp = boot(demo, image)
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    shown = settled(demo, sid)
    # no ports: no addresses, and views/servers.py _add_security_grps adds no key
    assert shown["addresses"] == {} and "security_groups" not in shown
    ips = demo.get("compute", f"/v2.1/servers/{sid}/ips")
    assert ips.status == 200, ips
    assert ips.json == {"addresses": {}}
    one = demo.get("compute", f"/v2.1/servers/{sid}/ips/private")
    # nova/api/openstack/compute/ips.py: show() for a label the server is not on
    assert one.status == 404
    assert one.json == {"itemNotFound": {
        "code": 404, "message": "Instance is not a member of specified network"}}
    gone = demo.get("compute", f"/v2.1/servers/{MISSING}/ips")
    assert gone.status == 404
    assert gone.json["itemNotFound"]["message"] == f"Instance {MISSING} could not be found."


def test_server_groups_only_in_show_and_update(api, image):  # noqa: F811
    group = api.post("compute", "/v2.1/os-server-groups",
                     {"server_group": {"name": "g", "policies": ["affinity"]}}).json
    gid = group["server_group"]["id"]
    resp = api.post("compute", "/v2.1/servers", {
        "server": {"name": "grp", "imageRef": image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": {"group": gid}}, headers=LATEST)
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settled(api, sid)
    for version in ("2.71", "2.96", "2.98", "2.100"):
        shown = api.get("compute", f"/v2.1/servers/{sid}", headers=v(version)).json["server"]
        assert shown["server_groups"] == [gid], version
        # views/servers.py: "This is shown from 2.71 or later _except_ for the server
        # detail view"
        listed = api.get("compute", "/v2.1/servers/detail",
                         headers=v(version)).json["servers"]
        assert [s["id"] for s in listed] == [sid]
        assert "server_groups" not in listed[0], version
        updated = api.put("compute", f"/v2.1/servers/{sid}", {"server": {"name": "n"}},
                          headers=v(version)).json["server"]
        assert updated["server_groups"] == [gid], version
    old = api.get("compute", f"/v2.1/servers/{sid}", headers=v("2.70")).json["server"]
    assert "server_groups" not in old


def test_metadata_quota_is_128_items(demo, image):  # noqa: F811
    # nova.exception.MetadataLimitExceeded, answered 403 by create and the metadata API
    too_many = {f"k{i}": "v" for i in range(129)}
    resp = boot(demo, image, metadata=too_many)
    assert resp.status == 403, resp
    assert resp.json == {"forbidden": {
        "code": 403, "message": "Maximum number of metadata items exceeds 128"}}
    resp = boot(demo, image, metadata={f"k{i}": "v" for i in range(128)})
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    path = f"/v2.1/servers/{sid}/metadata"
    more = demo.post("compute", path, {"metadata": {"extra": "v"}})
    assert more.status == 403, more
    assert more.json["forbidden"]["message"] == "Maximum number of metadata items exceeds 128"
    item = demo.put("compute", f"{path}/extra", {"meta": {"extra": "v"}})
    assert item.status == 403, item
    replaced = demo.put("compute", path, {"metadata": too_many})
    assert replaced.status == 403, replaced
    assert len(demo.get("compute", path).json["metadata"]) == 128
    assert demo.put("compute", f"{path}/k0", {"meta": {"k0": "w"}}).status == 200
    assert demo.delete("compute", f"{path}/k1").status == 204
    assert demo.post("compute", path, {"metadata": {"extra": "v"}}).status == 200


def test_unknown_security_group_is_400(demo, image):  # noqa: F811
    resp = boot(demo, image, security_groups=[{"name": "nonexistent-sg"}])
    assert resp.status == 400, resp
    # Nova's SecurityGroupNotFound carries neutronclient's find_resourceid_by_name_or_id text
    assert resp.json == {"badRequest": {
        "code": 400,
        "message": "Unable to find security_group with name or id 'nonexistent-sg'"}}
    ok = boot(demo, image, security_groups=[{"name": "default"}])
    assert ok.status == 202, ok
    assert ok.json["server"]["security_groups"] == [{"name": "default"}]
