"""Keystone role assignments: grants on projects, domains and the system, and
``/v3/role_assignments`` (with ``effective`` and ``include_names``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import Domain, Group, GroupMembership, Project, Role, RoleAssignment, User
from stackling.identity import common, core, domains, groups, projects, roles, users
from stackling.identity.common import authorize, base, truthy
from stackling.web.app import Request, empty_response, json_response

policy.register({
    "identity:list_role_assignments": common.ADMIN,
    # keystone/common/policies/grant.py: a domain manager grants and revokes manager,
    # member and reader between the users/groups and projects of its own domain.
    "identity:create_grant": "role:admin or (role:manager and domain and managed_role)",
    "identity:revoke_grant": "role:admin or (role:manager and domain and managed_role)",
    "identity:check_grant": common.ADMIN,
    "identity:list_grants": common.ADMIN,
})

NOUNS = {"users": users.NOUN, "groups": groups.NOUN, "projects": projects.NOUN,
         "domains": domains.NOUN, "roles": roles.NOUN}


def _get(s: Session, kind: str, entity_id: str):
    return NOUNS[kind].get(s, entity_id)


ASSIGNMENT_TYPES = {("projects", "users"): "UserProject", ("domains", "users"): "UserDomain",
                    ("system", "users"): "UserSystem", ("projects", "groups"): "GroupProject",
                    ("domains", "groups"): "GroupDomain", ("system", "groups"): "GroupSystem"}


def _grant_key(s: Session, kind: str, target_id: str, user_id: str, role_id: str,
               actor: str = "users", inherited: bool = False):
    if kind != "system":
        _get(s, kind, target_id)
    _get(s, actor, user_id)
    _get(s, "roles", role_id)
    type_ = ASSIGNMENT_TYPES[(kind, actor)]
    return (type_, user_id, target_id, role_id, inherited)


def _grant_target(req: Request, kind: str, target_id: str, actor_id: str, role_id: str,
                  actor: str) -> dict:
    """The domain shared by the actor and the grant's target (None if they differ), and
    the role's name: what Keystone's grant rules look at."""
    with req.app.cloud.db.reader() as s:
        who = s.get(NOUNS[actor].model, actor_id)
        where = s.get(NOUNS[kind].model, target_id) if kind != "system" else None
        role = s.get(Role, role_id)
        where_domain = (where.id if kind == "domains" else where.domain_id) if where else None
        shared = who.domain_id if who is not None and who.domain_id == where_domain else None
        return {"domain_id": shared, "role_name": role.name if role is not None else None}


def grant_role(req: Request, kind: str, target_id: str, user_id: str, role_id: str,
               actor: str = "users", inherited: bool = False):
    """PUT/GET/HEAD/DELETE of one grant; ``inherited``: the OS-INHERIT grant, which
    applies to the projects below the target instead of the target."""
    method = req.method
    action = {"PUT": "identity:create_grant", "DELETE": "identity:revoke_grant"}.get(
        method, "identity:check_grant")
    authorize(req, action, _grant_target(req, kind, target_id, user_id, role_id, actor))
    with req.app.cloud.db.writer() as s:
        key = _grant_key(s, kind, target_id, user_id, role_id, actor, inherited)
        existing = s.get(RoleAssignment, key)
        if method == "PUT":
            if existing is None:
                s.add(RoleAssignment(type=key[0], actor_id=user_id, target_id=target_id,
                                     role_id=role_id, inherited=inherited))
        elif existing is None:
            raise exception.NotFound(f"Could not find role assignment with role: {role_id}, "
                                     f"user or group: {user_id}, project, domain, or system: "
                                     f"{target_id}.")
        elif method == "DELETE":
            s.delete(existing)
    if method != "HEAD" and method != "GET":
        req.app.cloud.identity.invalidate()
    return empty_response(204)


def list_grants(req: Request, kind: str, target_id: str, user_id: str,
                actor: str = "users", inherited: bool = False):
    authorize(req, "identity:list_grants")
    with req.app.cloud.db.reader() as s:
        if kind != "system":
            _get(s, kind, target_id)
        _get(s, actor, user_id)
        rows = s.scalars(select(Role).join(RoleAssignment, RoleAssignment.role_id == Role.id)
                         .where(RoleAssignment.actor_id == user_id,
                                RoleAssignment.target_id == target_id,
                                RoleAssignment.inherited.is_(inherited))).all()
        return roles.NOUN.list_response(req, rows)


SCOPE_OF = {"UserProject": "project", "GroupProject": "project", "UserDomain": "domain",
            "GroupDomain": "domain", "UserSystem": "system", "GroupSystem": "system"}


def _assignment_link(req: Request, type_: str, actor: str, target: str, role: str,
                     inherited: bool = False) -> str:
    who = "groups" if type_.startswith("Group") else "users"
    scope = SCOPE_OF[type_]
    if scope == "system":
        return f"{base(req)}/v3/system/{who}/{actor}/roles/{role}"
    if inherited:
        return (f"{base(req)}/v3/OS-INHERIT/{scope}s/{target}/{who}/{actor}/roles/{role}"
                "/inherited_to_projects")
    return f"{base(req)}/v3/{scope}s/{target}/{who}/{actor}/roles/{role}"


def role_assignments(req: Request):
    """GET /v3/role_assignments: filters, ``effective`` (group assignments become the
    members', implied roles are added, domain-specific roles dropped) and
    ``include_names``."""
    authorize(req, "identity:list_role_assignments")
    q = req.GET
    effective = "effective" in q and truthy(q["effective"] or "true")
    names = "include_names" in q and truthy(q["include_names"] or "true")
    identity = req.app.cloud.identity
    with req.app.cloud.db.reader() as s:
        # (type, actor id, target, role id, links, inherited)
        rows = []
        for a in s.scalars(select(RoleAssignment)):
            link = _assignment_link(req, a.type, a.actor_id, a.target_id, a.role_id,
                                    a.inherited)
            rows.append((a.type, a.actor_id, a.target_id, a.role_id, {"assignment": link},
                         a.inherited))
        if effective:
            # An inherited grant becomes a grant on each project it reaches.
            reached = []
            for type_, actor, target, role, links, inherited in rows:
                if not inherited:
                    reached.append((type_, actor, target, role, links, False))
                    continue
                on_project = type_.replace("Domain", "Project")
                reached.extend((on_project, actor, project_id, role, links, False)
                               for project_id in core.subtree(s, target))
            expanded = []
            for type_, actor, target, role, links, _ in reached:
                if type_.startswith("Group"):
                    members = s.scalars(select(GroupMembership.user_id).where(
                        GroupMembership.group_id == actor)).all()
                    for user_id in members:
                        expanded.append(("User" + type_[5:], user_id, target, role, {
                            **links, "membership":
                                f"{base(req)}/v3/groups/{actor}/users/{user_id}"}))
                else:
                    expanded.append((type_, actor, target, role, links))
            rows = []
            domain_roles = set(s.scalars(select(Role.id).where(Role.domain_id.isnot(None))))
            for type_, actor, target, role, links in expanded:
                for implied in sorted(identity.implied_closure(s, [role])):
                    if implied in domain_roles:
                        continue
                    extra = {} if implied == role else {
                        "prior_role": f"{base(req)}/v3/roles/{role}/implies/{implied}"}
                    rows.append((type_, actor, target, implied, {**links, **extra}, False))
        if "user.id" in q:
            user_id = q["user.id"]
            rows = [r for r in rows if r[0].startswith("User") and r[1] == user_id]
        if "group.id" in q:
            rows = [r for r in rows if r[0].startswith("Group") and r[1] == q["group.id"]]
        if "scope.project.id" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "project"
                    and r[2] == q["scope.project.id"]]
        if "scope.domain.id" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "domain"
                    and r[2] == q["scope.domain.id"]]
        if "scope.system" in q:
            rows = [r for r in rows if SCOPE_OF[r[0]] == "system"]
        if "role.id" in q:
            rows = [r for r in rows if r[3] == q["role.id"]]
        if "scope.OS-INHERIT:inherited_to" in q:
            rows = [r for r in rows if r[5]]
        out, seen = [], set()
        for type_, actor, target, role_id, links, inherited in rows:
            key = (type_, actor, target, role_id, inherited)
            if key in seen:
                continue
            seen.add(key)
            scope_kind = SCOPE_OF[type_]
            role: dict[str, Any] = {"id": role_id}
            who: dict[str, Any] = {"id": actor}
            scope: dict[str, Any] = {"all": True} if scope_kind == "system" else {"id": target}
            if names:
                r = s.get(Role, role_id)
                role["name"] = r.name if r else None
                if r is not None and r.domain_id:
                    role["domain"] = {"id": r.domain_id}
                a = s.get(User if type_.startswith("User") else Group, actor)
                if a is not None:
                    d = s.get(Domain, a.domain_id)
                    who.update(name=a.name, domain={"id": d.id, "name": d.name})
                if scope_kind != "system":
                    t = s.get(Project if scope_kind == "project" else Domain, target)
                    if t is not None:
                        scope["name"] = t.name
                        if scope_kind == "project":
                            d = s.get(Domain, t.domain_id)
                            scope["domain"] = {"id": d.id, "name": d.name}
            where = {scope_kind: scope}
            if inherited:
                where["OS-INHERIT:inherited_to"] = "projects"
            out.append({"role": role, "user" if type_.startswith("User") else "group": who,
                        "scope": where, "links": links})
    return json_response({"role_assignments": out, "links": {
        "self": f"{base(req)}/v3/role_assignments", "previous": None, "next": None}})


def _grants(kind: str) -> list[tuple[str, dict]]:
    def one(req, user_id, role_id, target_id="system"):
        return grant_role(req, kind, target_id, user_id, role_id)

    def many(req, user_id, target_id="system"):
        return list_grants(req, kind, target_id, user_id)

    if kind == "system":
        def sys_group_one(req, group_id, role_id):
            return grant_role(req, kind, "system", group_id, role_id, actor="groups")

        def sys_group_many(req, group_id):
            return list_grants(req, kind, "system", group_id, actor="groups")

        return [("/v3/system/users/{user_id}/roles/{role_id}",
                 {"PUT": one, "GET": one, "HEAD": one, "DELETE": one}),
                ("/v3/system/users/{user_id}/roles", {"GET": many}),
                ("/v3/system/groups/{group_id}/roles/{role_id}",
                 {"PUT": sys_group_one, "GET": sys_group_one, "HEAD": sys_group_one,
                  "DELETE": sys_group_one}),
                ("/v3/system/groups/{group_id}/roles", {"GET": sys_group_many})]
    def group_one(req, target_id, group_id, role_id):
        return grant_role(req, kind, target_id, group_id, role_id, actor="groups")

    def group_many(req, target_id, group_id):
        return list_grants(req, kind, target_id, group_id, actor="groups")

    return [(f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles/{{role_id}}",
             {"PUT": one, "GET": one, "HEAD": one, "DELETE": one}),
            (f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles", {"GET": many}),
            (f"/v3/{kind}/{{target_id}}/groups/{{group_id}}/roles/{{role_id}}",
             {"PUT": group_one, "GET": group_one, "HEAD": group_one, "DELETE": group_one}),
            (f"/v3/{kind}/{{target_id}}/groups/{{group_id}}/roles", {"GET": group_many})]




def _inherited_grants(kind: str) -> list[tuple[str, dict]]:
    """/v3/OS-INHERIT/{domains,projects}/{id}/{users,groups}/{id}/roles/...
    /inherited_to_projects: grants that apply to the projects below the target."""
    def user_one(req, target_id, user_id, role_id):
        return grant_role(req, kind, target_id, user_id, role_id, inherited=True)

    def group_one(req, target_id, group_id, role_id):
        return grant_role(req, kind, target_id, group_id, role_id, "groups", inherited=True)

    def user_many(req, target_id, user_id):
        return list_grants(req, kind, target_id, user_id, inherited=True)

    def group_many(req, target_id, group_id):
        return list_grants(req, kind, target_id, group_id, "groups", inherited=True)

    at = f"/v3/OS-INHERIT/{kind}/{{target_id}}"
    one_verbs = ("PUT", "GET", "HEAD", "DELETE")
    routes = [
        (f"{at}/users/{{user_id}}/roles/{{role_id}}/inherited_to_projects",
         dict.fromkeys(one_verbs, user_one)),
        (f"{at}/groups/{{group_id}}/roles/{{role_id}}/inherited_to_projects",
         dict.fromkeys(one_verbs, group_one))]
    if kind == "domains":      # Keystone lists inherited grants on domains only
        routes += [(f"{at}/users/{{user_id}}/roles/inherited_to_projects", {"GET": user_many}),
                   (f"{at}/groups/{{group_id}}/roles/inherited_to_projects",
                    {"GET": group_many})]
    return routes


ROUTES = [*_grants("projects"), *_grants("domains"), *_grants("system"),
          *_inherited_grants("projects"), *_inherited_grants("domains"),
          ("/v3/role_assignments", {"GET": role_assignments})]
