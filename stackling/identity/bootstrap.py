"""Keystone bootstrap: domain, roles, admin and demo users and projects, the catalog.

Idempotent like ``keystone-manage bootstrap``: run at every start, it creates what is
missing and points the catalog at the addresses this start listens on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling.db.models import (
    CatalogService,
    Domain,
    Endpoint,
    ImpliedRole,
    Project,
    Region,
    Role,
    RoleAssignment,
    User,
)

if TYPE_CHECKING:
    from stackling.cloud import Cloud

ROLES = ("admin", "manager", "member", "reader", "service")
# keystone-manage bootstrap's inference rules (2023.2+): admin implies manager, manager
# implies member, member implies reader; service implies nothing.
IMPLIED = (("admin", "manager"), ("manager", "member"), ("member", "reader"))
# Rules of older bootstraps that keystone-manage bootstrap removes (admin -> member).
STALE_IMPLIED = (("admin", "member"),)

# (type, name, service key in Settings, path): block storage is registered under the
# official type and under volumev3, which nova's [cinder] catalog_info asks for.
CATALOG = (
    ("identity", "keystone", "identity", "/v3"),
    ("compute", "nova", "compute", "/v2.1"),
    ("image", "glance", "image", ""),
    ("block-storage", "cinder", "volume", "/v3/$(project_id)s"),
    ("volumev3", "cinderv3", "volume", "/v3/$(project_id)s"),
    ("network", "neutron", "network", ""),
)
INTERFACES = ("public", "internal", "admin")


def _get_or_add(s: Session, model, where: dict, **values):
    row = s.scalar(select(model).filter_by(**where))
    if row is None:
        row = model(**where, **values)
        s.add(row)
        s.flush()
    return row


def _assign(s: Session, user: User, project: Project, role: Role) -> None:
    key = {"type": "UserProject", "actor_id": user.id, "target_id": project.id,
           "role_id": role.id}
    if s.get(RoleAssignment, (key["type"], key["actor_id"], key["target_id"],
                              key["role_id"], False)) is None:
        s.add(RoleAssignment(**key))


def bootstrap(cloud: Cloud) -> None:
    conf = cloud.config.stackling.bootstrap
    identity = cloud.identity
    with cloud.db.reader() as s:
        have = set(s.scalars(select(User.name).where(User.domain_id == "default")))
    wanted = {conf.admin_username: conf.admin_password, conf.demo_username: conf.demo_password}
    services = service_users(cloud)
    wanted.update({name: password for name, (password, _) in services.items()})
    missing = {name: pw for name, pw in wanted.items() if name not in have}
    # bcrypt releases the GIL: hash the new users' passwords side by side (or take the
    # hashes the cloud started computing while it created the schema).
    hashes = {name: identity.prehashed[name].result() for name in missing
              if name in identity.prehashed}
    todo = {name: pw for name, pw in missing.items() if name not in hashes}
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashes.update(zip(todo, pool.map(identity.hash_password, todo.values())))
    identity.prehashed = {}

    with cloud.db.writer() as s:
        domain = s.get(Domain, "default")
        if domain is None:
            domain = Domain(id="default", name="Default",
                            description="The default domain", enabled=True)
            s.add(domain)
            s.flush()
        roles = {name: _get_or_add(s, Role, {"name": name, "domain_id": None})
                 for name in ROLES}
        for prior, implied in IMPLIED:
            if s.get(ImpliedRole, (roles[prior].id, roles[implied].id)) is None:
                s.add(ImpliedRole(prior_role_id=roles[prior].id,
                                  implied_role_id=roles[implied].id))
        for prior, implied in STALE_IMPLIED:
            stale = s.get(ImpliedRole, (roles[prior].id, roles[implied].id))
            if stale is not None:
                s.delete(stale)
        users = {}
        for name in wanted:
            users[name] = _get_or_add(s, User, {"name": name, "domain_id": "default"},
                                      password_hash=hashes.get(name), enabled=True)
        projects = {}
        for name in dict.fromkeys((conf.admin_project, conf.demo_project, "service",
                                   *(project for _, project in services.values()))):
            projects[name] = _get_or_add(s, Project, {"name": name, "domain_id": "default"},
                                         parent_id="default", enabled=True,
                                         description=f"Bootstrap project {name}")
        _assign(s, users[conf.admin_username], projects[conf.admin_project], roles["admin"])
        _assign(s, users[conf.demo_username], projects[conf.demo_project], roles["member"])
        # The admin works in the demo project too, as on devstack.
        _assign(s, users[conf.admin_username], projects[conf.demo_project], roles["admin"])
        # devstack's service users: admin and service in the service project.
        for name, (_, project) in services.items():
            for role in ("admin", "service"):
                _assign(s, users[name], projects[project], roles[role])
        _sync_catalog(cloud, s)
    identity.invalidate()


def service_users(cloud: Cloud) -> dict[str, tuple[str, str]]:
    """name → (password, project) of the [keystone_authtoken] users of the services."""
    out = {}
    for project in ("nova", "cinder", "glance", "neutron"):
        a = getattr(cloud.config, project).keystone_authtoken
        if a.username and a.password and (a.user_domain_name in (None, "Default")):
            out[a.username] = (a.password, a.project_name or "service")
    return out


def _sync_catalog(cloud: Cloud, s: Session) -> None:
    region = cloud.region
    if s.get(Region, region) is None:
        s.add(Region(id=region, description=""))
    for type_, name, key, path in CATALOG:
        service = _get_or_add(s, CatalogService, {"type": type_, "name": name}, enabled=True)
        url = cloud.public_url(key) + path
        for interface in INTERFACES:
            ep = s.scalar(select(Endpoint).where(Endpoint.service_id == service.id,
                                                 Endpoint.interface == interface,
                                                 Endpoint.region_id == region))
            if ep is None:
                s.add(Endpoint(service_id=service.id, interface=interface,
                               region_id=region, url=url))
            elif ep.url != url:
                ep.url = url
