"""Keystone credentials: the generic ``/v3/credentials`` API, EC2 credentials
(``/v3/users/{id}/credentials/OS-EC2``, stored as ``ec2`` credentials like Keystone does)
and application credentials (``/v3/users/{id}/application_credentials``; the
``application_credential`` auth method lives in ``core.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import ApplicationCredential, Credential, Project, Role, User
from stackling.identity import schemas
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

OWNER = "role:admin or self"
policy.register({
    "identity:create_credential": OWNER, "identity:get_credential": OWNER,
    "identity:list_credentials": policy.ANY, "identity:update_credential": OWNER,
    "identity:delete_credential": OWNER,
    "identity:ec2_create_credential": OWNER, "identity:ec2_get_credential": OWNER,
    "identity:ec2_list_credentials": OWNER, "identity:ec2_delete_credential": OWNER,
    "identity:create_application_credential": "self",
    "identity:get_application_credential": OWNER,
    "identity:list_application_credentials": OWNER,
    "identity:delete_application_credential": OWNER,
})


def _authorize(req: Request, action: str, user_id: str | None) -> None:
    from stackling.identity.api import Forbidden

    policy.authorize(req.context, action, {"user_id": user_id}, error=Forbidden)


def _base(req: Request) -> str:
    return req.app.cloud.public_url("identity")


def _user(s: Session, user_id: str) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise exception.NotFound(f"Could not find user: {user_id}.")
    return user


def _invalid(field: str, detail: str) -> exception.BadRequest:
    return exception.BadRequest(f"Invalid input for field '{field}': {detail}")


# -- /v3/credentials ---------------------------------------------------------------------


def _cred_view(req: Request, c: Credential) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type,
            "blob": c.blob, **(c.extra or {}),
            "links": {"self": f"{_base(req)}/v3/credentials/{c.id}"}}


def _get_cred(s: Session, credential_id: str) -> Credential:
    c = s.get(Credential, credential_id)
    if c is None:
        raise exception.NotFound(f"Could not find credential: {credential_id}.")
    return c


def _cred_body(req: Request) -> dict:
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        raise exception.BadRequest(
            "Expecting to find credential in request body. The server could not comply "
            "with the request since it is either malformed or otherwise incorrect. The "
            "client is assumed to be in error.")
    validation.check(req, body["credential"], schemas.CREDENTIAL_UPDATE
                     if req.method == "PATCH" else schemas.CREDENTIAL_CREATE)
    return body["credential"]


def _ec2_id(blob: str) -> str:
    """Keystone names an ec2 credential by the sha256 of its access key."""
    try:
        access = json.loads(blob)["access"]
    except (ValueError, TypeError, KeyError):
        raise exception.BadRequest("Invalid blob in credential") from None
    return hashlib.sha256(access.encode()).hexdigest()


def create_credential(req: Request):
    data = _cred_body(req)
    for field in ("blob", "type", "user_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise _invalid(field, f"'{field}' is a required property")
    _authorize(req, "identity:create_credential", data["user_id"])
    if data["type"] == "ec2" and not data.get("project_id"):
        raise exception.BadRequest("Invalid blob in credential")
    with req.app.cloud.db.writer() as s:
        _user(s, data["user_id"])
        cred_id = _ec2_id(data["blob"]) if data["type"] == "ec2" else uuid.uuid4().hex
        if s.get(Credential, cred_id) is not None:
            raise exception.Conflict("Conflict occurred attempting to store credential - "
                                     f"Duplicate ID, {cred_id}.")
        extra = {k: v for k, v in data.items()
                 if k not in ("id", "blob", "type", "user_id", "project_id", "links")}
        c = Credential(id=cred_id, user_id=data["user_id"], project_id=data.get("project_id"),
                       type=data["type"], blob=data["blob"], extra=extra)
        s.add(c)
        s.flush()
        return json_response({"credential": _cred_view(req, c)}, status=201)


def list_credentials(req: Request):
    _authorize(req, "identity:list_credentials", None)
    ctx = req.context
    stmt = select(Credential)
    if "user_id" in req.GET:
        stmt = stmt.where(Credential.user_id == req.GET["user_id"])
    if "type" in req.GET:
        stmt = stmt.where(Credential.type == req.GET["type"])
    if not ctx.is_admin:
        stmt = stmt.where(Credential.user_id == ctx.user_id)
    with req.app.cloud.db.reader() as s:
        creds = [_cred_view(req, c) for c in s.scalars(stmt.order_by(Credential.id))]
    return json_response({"credentials": creds, "links": {
        "self": f"{_base(req)}/v3/credentials", "previous": None, "next": None}})


def show_credential(req: Request, credential_id: str):
    with req.app.cloud.db.reader() as s:
        c = _get_cred(s, credential_id)
        _authorize(req, "identity:get_credential", c.user_id)
        return json_response({"credential": _cred_view(req, c)})


def update_credential(req: Request, credential_id: str):
    data = _cred_body(req)
    with req.app.cloud.db.writer() as s:
        c = _get_cred(s, credential_id)
        _authorize(req, "identity:update_credential", c.user_id)
        for field in ("blob", "type", "user_id", "project_id"):
            if field in data:
                if field != "project_id" and not isinstance(data[field], str):
                    raise _invalid(field, f"{data[field]!r} is not of type 'string'")
                setattr(c, field, data[field])
        extra = {k: v for k, v in data.items()
                 if k not in ("id", "blob", "type", "user_id", "project_id", "links")}
        if extra:
            c.extra = {**(c.extra or {}), **extra}
        s.flush()
        return json_response({"credential": _cred_view(req, c)})


def delete_credential(req: Request, credential_id: str):
    with req.app.cloud.db.writer() as s:
        c = _get_cred(s, credential_id)
        _authorize(req, "identity:delete_credential", c.user_id)
        s.delete(c)
    return empty_response(204)


# -- EC2 (keystone/api/users.py UserOSEC2CredentialsResource*) ----------------------------


def _ec2_view(req: Request, c: Credential) -> dict:
    blob = json.loads(c.blob)
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": {"self": f"{_base(req)}/v3/users/{c.user_id}/credentials/OS-EC2/"
                              f"{blob.get('access')}"}}


def _get_ec2(s: Session, user_id: str, access: str) -> Credential:
    c = s.get(Credential, hashlib.sha256(access.encode()).hexdigest())
    if c is None or c.type != "ec2" or c.user_id != user_id:
        raise exception.NotFound(f"Could not find credential: {access}.")
    return c


def ec2_create(req: Request, user_id: str):
    _authorize(req, "identity:ec2_create_credential", user_id)
    body = read_json(req)
    project_id = (body or {}).get("tenant_id") if isinstance(body, dict) else None
    if not project_id:
        raise _invalid("tenant_id", "'tenant_id' is a required property")
    validation.check(req, body, schemas.EC2_CREATE)
    with req.app.cloud.db.writer() as s:
        _user(s, user_id)
        if s.get(Project, project_id) is None:
            raise exception.NotFound(f"Could not find project: {project_id}.")
        access, secret = uuid.uuid4().hex, uuid.uuid4().hex
        blob = json.dumps({"access": access, "secret": secret, "trust_id": None})
        c = Credential(id=hashlib.sha256(access.encode()).hexdigest(), user_id=user_id,
                       project_id=project_id, type="ec2", blob=blob, extra={})
        s.add(c)
        s.flush()
        return json_response({"credential": _ec2_view(req, c)}, status=201)


def ec2_list(req: Request, user_id: str):
    _authorize(req, "identity:ec2_list_credentials", user_id)
    with req.app.cloud.db.reader() as s:
        _user(s, user_id)
        creds = [_ec2_view(req, c) for c in s.scalars(select(Credential).where(
            Credential.user_id == user_id, Credential.type == "ec2"))]
    return json_response({"credentials": creds, "links": {
        "self": f"{_base(req)}/v3/users/{user_id}/credentials/OS-EC2", "previous": None,
        "next": None}})


def ec2_one(req: Request, user_id: str, access: str):
    action = "identity:ec2_delete_credential" if req.method == "DELETE" else \
        "identity:ec2_get_credential"
    _authorize(req, action, user_id)
    with req.app.cloud.db.writer() as s:
        c = _get_ec2(s, user_id, access)
        if req.method == "DELETE":
            s.delete(c)
            return empty_response(204)
        return json_response({"credential": _ec2_view(req, c)})


# -- application credentials (keystone/api/users.py, application_credential/core.py) -----


def secret_digest(secret: str) -> str:
    """bcrypt reads 72 bytes at most and generated secrets are 86 characters: hash the
    secret's sha256 instead, so that every character counts."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _app_view(req: Request, c: ApplicationCredential, secret: str | None = None) -> dict:
    out = {"id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
           "project_id": c.project_id, "expires_at": _iso(c.expires_at),
           "unrestricted": c.unrestricted, "roles": list(c.roles or []),
           "access_rules": [],
           "links": {"self": f"{_base(req)}/v3/users/{c.user_id}/application_credentials/"
                             f"{c.id}"}}
    if secret is not None:
        out["secret"] = secret
    return out


def _parse_expiry(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("expires_at", f"{value!r} is not of type 'string', 'null'")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise exception.BadRequest(f"Invalid time format for expires_at: {value}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def app_cred_create(req: Request, user_id: str):
    _authorize(req, "identity:create_application_credential", user_id)
    ctx = req.context
    body = read_json(req)
    data = body.get("application_credential") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise exception.BadRequest(
            "Expecting to find application_credential in request body. The server could "
            "not comply with the request since it is either malformed or otherwise "
            "incorrect. The client is assumed to be in error.")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("name", "'name' is a required property")
    validation.check(req, data, schemas.APP_CRED_CREATE)
    if not ctx.project_id:
        raise exception.Forbidden("You are not authorized to perform the requested action: "
                                  "identity:create_application_credential.")
    auth = req.app.cloud.identity.validate(ctx.token)
    if auth.app_cred and auth.app_cred.get("restricted"):
        raise exception.Forbidden("Using method 'application_credential' is not allowed "
                                  "for managing additional application credentials.")
    token_roles = {r["id"]: r for r in auth.roles}
    wanted = data.get("roles")
    if wanted is None:
        roles = list(token_roles.values())
    else:
        roles = []
        with req.app.cloud.db.reader() as s:
            for ref in wanted:
                if not isinstance(ref, dict):
                    raise _invalid("roles", f"{ref!r} is not of type 'object'")
                role = s.get(Role, ref["id"]) if ref.get("id") else s.scalar(
                    select(Role).where(Role.name == ref.get("name"),
                                       Role.domain_id.is_(None)))
                if role is None or role.id not in token_roles:
                    raise exception.Forbidden(
                        f"Cannot create an application credential with unassigned role: "
                        f"{ref.get('id') or ref.get('name')}.")
                roles.append({"id": role.id, "name": role.name})
    roles = [{"id": r["id"], "name": r["name"], "domain_id": None} for r in roles]
    expires_at = _parse_expiry(data.get("expires_at"))
    secret = data.get("secret") or secrets.token_urlsafe(64).rstrip("=")
    secret_hash = req.app.cloud.identity.hash_password(secret_digest(secret))
    with req.app.cloud.db.writer() as s:
        _user(s, user_id)
        if s.scalar(select(ApplicationCredential.id).where(
                ApplicationCredential.user_id == user_id,
                ApplicationCredential.name == name)) is not None:
            raise exception.Conflict("Conflict occurred attempting to store "
                                     "application_credential - Duplicate entry.")
        c = ApplicationCredential(id=uuid.uuid4().hex, name=name, secret_hash=secret_hash,
                                  description=data.get("description"), user_id=user_id,
                                  project_id=ctx.project_id, expires_at=expires_at,
                                  unrestricted=bool(data.get("unrestricted", False)),
                                  roles=roles)
        s.add(c)
        s.flush()
        return json_response({"application_credential": _app_view(req, c, secret)},
                             status=201)


def app_cred_list(req: Request, user_id: str):
    _authorize(req, "identity:list_application_credentials", user_id)
    stmt = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if "name" in req.GET:
        stmt = stmt.where(ApplicationCredential.name == req.GET["name"])
    with req.app.cloud.db.reader() as s:
        _user(s, user_id)
        creds = [_app_view(req, c) for c in s.scalars(stmt.order_by(
            ApplicationCredential.created_at))]
    return json_response({"application_credentials": creds, "links": {
        "self": f"{_base(req)}/v3/users/{user_id}/application_credentials",
        "previous": None, "next": None}})


def app_cred_one(req: Request, user_id: str, app_cred_id: str):
    deleting = req.method == "DELETE"
    _authorize(req, "identity:delete_application_credential" if deleting else
               "identity:get_application_credential", user_id)
    with req.app.cloud.db.writer() as s:
        c = s.get(ApplicationCredential, app_cred_id)
        if c is None or c.user_id != user_id:
            raise exception.NotFound(
                f"Could not find Application Credential: {app_cred_id}.")
        if not deleting:
            return json_response({"application_credential": _app_view(req, c)})
        s.delete(c)
    req.app.cloud.identity.invalidate()
    return empty_response(204)


ROUTES: list[tuple[str, dict]] = [
    ("/v3/credentials", {"GET": list_credentials, "POST": create_credential}),
    ("/v3/credentials/{credential_id}", {"GET": show_credential, "PATCH": update_credential,
                                         "DELETE": delete_credential}),
    ("/v3/users/{user_id}/credentials/OS-EC2", {"GET": ec2_list, "POST": ec2_create}),
    ("/v3/users/{user_id}/credentials/OS-EC2/{access}", {"GET": ec2_one,
                                                         "DELETE": ec2_one}),
    ("/v3/users/{user_id}/application_credentials", {"GET": app_cred_list,
                                                     "POST": app_cred_create}),
    ("/v3/users/{user_id}/application_credentials/{app_cred_id}",
     {"GET": app_cred_one, "DELETE": app_cred_one}),
]
