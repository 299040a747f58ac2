"""/os-keypairs: create (generated), import, list, show, delete, by microversion.

2.2 adds ``type`` (ssh, x509) and answers 201/204; 2.10 lets admins act for another
``user_id``; 2.35 pages the list (``limit``/``marker`` by name); 2.92 only imports and
also accepts ``@`` and ``.`` in names (``nova/api/openstack/compute/keypairs.py``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import keypair
from stackling.db.models_compute import KeyPair
from stackling.web.app import Request, empty_response, json_response, read_json

RULE = "role:admin or (role:member and self)"
policy.register({f"os_compute_api:os-keypairs:{a}": RULE
                 for a in ("index", "create", "show", "delete")})

NAME = re.compile(r"^[_\- a-zA-Z0-9]+$")
NAME_V292 = re.compile(r"^[_\-\@\. a-zA-Z0-9]+$")


def _user(req: Request, requested: str | None, action: str) -> str:
    ctx = req.context
    user_id = (requested if req.version.matches("2.10") else None) or ctx.user_id
    common.authorize(req, f"os_compute_api:os-keypairs:{action}",
                     {"user_id": user_id, "project_id": ctx.project_id})
    return user_id


def _query_user(req: Request, action: str) -> str:
    return _user(req, req.GET.get("user_id"), action)


def _fields(req: Request, row: KeyPair, names: tuple[str, ...]) -> dict:
    values = {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint,
              "user_id": row.user_id, "type": row.type,
              "created_at": common.isotime(row.created_at), "deleted": False,
              "deleted_at": None, "id": row.id, "updated_at": None}
    if req.version.matches("2.2"):
        names = names + ("type",)
    return {k: values[k] for k in names}


def _check_name(req: Request, name: Any) -> str:
    pattern = NAME_V292 if req.version.matches("2.92") else NAME
    if isinstance(name, str) and name and not pattern.match(name):
        raise exception.ValidationError(field="name", value=name,
                                        detail=f"{name!r} does not match {pattern.pattern!r}")
    return common.check_name("name", name)


def create_keypair(req: Request) -> Any:
    data = common.body_key(read_json(req), "keypair")
    allowed = {"name", "public_key"}
    if req.version.matches("2.2"):
        allowed.add("type")
    if req.version.matches("2.10"):
        allowed.add("user_id")
    common.reject_extra("keypair", data, allowed)
    for key in ("name", "public_key") if req.version.matches("2.92") else ("name",):
        if key not in data:
            raise exception.ValidationError(field="keypair", value=data,
                                            detail=f"'{key}' is a required property")
    name = _check_name(req, data["name"])
    key_type = data.get("type", "ssh")
    if key_type not in ("ssh", "x509"):
        raise exception.ValidationError(field="type", value=key_type,
                                        detail=f"{key_type!r} is not one of ['ssh', 'x509']")
    public_key = data.get("public_key")
    if public_key is not None and not isinstance(public_key, str):
        raise exception.ValidationError(field="public_key", value=public_key,
                                        detail=f"{public_key!r} is not of type 'string'")
    user_id = _user(req, data.get("user_id"), "create")
    private_key = None
    if public_key is None:
        private_key, public_key = keypair.generate(key_type, user_id)
    limit = common.conf(req).quota.key_pairs
    with req.app.cloud.db.writer() as s:
        row = keypair.add(s, user_id, name, key_type, public_key, limit)
        body = _fields(req, row, ("name", "public_key", "fingerprint", "user_id"))
    if private_key is not None:
        body["private_key"] = private_key
    return json_response({"keypair": body}, status=201 if req.version.matches("2.2") else 200)


def list_keypairs(req: Request) -> Any:
    user_id = _query_user(req, "index")
    paged = req.version.matches("2.35")
    limit = marker = None
    if paged:
        if "limit" in req.GET:
            limit = common.validate_integer(req.GET["limit"], "limit", 0)
        marker = req.GET.get("marker")
    with req.app.cloud.db.reader() as s:
        q = select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)
        if marker is not None:
            if s.scalar(select(KeyPair.id).where(KeyPair.user_id == user_id,
                                                 KeyPair.name == marker)) is None:
                raise exception.BadRequest(f"marker [{marker}] not found")
            q = q.where(KeyPair.name > marker)
        if limit is not None:
            q = q.limit(limit)
        rows = list(s.scalars(q))
        items = [{"keypair": _fields(req, r, ("name", "public_key", "fingerprint"))}
                 for r in rows]
    body: dict[str, Any] = {"keypairs": items}
    if paged and limit and len(rows) == limit:
        params = [(k, v) for k, v in req.GET.items() if k != "marker"]
        href = f"{req.host_url}{req.path}?{urlencode(params + [('marker', rows[-1].name)])}"
        body["keypairs_links"] = [{"rel": "next", "href": href}]
    return json_response(body)


def show_keypair(req: Request, name: str) -> Any:
    user_id = _query_user(req, "show")
    with req.app.cloud.db.reader() as s:
        row = keypair.get(s, user_id, name)
        body = _fields(req, row, ("name", "public_key", "fingerprint", "user_id", "created_at",
                                  "deleted", "deleted_at", "id", "updated_at"))
    return json_response({"keypair": body})


def delete_keypair(req: Request, name: str) -> Any:
    user_id = _query_user(req, "delete")
    with req.app.cloud.db.writer() as s:
        s.delete(keypair.get(s, user_id, name))
    return empty_response(204 if req.version.matches("2.2") else 202)


def check_key_name(cloud: Any, user_id: str, key_name: Any) -> str:
    """Server create: the caller's key must exist (Nova answers 400, not 404)."""
    with cloud.db.reader() as s:
        try:
            keypair.get(s, user_id, str(key_name))
        except keypair.KeypairNotFound:
            raise exception.BadRequest("Invalid key_name provided.") from None
    return str(key_name)
