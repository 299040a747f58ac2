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
    # keystone-manage bootstrap (2023.2+): admin implies manager implies member implies reader
    assert {r["name"] for r in token["roles"]} == {"admin", "manager", "member", "reader"}
    assert token["expires_at"].endswith("Z") and token["is_domain"] is False
    types = {s["type"] for s in token["catalog"]}
    assert types == {"identity", "compute", "image", "block-storage", "volumev3", "network"}
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


def test_no_scope_takes_the_default_project_when_the_user_may_use_it(admin):
    """Keystone's default scoping: no scope → the user's default_project_id if enabled and
    the user has a role there, else unscoped; ``{"unscoped": {}}`` always unscoped."""
    project = admin.post("identity", "/v3/projects", {"project": {"name": "home"}}).json[
        "project"]
    admin.post("identity", "/v3/users", {"user": {
        "name": "dflt", "password": "pw-dflt", "default_project_id": project["id"]}})

    def token(scope=None):
        body = password_auth("dflt", "pw-dflt", project=None)
        if scope is not None:
            body["auth"]["scope"] = scope
        resp = admin.post("identity", "/v3/auth/tokens", body, token=None)
        assert resp.status == 201, resp
        return resp.json["token"]
    assert "project" not in token()          # no role on its default project yet
    user = admin.get("identity", "/v3/users?name=dflt").json["users"][0]
    member = admin.get("identity", "/v3/roles?name=member").json["roles"][0]
    assert admin.request("identity", "PUT", f"/v3/projects/{project['id']}/users/"
                                            f"{user['id']}/roles/{member['id']}").status == 204
    scoped = token()
    assert scoped["project"]["id"] == project["id"] and "catalog" in scoped
    assert "project" not in token({"unscoped": {}})
    admin.patch("identity", f"/v3/projects/{project['id']}", {"project": {"enabled": False}})
    assert "project" not in token()          # a disabled default project: unscoped


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


def _role(admin, name, **extra):
    resp = admin.post("identity", "/v3/roles", {"role": {"name": name, **extra}})
    assert resp.status == 201, resp
    return resp.json["role"]


def _user_on_project(admin, name):
    project = admin.post("identity", "/v3/projects", {"project": {"name": name}}).json[
        "project"]
    user = admin.post("identity", "/v3/users", {"user": {
        "name": name, "password": "pw-" + name, "default_project_id": project["id"]}}).json[
        "user"]
    return user, project


def test_implied_roles_rules_tokens_and_effective_assignments(admin):
    prior, implied, deeper = (_role(admin, n) for n in ("prior", "implied", "deeper"))
    url = f"/v3/roles/{prior['id']}/implies/{implied['id']}"
    assert admin.get("identity", url).status == 404
    put = admin.put("identity", url)
    assert put.status == 201
    rule = put.json["role_inference"]
    assert rule["prior_role"]["id"] == prior["id"] and rule["implies"]["name"] == "implied"
    assert rule["prior_role"]["links"]["self"].endswith(f"/v3/roles/{prior['id']}")
    assert admin.request("identity", "HEAD", url).status == 204
    assert admin.get("identity", url).json == put.json
    assert admin.put("identity", f"/v3/roles/{implied['id']}/implies/{deeper['id']}"
                     ).status == 201
    listed = admin.get("identity", f"/v3/roles/{prior['id']}/implies").json
    assert [r["id"] for r in listed["role_inference"]["implies"]] == [implied["id"]]
    everything = admin.get("identity", "/v3/role_inferences").json["role_inferences"]
    by_prior = {r["prior_role"]["name"]: {i["name"] for i in r["implies"]} for r in everything}
    assert by_prior["admin"] == {"manager"} and by_prior["manager"] == {"member"}
    assert by_prior["member"] == {"reader"} and "service" not in by_prior
    assert by_prior["prior"] == {"implied"} and by_prior["implied"] == {"deeper"}
    # admin can never be implied
    admin_id = next(r["id"] for r in admin.get("identity", "/v3/roles").json["roles"]
                    if r["name"] == "admin")
    assert admin.put("identity", f"/v3/roles/{prior['id']}/implies/{admin_id}").status == 403

    user, project = _user_on_project(admin, "implied-user")
    assert admin.put("identity", f"/v3/projects/{project['id']}/users/{user['id']}/roles/"
                                 f"{prior['id']}").status == 204
    q = f"/v3/role_assignments?effective&user.id={user['id']}&scope.project.id={project['id']}"
    effective = admin.get("identity", q).json["role_assignments"]
    assert {a["role"]["id"] for a in effective} == {prior["id"], implied["id"], deeper["id"]}
    assert any("prior_role" in a["links"] for a in effective)
    plain = admin.get("identity", q.replace("effective&", "")).json["role_assignments"]
    assert [a["role"]["id"] for a in plain] == [prior["id"]]
    token = admin.post("identity", "/v3/auth/tokens", password_auth(
        "implied-user", "pw-implied-user", "implied-user"), token=None)
    assert {r["name"] for r in token.json["token"]["roles"]} == {"prior", "implied", "deeper"}
    assert admin.delete("identity", url).status == 204
    assert admin.get("identity", url).status == 404
    effective = admin.get("identity", q).json["role_assignments"]
    assert [a["role"]["id"] for a in effective] == [prior["id"]]


def test_domain_specific_roles(admin):
    domain = admin.post("identity", "/v3/domains", {"domain": {"name": "rd"}}).json["domain"]
    global_role = _role(admin, "shared-name")
    d1 = _role(admin, "shared-name", domain_id=domain["id"])  # same name, other namespace
    d2 = _role(admin, "d2", domain_id=domain["id"])
    assert d1["domain_id"] == domain["id"]
    dup = admin.post("identity", "/v3/roles", {"role": {"name": "d2",
                                                        "domain_id": domain["id"]}})
    assert dup.status == 409
    names = [r["name"] for r in admin.get("identity", "/v3/roles").json["roles"]]
    assert names.count("shared-name") == 1 and "d2" not in names
    in_domain = admin.get("identity", f"/v3/roles?domain_id={domain['id']}").json["roles"]
    assert {r["id"] for r in in_domain} == {d1["id"], d2["id"]}
    # a domain role may imply a global one, never the other way round
    assert admin.put("identity", f"/v3/roles/{d1['id']}/implies/{global_role['id']}"
                     ).status == 201
    assert admin.put("identity", f"/v3/roles/{global_role['id']}/implies/{d2['id']}"
                     ).status == 403
    user, project = _user_on_project(admin, "domrole-user")
    admin.put("identity", f"/v3/projects/{project['id']}/users/{user['id']}/roles/{d1['id']}")
    admin.put("identity", f"/v3/projects/{project['id']}/users/{user['id']}/roles/{d2['id']}")
    effective = admin.get("identity", f"/v3/role_assignments?effective&user.id={user['id']}"
                          ).json["role_assignments"]
    # domain roles never show up themselves, only what they imply
    assert [a["role"]["id"] for a in effective] == [global_role["id"]]
    assert admin.delete("identity", f"/v3/roles/{d2['id']}").status == 204
    in_domain = admin.get("identity", f"/v3/roles?domain_id={domain['id']}").json["roles"]
    assert [r["id"] for r in in_domain] == [d1["id"]]


def test_group_system_grant(admin):
    group = admin.post("identity", "/v3/groups", {"group": {"name": "sysg"}}).json["group"]
    role = _role(admin, "sysrole")
    url = f"/v3/system/groups/{group['id']}/roles/{role['id']}"
    assert admin.request("identity", "HEAD", url).status == 404
    assert admin.put("identity", url).status == 204
    assert admin.request("identity", "HEAD", url).status == 204
    roles = admin.get("identity", f"/v3/system/groups/{group['id']}/roles").json["roles"]
    assert [r["id"] for r in roles] == [role["id"]]
    listed = admin.get("identity", f"/v3/role_assignments?scope.system=all&group.id="
                                   f"{group['id']}").json["role_assignments"]
    assert listed[0]["scope"] == {"system": {"all": True}}
    assert admin.delete("identity", url).status == 204
    assert admin.get("identity", f"/v3/system/groups/{group['id']}/roles").json["roles"] == []


def test_is_domain_project(admin):
    resp = admin.post("identity", "/v3/projects", {"project": {
        "name": "dom-as-project", "is_domain": True, "domain_id": None}})
    assert resp.status == 201, resp
    project = resp.json["project"]
    assert project["is_domain"] is True and project["domain_id"] is None
    ids = [p["id"] for p in admin.get("identity", "/v3/projects?is_domain=true").json[
        "projects"]]
    assert project["id"] in ids
    assert project["id"] in [d["id"] for d in admin.get("identity", "/v3/domains").json[
        "domains"]]
    assert project["id"] not in [p["id"] for p in admin.get("identity", "/v3/projects").json[
        "projects"]]
    shown = admin.get("identity", f"/v3/projects/{project['id']}").json["project"]
    assert shown == project
    assert admin.delete("identity", f"/v3/projects/{project['id']}").status == 403
    off = admin.patch("identity", f"/v3/projects/{project['id']}",
                      {"project": {"enabled": False}})
    assert off.status == 200 and off.json["project"]["enabled"] is False
    assert admin.delete("identity", f"/v3/projects/{project['id']}").status == 204
    assert admin.get("identity", f"/v3/domains/{project['id']}").status == 404


def test_ec2_and_generic_credentials(idcloud):
    demo = ApiClient(idcloud, "demo", "demo")
    demo.token  # log in
    path = f"/v3/users/{demo.user_id}/credentials/OS-EC2"
    created = demo.post("identity", path, {"tenant_id": demo.project_id})
    assert created.status == 201, created
    cred = created.json["credential"]
    assert cred["user_id"] == demo.user_id and cred["tenant_id"] == demo.project_id
    assert cred["access"] and cred["secret"]
    shown = demo.get("identity", f"{path}/{cred['access']}").json["credential"]
    assert {k: shown[k] for k in ("access", "secret", "tenant_id")} == \
        {k: cred[k] for k in ("access", "secret", "tenant_id")}
    assert [c["access"] for c in demo.get("identity", path).json["credentials"]] == \
        [cred["access"]]
    # the same secret through the generic API, as an ec2 credential named by sha256(access)
    admin = ApiClient(idcloud)
    generic = admin.get("identity", f"/v3/credentials?type=ec2&user_id={demo.user_id}").json[
        "credentials"]
    assert len(generic) == 1 and generic[0]["project_id"] == demo.project_id
    # another user cannot see them
    other = admin.get("identity", f"/v3/users/{admin.user_id}/credentials/OS-EC2")
    assert other.status == 200
    assert demo.get("identity", f"/v3/users/{admin.user_id}/credentials/OS-EC2").status == 403
    assert demo.delete("identity", f"{path}/{cred['access']}").status == 204
    assert demo.get("identity", f"{path}/{cred['access']}").status == 404

    body = {"credential": {"user_id": demo.user_id, "type": "cert", "blob": "secret-blob",
                           "project_id": demo.project_id}}
    c = admin.post("identity", "/v3/credentials", body)
    assert c.status == 201 and c.json["credential"]["blob"] == "secret-blob"
    cid = c.json["credential"]["id"]
    upd = admin.patch("identity", f"/v3/credentials/{cid}", {"credential": {"blob": "new"}})
    assert upd.json["credential"]["blob"] == "new"
    mine = demo.get("identity", "/v3/credentials").json["credentials"]
    assert [x["id"] for x in mine] == [cid]
    assert admin.delete("identity", f"/v3/credentials/{cid}").status == 204
    assert admin.get("identity", f"/v3/credentials/{cid}").status == 404


def test_application_credentials(idcloud):
    demo = ApiClient(idcloud, "demo", "demo")
    demo.token  # log in
    path = f"/v3/users/{demo.user_id}/application_credentials"
    resp = demo.post("identity", path, {"application_credential": {
        "name": "ci", "description": "for CI", "expires_at": "2099-01-02T03:04:05.123456"}})
    assert resp.status == 201, resp
    cred = resp.json["application_credential"]
    assert cred["secret"] and cred["project_id"] == demo.project_id
    assert cred["expires_at"] == "2099-01-02T03:04:05.123456"
    assert {r["name"] for r in cred["roles"]} == {"member", "reader"}
    shown = demo.get("identity", f"{path}/{cred['id']}").json["application_credential"]
    assert "secret" not in shown and shown["name"] == "ci"
    assert demo.post("identity", path, {"application_credential": {"name": "ci"}}
                     ).status == 409
    demo.post("identity", path, {"application_credential": {
        "name": "ro", "roles": [{"name": "reader"}]}})
    assert [c["name"] for c in demo.get("identity", f"{path}?name=ro").json[
        "application_credentials"]] == ["ro"]
    assert len(demo.get("identity", path).json["application_credentials"]) == 2

    auth = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred["id"],
                                                             "secret": cred["secret"]}}}}
    token = demo.post("identity", "/v3/auth/tokens", auth, token=None)
    assert token.status == 201, token
    body = token.json["token"]
    assert body["methods"] == ["application_credential"]
    assert body["project"]["id"] == demo.project_id
    assert body["application_credential"] == {"id": cred["id"], "name": "ci",
                                              "restricted": True}
    by_name = {"auth": {"identity": {"methods": ["application_credential"],
                                     "application_credential": {
                                         "name": "ci", "secret": cred["secret"],
                                         "user": {"name": "demo",
                                                  "domain": {"id": "default"}}}}}}
    assert demo.post("identity", "/v3/auth/tokens", by_name, token=None).status == 201
    bad = {"auth": {"identity": {"methods": ["application_credential"],
                                 "application_credential": {"id": cred["id"],
                                                            "secret": "nope"}}}}
    assert demo.post("identity", "/v3/auth/tokens", bad, token=None).status == 401
    # a restricted application credential cannot make more of them
    subject = token.headers["X-Subject-Token"]
    assert demo.post("identity", path, {"application_credential": {"name": "x"}},
                     token=subject).status == 403
    assert demo.delete("identity", f"{path}/{cred['id']}").status == 204
    assert demo.get("identity", "/v3/auth/tokens", headers={"X-Subject-Token": subject}
                    ).status == 404
    assert demo.post("identity", "/v3/auth/tokens", auth, token=None).status == 401


def test_project_tags_one_by_one_and_all_at_once(admin):
    """/v3/projects/{id}/tags as Keystone: PUT one → 201 + Location, GET/HEAD one → 204 or
    404, PUT all → 200 with the list, DELETE one/all → 204, Keystone's limits → 400."""
    pid = admin.post("identity", "/v3/projects", {"project": {"name": "tagged"}}).json[
        "project"]["id"]
    tags = f"/v3/projects/{pid}/tags"
    one = admin.request("identity", "PUT", f"{tags}/blue")
    assert one.status == 201 and one.headers["Location"].endswith(f"{tags}/blue")
    assert admin.request("identity", "HEAD", f"{tags}/blue").status == 204
    assert admin.get("identity", tags).json["tags"] == ["blue"]
    put = admin.request("identity", "PUT", tags, {"tags": ["a", "b", "c"]})
    assert put.status == 200 and sorted(put.json["tags"]) == ["a", "b", "c"]
    assert admin.get("identity", f"/v3/projects/{pid}").json["project"]["tags"] == [
        "a", "b", "c"]
    assert admin.delete("identity", f"{tags}/a").status == 204
    missing = admin.get("identity", f"{tags}/a")
    assert missing.status == 404
    assert missing.json["error"]["message"] == "Could not find project tag: a."
    assert admin.delete("identity", f"{tags}/a").status == 404
    assert admin.request("identity", "PUT", tags, {"tags": ["x,y"]}).status == 400
    assert admin.request("identity", "PUT", tags,
                         {"tags": [f"t{i}" for i in range(81)]}).status == 400
    assert admin.delete("identity", tags).status == 204
    assert admin.get("identity", tags).json["tags"] == []
    assert admin.get("identity", "/v3/projects/nope/tags").status == 404
    demo = ApiClient(admin.cloud, "demo", "demo")
    assert demo.request("identity", "PUT", f"{tags}/mine").status == 403


def test_policies_crud(admin):
    """/v3/policies: blob and type required, extra keys kept, filter by type, 404 after
    delete, members forbidden."""
    assert admin.post("identity", "/v3/policies", {"policy": {"type": "t"}}).status == 400
    made = admin.post("identity", "/v3/policies", {"policy": {
        "blob": '{"a": 1}', "type": "application/json", "note": "kept"}})
    assert made.status == 201, made
    pol = made.json["policy"]
    assert pol["blob"] == '{"a": 1}' and pol["note"] == "kept"
    assert pol["links"]["self"].endswith(f"/v3/policies/{pol['id']}")
    upd = admin.patch("identity", f"/v3/policies/{pol['id']}", {"policy": {"type": "x"}})
    assert upd.status == 200 and upd.json["policy"]["type"] == "x"
    assert [p["id"] for p in admin.get("identity", "/v3/policies?type=x").json[
        "policies"]] == [pol["id"]]
    assert admin.get("identity", "/v3/policies?type=none").json["policies"] == []
    demo = ApiClient(admin.cloud, "demo", "demo")
    assert demo.get("identity", "/v3/policies").status == 403
    assert admin.delete("identity", f"/v3/policies/{pol['id']}").status == 204
    assert admin.get("identity", f"/v3/policies/{pol['id']}").status == 404


def test_inherited_grants_reach_the_projects_below_not_the_target(admin):
    """OS-INHERIT: a role inherited from a domain or a project reaches every project below
    it (tokens, effective role assignments, /v3/users/{id}/projects), never the target
    itself, and coexists with a direct grant of the same role."""
    dom = admin.post("identity", "/v3/domains", {"domain": {"name": "inh"}}).json["domain"]
    parent = admin.post("identity", "/v3/projects", {"project": {
        "name": "parent", "domain_id": dom["id"]}}).json["project"]
    leaf = admin.post("identity", "/v3/projects", {"project": {
        "name": "leaf", "domain_id": dom["id"], "parent_id": parent["id"]}}).json["project"]
    user = admin.post("identity", "/v3/users", {"user": {
        "name": "heir", "password": "pw-heir", "domain_id": dom["id"]}}).json["user"]
    role = admin.get("identity", "/v3/roles?name=member").json["roles"][0]
    grant = (f"/v3/OS-INHERIT/projects/{parent['id']}/users/{user['id']}/roles/{role['id']}"
             "/inherited_to_projects")

    def scoped(project):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": user["id"], "password": "pw-heir"}}}, "scope": {"project": {
                "id": project["id"]}}}}
        return admin.post("identity", "/v3/auth/tokens", body, token=None).status

    assert admin.request("identity", "HEAD", grant).status == 404
    assert admin.request("identity", "PUT", grant).status == 204
    assert admin.request("identity", "HEAD", grant).status == 204
    assert scoped(leaf) == 201 and scoped(parent) == 401
    listed = admin.get("identity", f"/v3/role_assignments?user.id={user['id']}").json[
        "role_assignments"]
    assert listed[0]["scope"] == {"project": {"id": parent["id"]},
                                  "OS-INHERIT:inherited_to": "projects"}
    assert listed[0]["links"]["assignment"].endswith(grant)
    effective = admin.get("identity", f"/v3/role_assignments?effective&user.id={user['id']}"
                          ).json["role_assignments"]
    assert {a["scope"]["project"]["id"] for a in effective} == {leaf["id"]}
    # A direct grant of the same role on the parent coexists with the inherited one.
    direct = f"/v3/projects/{parent['id']}/users/{user['id']}/roles/{role['id']}"
    assert admin.request("identity", "PUT", direct).status == 204
    assert scoped(parent) == 201
    assert admin.delete("identity", grant).status == 204
    assert scoped(leaf) == 401 and scoped(parent) == 201
    # From the domain: every project of it, listed under the domain's inherited roles.
    on_domain = (f"/v3/OS-INHERIT/domains/{dom['id']}/users/{user['id']}/roles/"
                 f"{role['id']}/inherited_to_projects")
    assert admin.request("identity", "PUT", on_domain).status == 204
    assert scoped(leaf) == 201
    roles = admin.get("identity", f"/v3/OS-INHERIT/domains/{dom['id']}/users/{user['id']}"
                                  "/roles/inherited_to_projects").json["roles"]
    assert [r["id"] for r in roles] == [role["id"]]
    assert admin.get("identity", f"/v3/domains/{dom['id']}/users/{user['id']}/roles"
                     ).json["roles"] == []
    projects = admin.get("identity", f"/v3/users/{user['id']}/projects").json["projects"]
    assert {p["id"] for p in projects} == {parent["id"], leaf["id"]}


def test_domain_config_whole_group_and_option(admin):
    """/v3/domains/{id}/config as Keystone: PUT 201 then 200, GET of a group or an option,
    PATCH only of what exists, DELETE of an option, a group and all; the LDAP password is
    stored but never shown; an unsupported group is 403; defaults are served."""
    dom = admin.post("identity", "/v3/domains", {"domain": {"name": "cfg"}}).json["domain"]
    at = f"/v3/domains/{dom['id']}/config"
    assert admin.get("identity", at).status == 404
    assert admin.patch("identity", f"{at}/identity", {"config": {
        "identity": {"driver": "ldap"}}}).status == 404      # no such group stored yet
    config = {"identity": {"driver": "ldap"},
              "ldap": {"url": "ldap://x/", "user_tree_dn": "ou=Users", "password": "pw"}}
    made = admin.request("identity", "PUT", at, {"config": config})
    assert made.status == 201
    assert made.json["config"] == {"identity": {"driver": "ldap"},
                                   "ldap": {"url": "ldap://x/", "user_tree_dn": "ou=Users"}}
    assert admin.request("identity", "PUT", at, {"config": config}).status == 200
    assert admin.get("identity", f"{at}/ldap/url").json == {"config": {"url": "ldap://x/"}}
    assert admin.get("identity", f"{at}/ldap/password").status == 404
    upd = admin.patch("identity", f"{at}/identity", {"config": {"identity": {
        "driver": "sql", "list_limit": 5}}})
    assert upd.status == 200 and upd.json["config"]["identity"] == {
        "driver": "sql", "list_limit": 5}
    assert admin.patch("identity", f"{at}/identity/list_limit",
                       {"config": {"list_limit": 7}}).json["config"]["identity"][
        "list_limit"] == 7
    admin.delete("identity", f"{at}/identity/list_limit")
    # An option or group not stored yet cannot be patched through its own URL.
    assert admin.patch("identity", f"{at}/identity/list_limit",
                       {"config": {"list_limit": 7}}).status == 404
    bad = admin.request("identity", "PUT", at, {"config": {"token": {"expiration": 1}}})
    assert bad.status == 403
    assert bad.json["error"]["message"] == ("Invalid domain specific configuration: Group "
                                            "token is not supported for domain specific "
                                            "configurations.")
    assert admin.delete("identity", f"{at}/ldap/url").status == 204
    assert admin.get("identity", f"{at}/ldap/url").status == 404
    assert admin.delete("identity", f"{at}/identity").status == 204
    assert admin.delete("identity", at).status == 204
    gone = admin.get("identity", at)
    assert gone.json["error"]["message"] == (
        f"Could not find any options in domain configuration for domain {dom['id']}.")
    # A PATCH of the whole config stores what it names, as Keystone's update_config does.
    patched = admin.patch("identity", at, {"config": {"identity": {"driver": "ldap"}}})
    assert patched.status == 200 and patched.json["config"] == {"identity": {"driver": "ldap"}}
    default = admin.get("identity", "/v3/domains/config/default").json["config"]
    assert default["identity"] == {"driver": "sql", "list_limit": None}
    assert admin.get("identity", "/v3/domains/config/ldap/url/default").json == {
        "config": {"url": "ldap://localhost"}}


def test_endpoint_groups_crud(admin):
    """/v3/OS-EP-FILTER/endpoint_groups: name and filters required, only endpoint
    properties as filters, HEAD to check, update, delete."""
    at = "/v3/OS-EP-FILTER/endpoint_groups"
    assert admin.post("identity", at, {"endpoint_group": {"name": "g"}}).status == 400
    assert admin.post("identity", at, {"endpoint_group": {
        "name": "g", "filters": {"url": "x"}}}).status == 400
    made = admin.post("identity", at, {"endpoint_group": {
        "name": "g", "description": "d", "filters": {"interface": "public"}}})
    assert made.status == 201, made
    group = made.json["endpoint_group"]
    assert group["links"]["self"].endswith(f"{at}/{group['id']}")
    assert admin.request("identity", "HEAD", f"{at}/{group['id']}").status == 200
    upd = admin.patch("identity", f"{at}/{group['id']}", {"endpoint_group": {
        "filters": {"service_id": "abc"}}})
    assert upd.status == 200 and upd.json["endpoint_group"]["filters"] == {"service_id": "abc"}
    assert [g["id"] for g in admin.get("identity", at).json["endpoint_groups"]] == [
        group["id"]]
    assert admin.delete("identity", f"{at}/{group['id']}").status == 204
    assert admin.request("identity", "HEAD", f"{at}/{group['id']}").status == 404


def test_oauth1_consumers_show_their_secret_once(admin):
    at = "/v3/OS-OAUTH1/consumers"
    made = admin.post("identity", at, {"consumer": {"description": "app", "secret": "mine"}})
    assert made.status == 201, made
    consumer = made.json["consumer"]
    assert len(consumer["secret"]) == 32 and consumer["secret"] != "mine"
    shown = admin.get("identity", f"{at}/{consumer['id']}").json["consumer"]
    assert "secret" not in shown and shown["description"] == "app"
    assert shown["links"]["self"].endswith(f"{at}/{consumer['id']}")
    bad = admin.patch("identity", f"{at}/{consumer['id']}", {"consumer": {"secret": "x"}})
    assert bad.status == 400 and bad.json["error"]["message"] == "Cannot change consumer secret"
    upd = admin.patch("identity", f"{at}/{consumer['id']}", {"consumer": {"description": "b"}})
    assert upd.status == 200 and upd.json["consumer"]["description"] == "b"
    assert [c["id"] for c in admin.get("identity", at).json["consumers"]] == [consumer["id"]]
    assert admin.delete("identity", f"{at}/{consumer['id']}").status == 204
    assert admin.get("identity", f"{at}/{consumer['id']}").status == 404
