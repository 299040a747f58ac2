"""os-quota-sets (show with ?usage=True, defaults, update, delete) and os-quota-class-sets."""

from __future__ import annotations

from sqlalchemy import delete, select

from stackling import exception, policy
from stackling.db.models_volume import Quota
from stackling.volume.api import common, validation
from stackling.volume.objects import backends, quota
from stackling.web.validation import MAX_INT
from stackling.web.app import Request, empty_response, json_response, read_json


def _quota_set(req: Request, project_id: str, usage: bool) -> dict:
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        lim = quota.limits(cloud, s, project_id)
        use = quota.usages(s, project_id)
    out: dict = {"id": project_id}
    for res, hard in lim.items():
        if usage:
            u = use.get(res)
            out[res] = {"limit": hard, "in_use": u.in_use if u else 0,
                        "reserved": u.reserved if u else 0, "allocated": 0}
        else:
            out[res] = hard
    return out


def show_quota(req: Request, target_project: str):
    common.authorize(req, "volume_extension:quotas:show", {"project_id": target_project})
    usage = backends.is_true(req.GET.get("usage", "false"))
    return json_response({"quota_set": _quota_set(req, target_project, usage)})


def show_defaults(req: Request, target_project: str):
    common.authorize(req, "volume_extension:quotas:show", {"project_id": target_project})
    with req.app.cloud.db.reader() as s:
        return json_response({"quota_set": {"id": target_project,
                                            **quota.defaults(req.app.cloud, s)}})


def update_quota(req: Request, target_project: str):
    common.authorize(req, "volume_extension:quotas:update")
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get("quota_set"), dict):
        raise exception.BadRequest("Missing required element 'quota_set' in request body.")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        known = quota.defaults(cloud, s)
        for res, value in body["quota_set"].items():
            if res in ("id", "tenant_id"):
                continue
            if res not in known:
                raise exception.InvalidInput(reason=f"Bad key(s) in quota set: {res}")
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise exception.InvalidInput(
                    reason=f"Quota limit {value} for {res} must be an integer.") from None
            if value < -1:
                raise exception.InvalidInput(
                    reason=f"Quota limit {value} for {res} must be -1 or greater.")
            if value > MAX_INT:  # api_utils.validate_integer(max_value=DB_MAX_INT)
                raise exception.InvalidInput(reason=f"{res} must be <= {MAX_INT}")
            row = s.scalar(select(Quota).where(Quota.project_id == target_project,
                                               Quota.resource == res))
            if row is None:
                s.add(Quota(project_id=target_project, resource=res, hard_limit=value))
            else:
                row.hard_limit = value
    out = _quota_set(req, target_project, False)
    out.pop("id")
    return json_response({"quota_set": out})


def delete_quota(req: Request, target_project: str):
    common.authorize(req, "volume_extension:quotas:delete")
    with req.app.cloud.db.writer() as s:
        s.execute(delete(Quota).where(Quota.project_id == target_project))
    return empty_response(200)


policy.register({"volume_extension:quota_classes:get": common.ADMIN,
                 "volume_extension:quota_classes:update": common.ADMIN})

# cinder/api/validation/parameter_types.py quota_class_set (keys checked first, as its
# format checker runs before the per-value rules).
_CLASS_SET_SCHEMA = {
    "type": "object",
    "properties": {"quota_class_set": {
        "type": "object",
        "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,300}$": {
            "type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": -1,
            "minLength": 1, "maximum": 0x7FFFFFFF}},
        "additionalProperties": False}},
    "required": ["quota_class_set"],
    "additionalProperties": False,
}


def show_quota_class_set(req: Request, quota_class: str):
    common.authorize(req, "volume_extension:quota_classes:get")
    with req.app.cloud.db.reader() as s:
        values = quota.class_limits(req.app.cloud, s, quota_class)
    return json_response({"quota_class_set": {**values, "id": quota_class}})


def update_quota_class_set(req: Request, quota_class: str):
    body = read_json(req)
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        # Cinder validates the body (its schema decorator) before the policy check.
        known = quota.defaults(cloud, s)
        data = body.get("quota_class_set") if isinstance(body, dict) else None
        if isinstance(data, dict):
            bad = [k for k in data if k not in known]
            if bad:
                raise exception.InvalidInput(
                    reason=f"Bad key(s) in quota class set: {', '.join(bad)}")
        validation.validate(_CLASS_SET_SCHEMA, body)
        common.authorize(req, "volume_extension:quota_classes:update")
        if len(quota_class) > 255:
            raise exception.InvalidInput(
                reason=f"quota_class_name has {len(quota_class)} characters, more than 255.")
        owner = quota.CLASS_PREFIX + quota_class
        for res, value in data.items():
            row = s.scalar(select(Quota).where(Quota.project_id == owner,
                                               Quota.resource == res))
            if row is None:
                s.add(Quota(project_id=owner, resource=res, hard_limit=int(value)))
            else:
                row.hard_limit = int(value)
        s.flush()
        values = quota.class_limits(cloud, s, quota_class)
    return json_response({"quota_class_set": values})
