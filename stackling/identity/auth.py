"""Keystone's discovery documents, tokens (issue, validate, revoke) and ``/v3/auth/*``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import discovery, exception, policy
from stackling.db.models import Domain, Project, RoleAssignment
from stackling.identity import domains, projects
from stackling.identity.common import base
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({"identity:validate_token": policy.ANY, "identity:revoke_token": policy.ANY})


def versions(req: Request):
    doc = discovery.identity_version(base(req))
    return json_response({"versions": {"values": [doc]}}, status=300,
                         headers={"Location": f"{base(req)}/v3/"})


def version_v3(req: Request):
    return json_response({"version": discovery.identity_version(base(req))})


def issue_token(req: Request):
    body = read_json(req)
    if not isinstance(body, dict) or "auth" not in body:
        raise exception.BadRequest(
            "Expecting to find auth in request body. The server could not comply with the "
            "request since it is either malformed or otherwise incorrect. The client is "
            "assumed to be in error.")
    identity = req.app.cloud.identity
    token, info = identity.authenticate(body["auth"])
    catalog = "nocatalog" not in req.GET
    return json_response(identity.token_body(info, catalog), status=201,
                         headers={"X-Subject-Token": token})


def _subject(req: Request):
    subject = req.headers.get("X-Subject-Token")
    if not subject:
        raise exception.NotFound("Could not find token: None.")
    return subject, req.app.cloud.identity.validate(subject)


def validate_token(req: Request):
    subject, info = _subject(req)
    body = req.app.cloud.identity.token_body(info, "nocatalog" not in req.GET)
    return json_response(body, headers={"X-Subject-Token": subject})


def revoke_token(req: Request):
    subject, _ = _subject(req)
    req.app.cloud.identity.revoke(subject)
    return empty_response(204)


def auth_catalog(req: Request):
    ctx = req.context
    if not ctx.project_id and not ctx.domain_id and not ctx.system_scope:
        raise exception.Forbidden("The service catalog is empty.")
    return json_response({"catalog": req.app.cloud.identity.catalog(ctx.project_id),
                          "links": {"self": f"{base(req)}/v3/auth/catalog",
                                    "previous": None, "next": None}})


def _targets(s: Session, req: Request, kinds: tuple[str, ...]) -> set[str]:
    actors = req.app.cloud.identity.actor_ids(s, req.context.user_id)
    return set(s.scalars(select(RoleAssignment.target_id).where(
        RoleAssignment.actor_id.in_(actors), RoleAssignment.type.in_(kinds),
        RoleAssignment.inherited.is_(False))))


def auth_projects(req: Request):
    with req.app.cloud.db.reader() as s:
        ids = req.app.cloud.identity.project_ids(s, req.context.user_id)
        rows = s.scalars(select(Project).where(Project.id.in_(ids), Project.enabled)).all()
        return projects.NOUN.list_response(req, rows, "/v3/auth/projects")


def auth_domains(req: Request):
    with req.app.cloud.db.reader() as s:
        ids = _targets(s, req, ("UserDomain", "GroupDomain"))
        rows = s.scalars(select(Domain).where(Domain.id.in_(set(ids)))).all()
        return domains.NOUN.list_response(req, rows, "/v3/auth/domains")


ROUTES = [
    ("/", {"GET": versions}),
    ("/v3", {"GET": version_v3}),
    ("/v3/auth/tokens", {"POST": issue_token, "GET": validate_token, "HEAD": validate_token,
                         "DELETE": revoke_token}),
    ("/v3/auth/catalog", {"GET": auth_catalog}),
    ("/v3/auth/projects", {"GET": auth_projects}),
    ("/v3/auth/domains", {"GET": auth_domains}),
]
