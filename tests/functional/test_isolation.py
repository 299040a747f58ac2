"""Isolation matrix: every route × every verb, called by a member of another project with
the ids of the admin project's resources, must not succeed (0 leaks), in-process."""

from __future__ import annotations

import json
import re

import pytest

from tests import fuzzing
from tests.helpers import ApiClient, settle, wait_for

LATEST = {"compute": {"OpenStack-API-Version": "compute 2.100"},
          "volume": {"OpenStack-API-Version": "volume 3.70"}}

# Routes that answer a member of any project by design (with the real services too):
# the defaults and this project's own limits; discovery and schema documents; the
# caller's own token; a transfer is accepted with its auth key (refused without: 4xx).
OPEN_BY_DESIGN = {
    ("GET", "/v2.1/os-quota-sets/{project_id_q}/defaults"),
    ("GET", "/v3/os-quota-sets/{target_project}/defaults"),
}
# Path parameters that name something owned by a project or a user (the admin's here).
OWNED = {"server_id", "volume_id", "snapshot_id", "attachment_id", "transfer_id",
         "image_id", "type_id", "user_id", "credential_id", "app_cred_id", "project_id_q",
         "target_project", "aggregate_id", "hypervisor_id", "flavor_id", "entity_id",
         "message_id", "group_id", "target_id", "access", "member_id", "service_id"}


@pytest.fixture
def owned(cloud, api):
    """One of each resource, owned by the admin project (or admin-only)."""
    ids: dict[str, str] = {}

    def ok(resp, *codes):
        assert resp.status in (codes or (200, 201, 202)), resp
        return resp.json if resp.body else {}

    img = ok(api.post("image", "/v2/images", {"name": "priv", "disk_format": "raw",
                                              "container_format": "bare"}))
    ids["image_id"] = img["id"]
    up = api.request("image", "PUT", f"/v2/images/{img['id']}/file", raw=b"\0" * 512,
                     headers={"Content-Type": "application/octet-stream"})
    assert up.status == 204, up
    flavor = ok(api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "privf", "ram": 64, "vcpus": 1, "disk": 0,
        "os-flavor-access:is_public": False}}))
    ids["flavor_id"] = flavor["flavor"]["id"]
    server = ok(api.post("compute", "/v2.1/servers", {"server": {
        "name": "s", "imageRef": img["id"], "flavorRef": "1", "networks": "none"}},
        headers=LATEST["compute"]))["server"]
    ids["server_id"] = server["id"]
    wait_for(lambda: api.get("compute", f"/v2.1/servers/{server['id']}").json["server"][
        "status"] == "ACTIVE", timeout=20)
    vtype = ok(api.post("volume", "/v3/types", {"volume_type": {
        "name": "privt", "os-volume-type-access:is_public": False}}))
    ids["type_id"] = vtype["volume_type"]["id"]
    ok(api.post("volume", f"/v3/types/{ids['type_id']}/extra_specs",
                {"extra_specs": {"secret": "x"}}))
    vol = ok(api.post("volume", "/v3/volumes", {"volume": {"size": 1}}))["volume"]
    ids["volume_id"] = vol["id"]
    wait_for(lambda: api.get("volume", f"/v3/volumes/{vol['id']}").json["volume"][
        "status"] == "available", timeout=20)
    ok(api.post("volume", f"/v3/volumes/{vol['id']}/metadata", {"metadata": {"k": "v"}}))
    snap = ok(api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vol["id"]}}))
    ids["snapshot_id"] = snap["snapshot"]["id"]
    vol2 = ok(api.post("volume", "/v3/volumes", {"volume": {"size": 1}}))["volume"]
    wait_for(lambda: api.get("volume", f"/v3/volumes/{vol2['id']}").json["volume"][
        "status"] == "available", timeout=20)
    att = ok(api.post("volume", "/v3/attachments", {"attachment": {
        "volume_uuid": vol2["id"], "instance_uuid": server["id"]}},
        headers={"OpenStack-API-Version": "volume 3.27"}))
    ids["attachment_id"] = att["attachment"]["id"]
    vol3 = ok(api.post("volume", "/v3/volumes", {"volume": {"size": 1}}))["volume"]
    wait_for(lambda: api.get("volume", f"/v3/volumes/{vol3['id']}").json["volume"][
        "status"] == "available", timeout=20)
    transfer = ok(api.post("volume", "/v3/os-volume-transfer",
                           {"transfer": {"volume_id": vol3["id"]}}))
    ids["transfer_id"] = transfer["transfer"]["id"]
    group = ok(api.post("compute", "/v2.1/os-server-groups", {"server_group": {
        "name": "g", "policies": ["affinity"]}}))
    ids["group_id"] = group["server_group"]["id"]
    ids["user_id"] = ids["entity_id"] = api.user_id
    ids["project_id_q"] = ids["target_project"] = ids["target_id"] = api.project_id
    ids["member_id"] = api.project_id
    cred = ok(api.post("identity", "/v3/credentials", {"credential": {
        "type": "ec2", "user_id": api.user_id, "project_id": api.project_id,
        "blob": json.dumps({"access": "adminaccess", "secret": "s"})}}))
    ids["credential_id"] = cred["credential"]["id"]
    ids["access"] = "adminaccess"
    appcred = ok(api.post("identity", f"/v3/users/{api.user_id}/application_credentials",
                          {"application_credential": {"name": "ac"}}))
    ids["app_cred_id"] = appcred["application_credential"]["id"]
    agg = ok(api.post("compute", "/v2.1/os-aggregates", {"aggregate": {"name": "agg"}}))
    ids["aggregate_id"] = str(agg["aggregate"]["id"])
    hyp = ok(api.get("compute", "/v2.1/os-hypervisors"))["hypervisors"][0]
    ids["hypervisor_id"] = str(hyp["id"])
    svc = ok(api.get("identity", "/v3/services"))["services"][0]
    ids["service_id"] = svc["id"]
    ids["message_id"] = "00000000-0000-0000-0000-000000000000"
    settle(cloud)
    return ids


def _body(method: str, template: str, ids: dict[str, str]):
    seeds = fuzzing.SEEDS.get((method, template))
    if not seeds:
        return {} if method in ("POST", "PUT", "PATCH") else None
    text = json.dumps(seeds[0])
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


# Ids that no list answered to another project's member may contain.
PRIVATE = ("server_id", "volume_id", "snapshot_id", "attachment_id", "transfer_id",
           "image_id", "type_id", "flavor_id", "group_id", "credential_id", "app_cred_id")


def test_member_of_another_project_gets_nothing(cloud, api, owned):
    demo = ApiClient(cloud, "demo", "demo")
    leaks, calls = [], 0
    for case in fuzzing.all_cases(cloud):
        params = re.findall(r"\{(\w+)\}", case.template)
        if not params and case.method == "GET":
            for query in ("", "?all_tenants=1", "?all_tenants=True&project_id=" +
                          owned["target_id"]):
                resp = demo.request(case.service, "GET", case.template + query,
                                    headers=LATEST.get(case.service, {}))
                calls += 1
                seen = [k for k in PRIVATE if owned[k].encode() in resp.body]
                if seen:
                    leaks.append((case.template + query, resp.status, seen))
            continue
        if not set(params) & OWNED:
            continue
        if (case.method, case.template) in OPEN_BY_DESIGN:
            continue
        values = {p: owned.get(p, "x") for p in params}
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], case.template)
        body = _body(case.method, case.template, owned)
        headers = LATEST.get(case.service, {})
        if case.service == "image" and case.method == "PATCH":
            headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
            body = [{"op": "replace", "path": "/name", "value": "stolen"}]
        resp = demo.request(case.service, case.method, path, body, headers=headers)
        calls += 1
        assert resp.status < 500, (case, resp)
        if resp.status < 300:
            leaks.append((case.method, path, resp.status, resp.body[:200]))
    assert calls > 150
    assert leaks == []
    # And nothing of the admin's changed meanwhile.
    assert api.get("volume", f"/v3/volumes/{owned['volume_id']}").status == 200
    assert api.get("compute", f"/v2.1/servers/{owned['server_id']}").status == 200
    assert api.get("image", f"/v2/images/{owned['image_id']}").json["name"] == "priv"
