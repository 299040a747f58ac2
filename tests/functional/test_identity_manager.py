"""Keystone's manager role: created by bootstrap between admin and member
(keystone/cmd/bootstrap.py), and the domain manager persona of
keystone/common/policies/{user,project}.py."""

from __future__ import annotations

from stackling.db.models import ImpliedRole, Role
from stackling.identity import bootstrap


def _roles(api) -> dict[str, str]:
    return {r["name"]: r["id"] for r in api.get("identity", "/v3/roles").json["roles"]}


def test_bootstrap_default_roles_and_inference_chain(cloud, api):
    roles = _roles(api)
    assert {"admin", "manager", "member", "reader", "service"} <= set(roles)
    rules = api.get("identity", "/v3/role_inferences").json["role_inferences"]
    by_prior = {r["prior_role"]["name"]: sorted(i["name"] for i in r["implies"])
                for r in rules}
    assert by_prior == {"admin": ["manager"], "manager": ["member"], "member": ["reader"]}
    # An older bootstrap's admin -> member rule is removed, as keystone-manage does.
    with cloud.db.writer() as s:
        s.add(ImpliedRole(prior_role_id=roles["admin"], implied_role_id=roles["member"]))
    bootstrap.bootstrap(cloud)
    with cloud.db.reader() as s:
        assert s.get(ImpliedRole, (roles["admin"], roles["member"])) is None
        assert s.query(Role).filter_by(name="manager").count() == 1


def _domain_token(api, name, password, domain_id) -> str:
    resp = api.post("identity", "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": domain_id}, "password": password}}},
        "scope": {"domain": {"id": domain_id}}}}, token=None)
    assert resp.status == 201, resp
    roles = {r["name"] for r in resp.json["token"]["roles"]}
    return resp.headers["X-Subject-Token"], roles


def _domain_with_manager(api, name):
    """A new domain and a user holding manager on it: (domain id, user id, its token)."""
    domain = api.post("identity", "/v3/domains", {"domain": {"name": name}}).json["domain"]["id"]
    uid = api.post("identity", "/v3/users", {"user": {
        "name": f"boss-{name}", "domain_id": domain, "password": "pw"}}).json["user"]["id"]
    assert api.put("identity", f"/v3/domains/{domain}/users/{uid}/roles/"
                               f"{_roles(api)['manager']}").status == 204
    token, _ = _domain_token(api, f"boss-{name}", "pw", domain)
    return domain, uid, token


def test_domain_manager_manages_users_and_projects_of_its_domain(api):
    roles = _roles(api)
    d1 = api.post("identity", "/v3/domains", {"domain": {"name": "d1"}}).json["domain"]["id"]
    for name, role in (("boss", "manager"), ("staff", "member")):
        uid = api.post("identity", "/v3/users", {"user": {
            "name": name, "domain_id": d1, "password": "pw"}}).json["user"]["id"]
        assert api.put("identity", f"/v3/domains/{d1}/users/{uid}/roles/{roles[role]}"
                       ).status == 204
    boss, boss_roles = _domain_token(api, "boss", "pw", d1)
    assert boss_roles == {"manager", "member", "reader"}
    staff, _ = _domain_token(api, "staff", "pw", d1)

    created = api.post("identity", "/v3/users", {"user": {"name": "u1", "domain_id": d1}},
                       token=boss)
    assert created.status == 201, created
    uid = created.json["user"]["id"]
    assert api.patch("identity", f"/v3/users/{uid}", {"user": {"description": "x"}},
                     token=boss).status == 200
    project = api.post("identity", "/v3/projects", {"project": {"name": "p1",
                                                                 "domain_id": d1}}, token=boss)
    assert project.status == 201, project
    pid = project.json["project"]["id"]

    refused = [
        api.post("identity", "/v3/users", {"user": {"name": "u2", "domain_id": "default"}},
                 token=boss),
        # Keystone checks the body as sent: no domain_id, no match.
        api.post("identity", "/v3/users", {"user": {"name": "u3"}}, token=boss),
        api.post("identity", "/v3/users", {"user": {"name": "u4", "domain_id": d1}},
                 token=staff),
        api.delete("identity", f"/v3/users/{api.user_id}",   # the admin, in default
                   token=boss),
        api.post("identity", "/v3/domains", {"domain": {"name": "d2"}}, token=boss),
    ]
    for resp in refused:
        assert resp.status == 403, resp
        assert resp.json["error"]["message"].startswith(
            "You are not authorized to perform the requested action: identity:")
    assert api.delete("identity", f"/v3/projects/{pid}", token=boss).status == 204
    assert api.delete("identity", f"/v3/users/{uid}", token=boss).status == 204


def test_domain_manager_grants_only_manager_member_reader_within_its_domain(api):
    roles = _roles(api)
    d1, boss_id, boss = _domain_with_manager(api, "d3")
    uid = api.post("identity", "/v3/users", {"user": {"name": "w", "domain_id": d1}}
                   ).json["user"]["id"]
    pid = api.post("identity", "/v3/projects", {"project": {"name": "p3", "domain_id": d1}}
                   ).json["project"]["id"]
    admin_project = api.project_id
    grant = f"/v3/projects/{pid}/users/{uid}/roles"
    for name in ("member", "reader", "manager"):
        assert api.put("identity", f"{grant}/{roles[name]}", token=boss).status == 204
    assert api.delete("identity", f"{grant}/{roles['reader']}", token=boss).status == 204
    for resp in (api.put("identity", f"{grant}/{roles['admin']}", token=boss),
                 api.put("identity", f"{grant}/{roles['service']}", token=boss),
                 api.put("identity", f"/v3/projects/{admin_project}/users/{uid}/roles/"
                                     f"{roles['member']}", token=boss)):
        assert resp.status == 403, resp
        assert resp.json["error"]["message"] == \
            "You are not authorized to perform the requested action: identity:create_grant."
    # the roles it may hand out are visible to it; admin is not
    assert api.get("identity", "/v3/roles", token=boss).status == 200
    assert api.get("identity", f"/v3/roles/{roles['member']}", token=boss).status == 200
    assert api.get("identity", f"/v3/roles/{roles['admin']}", token=boss).status == 403


def test_domain_manager_manages_groups_and_members_of_its_domain(api):
    d1, boss_id, boss = _domain_with_manager(api, "d4")
    created = api.post("identity", "/v3/groups", {"group": {"name": "g", "domain_id": d1}},
                       token=boss)
    assert created.status == 201, created
    gid = created.json["group"]["id"]
    assert api.put("identity", f"/v3/groups/{gid}/users/{boss_id}", token=boss).status == 204
    assert api.delete("identity", f"/v3/groups/{gid}/users/{boss_id}", token=boss).status == 204
    other = api.post("identity", "/v3/groups", {"group": {"name": "g0"}}).json["group"]["id"]
    for resp in (api.post("identity", "/v3/groups", {"group": {"name": "h",
                                                                "domain_id": "default"}},
                          token=boss),
                 api.put("identity", f"/v3/groups/{other}/users/{boss_id}", token=boss),
                 api.put("identity", f"/v3/groups/{gid}/users/{api.user_id}", token=boss),
                 api.delete("identity", f"/v3/groups/{other}", token=boss)):
        assert resp.status == 403, resp
    assert api.delete("identity", f"/v3/groups/{gid}", token=boss).status == 204
