"""Keystone v3 over HTTP, in-process; runs on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from tests.helpers import ApiClient


@pytest.fixture
def idcloud(cloud_factory, database_url):
    return cloud_factory(database_url=database_url)


@pytest.fixture
def admin(idcloud):
    return ApiClient(idcloud)


def password_auth(user="admin", password="secret", project="admin"):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def test_discovery_needs_no_token(admin):
    root = admin.get("identity", "/", token=None)
    assert root.status == 300
    assert root.headers["Location"].endswith("/v3/")
    assert root.json["versions"]["values"][0]["id"] == "v3.14"
    v3 = admin.get("identity", "/v3", token=None)
    assert v3.status == 200
    assert v3.json["version"]["links"][0]["rel"] == "self"


def test_password_token_is_scoped_with_catalog(admin):
    resp = admin.post("identity", "/v3/auth/tokens", password_auth(), token=None)
    assert resp.status == 201
    assert resp.headers["X-Subject-Token"]
    token = resp.json["token"]
    assert token["methods"] == ["password"]
    assert token["project"]["name"] == "admin"
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert token["expires_at"].endswith("Z") and token["is_domain"] is False
    types = {s["type"] for s in token["catalog"]}
    assert types == {"identity", "compute", "image", "block-storage", "volumev3"}
    volume = next(s for s in token["catalog"] if s["type"] == "volumev3")
    public = next(e for e in volume["endpoints"] if e["interface"] == "public")
    assert public["url"].endswith("/v3/" + token["project"]["id"])
    assert public["region"] == public["region_id"] == "RegionOne"


def test_nocatalog_and_unscoped(admin):
    resp = admin.post("identity", "/v3/auth/tokens?nocatalog", password_auth(), token=None)
    assert "catalog" not in resp.json["token"]
    unscoped = admin.post("identity", "/v3/auth/tokens", password_auth(project=None),
                          token=None)
    assert unscoped.status == 201
    assert "project" not in unscoped.json["token"] and "catalog" not in unscoped.json["token"]


def test_wrong_password_is_401_with_keystone_body(admin):
    resp = admin.post("identity", "/v3/auth/tokens", password_auth(password="nope"),
                      token=None)
    assert resp.status == 401
    assert resp.json == {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires "
                                              "authentication."}}
    assert resp.headers["WWW-Authenticate"].startswith('Keystone uri="http://')


def test_scope_to_project_without_role_is_401(admin):
    resp = admin.post("identity", "/v3/auth/tokens", password_auth("demo", project="admin"),
                      token=None)
    assert resp.status == 401


def test_validate_head_and_revoke(admin):
    subject = admin.post("identity", "/v3/auth/tokens", password_auth(),
                         token=None).headers["X-Subject-Token"]
    ok = admin.get("identity", "/v3/auth/tokens", headers={"X-Subject-Token": subject})
    assert ok.status == 200 and ok.headers["X-Subject-Token"] == subject
    assert ok.json["token"]["user"]["name"] == "admin"
    assert admin.request("identity", "HEAD", "/v3/auth/tokens",
                         headers={"X-Subject-Token": subject}).status == 200
    assert admin.delete("identity", "/v3/auth/tokens",
                        headers={"X-Subject-Token": subject}).status == 204
    gone = admin.get("identity", "/v3/auth/tokens", headers={"X-Subject-Token": subject})
    assert gone.status == 404
    assert admin.get("identity", "/v3/users", token=subject).status == 401


def test_token_method_rescopes(admin):
    unscoped = admin.post("identity", "/v3/auth/tokens", password_auth(project=None),
                          token=None).headers["X-Subject-Token"]
    resp = admin.post("identity", "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}, token=None)
    assert resp.status == 201
    assert resp.json["token"]["project"]["name"] == "demo"
    assert resp.json["token"]["methods"][0] == "token"


def test_member_cannot_list_users(idcloud):
    demo = ApiClient(idcloud, "demo", "demo")
    resp = demo.get("identity", "/v3/users")
    assert resp.status == 403
    assert resp.json["error"]["title"] == "Forbidden"
    assert "identity:list_users" in resp.json["error"]["message"]
    own = demo.get("identity", f"/v3/users/{demo.user_id}")
    assert own.status == 200 and own.json["user"]["name"] == "demo"
    projects = demo.get("identity", "/v3/auth/projects")
    assert [p["name"] for p in projects.json["projects"]] == ["demo"]


def test_project_user_role_lifecycle(admin):
    p = admin.post("identity", "/v3/projects", {"project": {"name": "p1",
                                                            "description": "x"}})
    assert p.status == 201
    project = p.json["project"]
    assert project["domain_id"] == "default" and project["parent_id"] == "default"
    dup = admin.post("identity", "/v3/projects", {"project": {"name": "p1"}})
    assert dup.status == 409
    u = admin.post("identity", "/v3/users", {"user": {"name": "u1", "password": "pw1",
                                                      "default_project_id": project["id"]}})
    assert u.status == 201
    user = u.json["user"]
    assert "password" not in user
    member = admin.get("identity", "/v3/roles?name=member").json["roles"][0]
    grant = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}"
    assert admin.request("identity", "HEAD", grant).status == 404
    assert admin.put("identity", grant).status == 204
    assert admin.request("identity", "HEAD", grant).status == 204
    u1 = ApiClient(admin.cloud, "u1", "p1", "pw1")
    assert u1.get("identity", f"/v3/projects/{project['id']}").status == 200
    assignments = admin.get("identity",
                            f"/v3/role_assignments?user.id={user['id']}&include_names")
    assert assignments.json["role_assignments"][0]["role"]["name"] == "member"
    assert assignments.json["role_assignments"][0]["scope"]["project"]["name"] == "p1"
    patched = admin.patch("identity", f"/v3/users/{user['id']}", {"user": {"enabled": False}})
    assert patched.json["user"]["enabled"] is False
    assert u1.get("identity", f"/v3/projects/{project['id']}").status == 401
    assert admin.delete("identity", f"/v3/users/{user['id']}").status == 204
    assert admin.get("identity", f"/v3/users/{user['id']}").status == 404
    assert admin.delete("identity", f"/v3/projects/{project['id']}").status == 204


def test_not_found_messages(admin):
    resp = admin.get("identity", "/v3/projects/nope")
    assert resp.status == 404
    assert resp.json["error"]["message"] == "Could not find project: nope."


def test_catalog_crud(admin):
    svc = admin.post("identity", "/v3/services", {"service": {"type": "object-store",
                                                              "name": "swift"}})
    assert svc.status == 201
    sid = svc.json["service"]["id"]
    ep = admin.post("identity", "/v3/endpoints", {"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://x:8080/v1",
        "region_id": "RegionOne"}})
    assert ep.status == 201 and ep.json["endpoint"]["region"] == "RegionOne"
    bad = admin.post("identity", "/v3/endpoints", {"endpoint": {
        "service_id": sid, "interface": "bogus", "url": "http://x"}})
    assert bad.status == 400
    catalog = admin.get("identity", "/v3/auth/catalog").json["catalog"]
    assert any(s["type"] == "object-store" for s in catalog)
    regions = admin.get("identity", "/v3/regions").json["regions"]
    assert [r["id"] for r in regions] == ["RegionOne"]


def test_compute_without_token_is_401(admin):
    resp = admin.get("compute", "/v2.1/servers", token=None)
    assert resp.status == 401
    assert resp.json["error"]["code"] == 401
    assert "WWW-Authenticate" in resp.headers


def test_group_roles_count_for_members(admin):
    project = admin.post("identity", "/v3/projects", {"project": {"name": "gp"}}).json[
        "project"]
    user = admin.post("identity", "/v3/users", {"user": {"name": "gu", "password": "pw"}}).json[
        "user"]
    group = admin.post("identity", "/v3/groups", {"group": {"name": "g1"}})
    assert group.status == 201
    gid = group.json["group"]["id"]
    member = admin.get("identity", "/v3/roles?name=member").json["roles"][0]
    assert admin.put("identity", f"/v3/groups/{gid}/users/{user['id']}").status == 204
    assert admin.put("identity", f"/v3/projects/{project['id']}/groups/{gid}/roles/"
                                 f"{member['id']}").status == 204
    client = ApiClient(admin.cloud, "gu", "gp", "pw")
    assert client.get("identity", f"/v3/projects/{project['id']}").status == 200
    names = [r["name"] for r in client.get("identity", "/v3/auth/tokens", headers={
        "X-Subject-Token": client.token}).json["token"]["roles"]]
    assert sorted(names) == ["member", "reader"]
    listed = admin.get("identity", f"/v3/role_assignments?group.id={gid}").json
    assert listed["role_assignments"][0]["group"]["id"] == gid
    assert admin.delete("identity", f"/v3/groups/{gid}/users/{user['id']}").status == 204
    again = admin.post("identity", "/v3/auth/tokens", password_auth("gu", "pw", "gp"),
                       token=None)
    assert again.status == 401


def test_system_scope_and_rescope_keeps_expiry(admin):
    admin_role = admin.get("identity", "/v3/roles?name=admin").json["roles"][0]
    assert admin.put("identity", f"/v3/system/users/{admin.user_id}/roles/"
                                 f"{admin_role['id']}").status == 204
    body = password_auth(project=None)
    body["auth"]["scope"] = {"system": {"all": True}}
    resp = admin.post("identity", "/v3/auth/tokens", body, token=None)
    assert resp.status == 201
    assert resp.json["token"]["system"] == {"all": True}
    assert "catalog" in resp.json["token"]
    original = admin.post("identity", "/v3/auth/tokens", password_auth(), token=None)
    rescoped = admin.post("identity", "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["token"],
                     "token": {"id": original.headers["X-Subject-Token"]}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}, token=None)
    assert rescoped.json["token"]["expires_at"] == original.json["token"]["expires_at"]


def test_validation_errors_are_400(admin):
    long_name = admin.post("identity", "/v3/projects", {"project": {"name": "x" * 65}})
    assert long_name.status == 400
    svc = admin.post("identity", "/v3/services", {"service": {"type": "t"}}).json["service"]
    bad = admin.post("identity", "/v3/endpoints", {"endpoint": {
        "service_id": svc["id"], "interface": "public", "url": "http://x",
        "enabled": "False"}})
    assert bad.status == 400
    no_domain = admin.post("identity", "/v3/users", {"user": {"name": "n", "domain_id": "nope"}})
    assert no_domain.status == 404
