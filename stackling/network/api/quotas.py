"""Quotas: ``/v2.0/quotas`` with ``default`` and ``details`` (``quotasv2.py``,
``quotasv2_detail.py``)."""

from __future__ import annotations

from typing import Any

from stackling.network import errors
from stackling.network.api import common
from stackling.network.objects import quota
from stackling.web.app import Request, empty_response, json_response

MAX_LIMIT = 2 ** 31 - 1


def _may_read(req: Request, project: str) -> None:
    ctx = req.context
    if project != ctx.project_id and not ctx.is_admin:
        raise errors.AdminRequired(reason="Only admin is authorized to access quotas for "
                                          "another project")


def list_quotas(req: Request) -> Any:
    common.require_admin(req, "get_quota")
    with req.app.cloud.db.reader() as s:
        items = [{**quota.limits(s, p), "project_id": p, "tenant_id": p}
                 for p in quota.projects_with_limits(s)]
    return json_response({"quotas": items})


def show_own_project(req: Request) -> Any:
    return json_response({"project": {"project_id": req.context.project_id}})


def show_own_tenant(req: Request) -> Any:
    return json_response({"tenant": {"tenant_id": req.context.project_id}})


def show_quota(req: Request, project: str) -> Any:
    _may_read(req, project)
    with req.app.cloud.db.reader() as s:
        return json_response({"quota": quota.limits(s, project)})


def show_default(req: Request, project: str) -> Any:
    _may_read(req, project)
    return json_response({"quota": dict(quota.DEFAULTS)})


def show_details(req: Request, project: str) -> Any:
    _may_read(req, project)
    with req.app.cloud.db.reader() as s:
        body = {res: {"limit": limit, "used": quota.used(s, project, res), "reserved": 0}
                for res, limit in quota.limits(s, project).items()}
    return json_response({"quota": body})


def update_quota(req: Request, project: str) -> Any:
    common.require_admin(req, "update_quota")
    body = common.read_plain(req).get("quota")
    if not isinstance(body, dict):
        raise errors.http_bad_request("Unable to find 'quota' in request body")
    force = bool(body.pop("force", False))
    body.pop("check_limit", None)
    unknown = [k for k in body if k not in quota.DEFAULTS]
    if unknown:
        raise errors.http_bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    values = {}
    for key, value in body.items():
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or isinstance(value, bool) or not -1 <= number <= MAX_LIMIT:
            raise errors.http_bad_request(
                f"Invalid input for {key}. Reason: '{value}' is not in range -1 through "
                f"{MAX_LIMIT}.")
        values[key] = number
    with req.app.cloud.db.writer() as s:
        if not force:
            for key, limit in values.items():
                in_use = quota.used(s, project, key)
                if limit != -1 and limit < in_use:
                    raise errors.http_bad_request(
                        f"Quota limit {limit} for {key} must be greater than or equal to "
                        f"already used {in_use}")
        quota.set_limits(s, project, values)
        out = quota.limits(s, project)
    return json_response({"quota": out})


def delete_quota(req: Request, project: str) -> Any:
    common.require_admin(req, "delete_quota")
    with req.app.cloud.db.writer() as s:
        quota.reset(s, project)
    return empty_response(204)
