"""Flavor create: os-flavor-access:is_public takes Nova's boolean strings."""

from __future__ import annotations


def _create(api, name, is_public):
    return api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": name, "ram": 64, "vcpus": 1, "disk": 0,
        "os-flavor-access:is_public": is_public}})


def test_is_public_string_false_makes_a_private_flavor(api, demo):
    resp = _create(api, "private-one", "False")
    assert resp.status == 200, resp
    flavor = resp.json["flavor"]
    assert flavor["os-flavor-access:is_public"] is False
    names = [f["name"] for f in demo.get("compute", "/v2.1/flavors/detail").json["flavors"]]
    assert "private-one" not in names
    private = api.get("compute", "/v2.1/flavors/detail?is_public=f").json["flavors"]
    assert [f["name"] for f in private] == ["private-one"]
    add = api.post("compute", f"/v2.1/flavors/{flavor['id']}/action",
                   {"addTenantAccess": {"tenant": "p1"}})
    assert add.status == 200, add
    assert _create(api, "public-one", "true").json["flavor"]["os-flavor-access:is_public"]
    assert _create(api, "bad-one", "maybe").status == 400
