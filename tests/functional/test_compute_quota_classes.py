"""/os-quota-class-sets: the default class overrides the [quota] defaults."""

from __future__ import annotations


def test_default_quota_class_update_applies_to_projects(api, demo):
    body = api.get("compute", "/v2.1/os-quota-class-sets/default").json["quota_class_set"]
    assert body.pop("id") == "default"
    assert "server_groups" not in body and body["floating_ips"] == -1
    wanted = {k: v + 100 for k, v in body.items()}
    upd = api.put("compute", "/v2.1/os-quota-class-sets/default",
                  {"quota_class_set": wanted})
    assert upd.status == 200, upd
    assert upd.json["quota_class_set"] == wanted
    shown = api.get("compute", "/v2.1/os-quota-class-sets/default").json["quota_class_set"]
    assert {k: shown[k] for k in wanted} == wanted
    project = demo.get("compute", "/v2.1/limits").json["limits"]["absolute"]
    assert project["maxTotalInstances"] == wanted["instances"]
    new = api.get("compute", "/v2.1/os-quota-class-sets/default",
                  headers={"OpenStack-API-Version": "compute 2.57"}).json["quota_class_set"]
    assert "floating_ips" not in new and "injected_files" not in new
    assert "server_groups" in new
    assert demo.get("compute", "/v2.1/os-quota-class-sets/default").status == 403
