"""Keystone's core: authenticate, issue, validate and revoke tokens; build the catalog."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception
from stackling.context import RequestContext
from stackling.db.models import (
    ApplicationCredential,
    CatalogService,
    Domain,
    GroupMembership,
    ImpliedRole,
    Project,
    RevocationEvent,
    Role,
    RoleAssignment,
    User,
    utcnow,
)
from stackling.identity.passwords import PasswordChecker, hash_password
from stackling.identity.tokens import FernetProvider, TokenPayload, new_audit_id

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# The target id of system role assignments, and the scope marker of system tokens.
SYSTEM = "system"

# Validated tokens are remembered this long; every identity write clears the cache.
TOKEN_CACHE_SECONDS = 300


def isotime(ts: float | dt.datetime) -> str:
    if isinstance(ts, (int, float)):
        ts = dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"



def ancestors(s: Session, target_id: str) -> list[str]:
    """A project's parent projects, nearest first, then its domain ([] for anything that
    is not a project). Keystone bounds the depth (max_project_tree_depth); a cycle stops."""
    out: list[str] = []
    project = s.get(Project, target_id)
    while project is not None and project.domain_id not in out:
        parent = project.parent_id or project.domain_id
        if parent in out:
            break
        out.append(parent)
        project = None if parent == project.domain_id else s.get(Project, parent)
    return out


def subtree(s: Session, target_id: str) -> list[str]:
    """The projects an inherited grant on ``target_id`` reaches: every project of a domain,
    or every project below a project (not the project itself)."""
    if s.get(Project, target_id) is None:
        return list(s.scalars(select(Project.id).where(Project.domain_id == target_id)))
    out, todo = [], [target_id]
    while todo:
        children = list(s.scalars(select(Project.id).where(Project.parent_id.in_(todo))))
        children = [c for c in children if c not in out and c != target_id]
        out.extend(children)
        todo = children
    return out

class Unauthorized(exception.Unauthorized):
    pass


@dataclass
class AuthInfo:
    """A validated token: who, in what scope, with which roles, and its rendered body."""

    payload: TokenPayload
    user: dict[str, Any]
    project: dict[str, Any] | None
    domain: dict[str, Any] | None
    roles: list[dict[str, str]] = field(default_factory=list)
    system: bool = False
    app_cred: dict[str, Any] | None = None

    def context(self, cloud: Cloud, token: str, request_id: str) -> RequestContext:
        return RequestContext(
            cloud=cloud, user_id=self.user["id"], user_name=self.user["name"],
            user_domain_id=self.user["domain"]["id"],
            project_id=self.project["id"] if self.project else None,
            project_name=self.project["name"] if self.project else None,
            project_domain_id=self.project["domain"]["id"] if self.project else None,
            domain_id=self.domain["id"] if self.domain else None,
            system_scope=self.system,
            roles=[r["name"] for r in self.roles], token=token, request_id=request_id)


class Identity:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.tokens = FernetProvider(cloud.settings.data_dir / "fernet-keys")
        self.passwords = PasswordChecker()
        self._cache: dict[str, tuple[float, AuthInfo]] = {}
        self._catalogs: dict[str | None, list[dict]] = {}
        self._lock = threading.Lock()
        self.prehashed: dict = {}

    @property
    def conf(self):
        return self.cloud.config.stackling

    def hash_password(self, password: str) -> str:
        return hash_password(password, self.conf.identity.password_hash_rounds)

    def prehash_bootstrap(self) -> None:
        """Start hashing the bootstrap users' passwords in the background."""
        if self.prehashed:  # `stackling start` began before importing the cloud
            return
        from concurrent.futures import ThreadPoolExecutor

        b = self.conf.bootstrap
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bcrypt")
        self.prehashed = {b.admin_username: pool.submit(self.hash_password, b.admin_password),
                          b.demo_username: pool.submit(self.hash_password, b.demo_password)}
        pool.shutdown(wait=False)

    def invalidate(self) -> None:
        """Forget validated tokens (after any change to users, roles or revocations)."""
        with self._lock:
            self._cache.clear()
            self._catalogs.clear()

    # -- authenticate ------------------------------------------------------------------

    def authenticate(self, auth: dict) -> tuple[str, AuthInfo]:
        """Check the ``auth`` object of POST /v3/auth/tokens; return the new token."""
        if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
            raise exception.BadRequest(
                "Expecting to find identity in auth. The server could not comply with the "
                "request since it is either malformed or otherwise incorrect. The client is "
                "assumed to be in error.")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise exception.BadRequest("Expecting to find methods in identity. The server "
                                       "could not comply with the request since it is either "
                                       "malformed or otherwise incorrect. The client is "
                                       "assumed to be in error.")
        parent_audit = None
        expires_at = None
        app_cred_id = None
        with self.cloud.db.reader() as s:
            if "application_credential" in methods:
                cred = self._app_cred(s, identity.get("application_credential") or {})
                user = s.get(User, cred.user_id)
                method_list = ["application_credential"]
                app_cred_id = cred.id
                if cred.expires_at is not None:
                    expires_at = min(cred.expires_at.replace(
                        tzinfo=dt.timezone.utc).timestamp(),
                        time.time() + self.conf.token.expiration)
                if user is None or not user.enabled:
                    raise Unauthorized()
                project_id, domain_id = cred.project_id, None
            elif "password" in methods:
                user = self._password_user(s, identity.get("password") or {})
                method_list = ["password"]
            elif "token" in methods:
                tok = (identity.get("token") or {}).get("id")
                if not tok:
                    raise Unauthorized()
                try:
                    prior = self.validate(tok)
                except exception.StacklingError:
                    raise Unauthorized() from None
                user = s.get(User, prior.user["id"])
                method_list = list(dict.fromkeys(["token", *prior.payload.methods]))
                parent_audit = prior.payload.audit_id
                app_cred_id = prior.payload.app_cred_id
                # A token made from a token never outlives it (Keystone keeps the expiry).
                expires_at = prior.payload.expires_at
            else:
                raise Unauthorized()
            if app_cred_id is None:
                if user is None or not user.enabled:
                    raise Unauthorized()
                project_id, domain_id = self._scope(s, user, auth.get("scope"))
        now = time.time()
        payload = TokenPayload(user.id, tuple(method_list), project_id, domain_id, now,
                               expires_at or now + self.conf.token.expiration, new_audit_id(),
                               parent_audit, app_cred_id)
        token = self.tokens.issue(payload)
        return token, self._load(payload, token)

    def _password_user(self, s: Session, password: dict) -> User | None:
        spec = password.get("user") or {}
        secret = spec.get("password")
        if not isinstance(secret, str):
            raise Unauthorized()
        if spec.get("id"):
            user = s.get(User, spec["id"])
        elif spec.get("name"):
            domain = self._find_domain(s, spec.get("domain") or {})
            user = s.scalar(select(User).where(User.name == spec["name"],
                                               User.domain_id == domain.id))
        else:
            raise Unauthorized()
        if user is None or not self.passwords.check(secret, user.password_hash):
            raise Unauthorized()
        return user

    def _app_cred(self, s: Session, spec: dict) -> ApplicationCredential:
        """The application credential of an ``application_credential`` auth method:
        by ``id``, or by ``name`` and its ``user`` (id, or name and domain)."""
        secret = spec.get("secret")
        if not isinstance(secret, str):
            raise Unauthorized()
        if spec.get("id"):
            cred = s.get(ApplicationCredential, spec["id"])
        elif spec.get("name"):
            uref = spec.get("user") or {}
            if uref.get("id"):
                user = s.get(User, uref["id"])
            elif uref.get("name"):
                domain = self._find_domain(s, uref.get("domain") or {})
                user = s.scalar(select(User).where(User.name == uref["name"],
                                                   User.domain_id == domain.id))
            else:
                raise Unauthorized()
            cred = user and s.scalar(select(ApplicationCredential).where(
                ApplicationCredential.user_id == user.id,
                ApplicationCredential.name == spec["name"]))
        else:
            raise Unauthorized()
        from stackling.identity.credentials import secret_digest

        if cred is None or not self.passwords.check(secret_digest(secret), cred.secret_hash):
            raise Unauthorized()
        if cred.expires_at is not None and cred.expires_at <= utcnow():
            raise Unauthorized()
        return cred

    def _find_domain(self, s: Session, ref: dict) -> Domain:
        if ref.get("id"):
            domain = s.get(Domain, ref["id"])
        elif ref.get("name"):
            domain = s.scalar(select(Domain).where(Domain.name == ref["name"]))
        else:
            raise Unauthorized()
        if domain is None or not domain.enabled:
            raise Unauthorized()
        return domain

    def _scope(self, s: Session, user: User, scope: Any) -> tuple[str | None, str | None]:
        if not scope:
            return self._default_scope(s, user), None
        if not isinstance(scope, dict):
            raise exception.BadRequest("Malformed scope.")
        if list(scope) == ["unscoped"]:     # explicitly unscoped: no default project
            return None, None
        if "project" in scope:
            ref = scope["project"] or {}
            if ref.get("id"):
                project = s.get(Project, ref["id"])
            else:
                domain = self._find_domain(s, ref.get("domain") or {})
                project = s.scalar(select(Project).where(Project.name == ref.get("name"),
                                                         Project.domain_id == domain.id))
            if project is None or not project.enabled or not self._role_ids(s, user.id,
                                                                              project.id):
                raise Unauthorized()
            return project.id, None
        if "domain" in scope:
            domain = self._find_domain(s, scope["domain"] or {})
            if not self._role_ids(s, user.id, domain.id):
                raise Unauthorized()
            return None, domain.id
        if "system" in scope:
            if not self._role_ids(s, user.id, SYSTEM):
                raise Unauthorized()
            return None, SYSTEM
        raise Unauthorized()

    def _default_scope(self, s: Session, user: User) -> str | None:
        """No scope asked: the user's ``default_project_id`` when that project and its
        domain are enabled and the user has a role on it, else an unscoped token
        (keystone/api/_shared/authentication.py ``_check_and_set_default_scoping``)."""
        if not user.default_project_id:
            return None
        project = s.get(Project, user.default_project_id)
        if project is None or not project.enabled:
            return None
        domain = s.get(Domain, project.domain_id)
        if domain is None or not domain.enabled or not self._role_ids(s, user.id, project.id):
            return None
        return project.id

    def project_ids(self, s: Session, user_id: str) -> set[str]:
        """The projects the user (or a group of it) has a role on: direct project grants
        and every project an inherited grant reaches (Keystone's projects for a user)."""
        out: set[str] = set()
        for target, type_, inherited in s.execute(select(
                RoleAssignment.target_id, RoleAssignment.type, RoleAssignment.inherited).where(
                RoleAssignment.actor_id.in_(self.actor_ids(s, user_id)))):
            if inherited:
                out.update(subtree(s, target))
            elif type_ in ("UserProject", "GroupProject"):
                out.add(target)
        return out

    @staticmethod
    def actor_ids(s: Session, user_id: str) -> list[str]:
        """The user and the groups it belongs to: whoever may hold its role assignments."""
        groups = s.scalars(select(GroupMembership.group_id).where(
            GroupMembership.user_id == user_id))
        return [user_id, *groups]

    @staticmethod
    def implied_closure(s: Session, role_ids: list[str] | set[str]) -> set[str]:
        """The roles and every role they imply, transitively (Keystone's inference rules)."""
        seen = set(role_ids)
        todo = set(role_ids)
        while todo:
            nxt = set(s.scalars(select(ImpliedRole.implied_role_id).where(
                ImpliedRole.prior_role_id.in_(todo)))) - seen
            seen |= nxt
            todo = nxt
        return seen

    def effective_roles(self, s: Session, role_ids: list[str] | set[str]) -> list[Role]:
        """Assigned roles plus the implied ones, without domain-specific roles (those only
        carry their implications, never appear in tokens)."""
        ids = self.implied_closure(s, role_ids)
        rows = s.scalars(select(Role).where(Role.id.in_(ids))).all()
        return sorted((r for r in rows if not r.domain_id),
                      key=lambda r: (r.id not in role_ids, r.name))

    def _role_ids(self, s: Session, user_id: str, target_id: str) -> list[str]:
        """The roles the user (or a group of it) holds on ``target_id``: its direct grants
        and, on a project, the grants inherited to projects (OS-INHERIT) from the
        project's domain and from every project above it."""
        held = (RoleAssignment.target_id == target_id) & RoleAssignment.inherited.is_(False)
        above = ancestors(s, target_id)
        if above:
            held = held | (RoleAssignment.target_id.in_(above)
                           & RoleAssignment.inherited.is_(True))
        return list(dict.fromkeys(s.scalars(select(RoleAssignment.role_id).where(
            RoleAssignment.actor_id.in_(self.actor_ids(s, user_id)), held))))

    # -- validate ----------------------------------------------------------------------

    def validate(self, token: str) -> AuthInfo:
        """Return the token's AuthInfo; raise NotFound when invalid, expired or revoked."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            if cached[1].payload.expires_at > now:
                return cached[1]
        payload = self.tokens.decode(token)
        info = self._load(payload, token)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[token] = (now + TOKEN_CACHE_SECONDS, info)
        return info

    def _load(self, payload: TokenPayload, token: str) -> AuthInfo:
        not_found = exception.NotFound(f"Could not find token: {token}")
        issued = dt.datetime.fromtimestamp(payload.issued_at, dt.timezone.utc).replace(
            tzinfo=None)
        with self.cloud.db.reader() as s:
            audits = [payload.audit_id] + ([payload.parent_audit_id]
                                           if payload.parent_audit_id else [])
            revoked = s.scalar(select(RevocationEvent.id).where(
                (RevocationEvent.audit_id.in_(audits))
                | ((RevocationEvent.user_id == payload.user_id)
                   & (RevocationEvent.issued_before >= issued))).limit(1))
            if revoked is not None:
                raise not_found
            user = s.get(User, payload.user_id)
            if user is None or not user.enabled:
                raise not_found
            user_domain = s.get(Domain, user.domain_id)
            user_view = {"id": user.id, "name": user.name, "password_expires_at": None,
                         "domain": {"id": user_domain.id, "name": user_domain.name}}
            project_view = domain_view = None
            target = payload.project_id or payload.domain_id
            if payload.project_id:
                project = s.get(Project, payload.project_id)
                if project is None or not project.enabled:
                    raise not_found
                pdomain = s.get(Domain, project.domain_id)
                project_view = {"id": project.id, "name": project.name,
                                "domain": {"id": pdomain.id, "name": pdomain.name}}
            elif payload.domain_id == SYSTEM:
                domain_view = None
            elif payload.domain_id:
                domain = s.get(Domain, payload.domain_id)
                if domain is None or not domain.enabled:
                    raise not_found
                domain_view = {"id": domain.id, "name": domain.name}
            roles: list[dict[str, str]] = []
            app_cred = None
            if target:
                assigned = self._role_ids(s, user.id, target)
                if not assigned:
                    raise not_found
                expanded = self.effective_roles(s, assigned)
                if payload.app_cred_id:
                    cred = s.get(ApplicationCredential, payload.app_cred_id)
                    if cred is None:
                        raise not_found
                    allowed = {r["id"] for r in cred.roles or []}
                    expanded = [r for r in expanded if r.id in allowed]
                    app_cred = {"id": cred.id, "name": cred.name,
                                "restricted": not cred.unrestricted}
                if not expanded:
                    raise not_found
                roles = [{"id": r.id, "name": r.name} for r in expanded]
        return AuthInfo(payload, user_view, project_view, domain_view, roles,
                        system=payload.domain_id == SYSTEM, app_cred=app_cred)

    def revoke(self, token: str) -> None:
        payload = self.tokens.decode(token)
        with self.cloud.db.writer() as s:
            s.add(RevocationEvent(audit_id=payload.audit_id, user_id=None,
                                  issued_before=utcnow()))
        self.invalidate()

    def revoke_user(self, user_id: str) -> None:
        """Revoke every token of a user (password change, disable, delete)."""
        with self.cloud.db.writer() as s:
            s.add(RevocationEvent(user_id=user_id, issued_before=utcnow()))
        self.invalidate()

    # -- token body --------------------------------------------------------------------

    def token_body(self, info: AuthInfo, catalog: bool = True) -> dict:
        p = info.payload
        token: dict[str, Any] = {
            "methods": list(p.methods), "user": info.user,
            "audit_ids": [p.audit_id] + ([p.parent_audit_id] if p.parent_audit_id else []),
            "expires_at": isotime(p.expires_at), "issued_at": isotime(p.issued_at),
        }
        if info.project:
            token["project"] = info.project
            token["is_domain"] = False
        if info.domain:
            token["domain"] = info.domain
        if info.system:
            token["system"] = {"all": True}
        if info.app_cred:
            token["application_credential"] = info.app_cred
        if info.project or info.domain or info.system:
            token["roles"] = info.roles
            if catalog:
                token["catalog"] = self.catalog(info.project["id"] if info.project else None)
        return {"token": token}

    def catalog(self, project_id: str | None) -> list[dict]:
        """The catalog for a project (cached until the next identity write)."""
        cached = self._catalogs.get(project_id)
        if cached is None:
            cached = self._build_catalog(project_id)
            with self._lock:
                self._catalogs[project_id] = cached
        return cached

    def _build_catalog(self, project_id: str | None) -> list[dict]:
        with self.cloud.db.reader() as s:
            services = list(s.scalars(select(CatalogService).where(CatalogService.enabled)))
            out = []
            for svc in services:
                endpoints = []
                for ep in svc.endpoints:
                    if not ep.enabled:
                        continue
                    url = ep.url
                    if project_id:
                        url = url.replace("$(project_id)s", project_id).replace(
                            "%(project_id)s", project_id)
                    elif "$(project_id)s" in url or "%(project_id)s" in url:
                        continue
                    endpoints.append({"id": ep.id, "interface": ep.interface,
                                      "region": ep.region_id, "region_id": ep.region_id,
                                      "url": url})
                out.append({"id": svc.id, "type": svc.type, "name": svc.name or "",
                            "endpoints": endpoints})
        return out
