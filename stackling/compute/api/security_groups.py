"""Nova's security group APIs over Neutron (nova/api/openstack/compute/security_groups.py).

``/os-security-groups`` and ``/os-security-group-rules`` are deprecated proxies: served up
to 2.35, 404 from 2.36 on. ``/servers/{id}/os-security-groups`` and the
``addSecurityGroup``/``removeSecurityGroup`` actions are served at every microversion.
Everything acts on Neutron's groups and rules through ``security_group_api``.
"""

from __future__ import annotations

from typing import Any

from stackling import exception, policy
from stackling.compute import security_group_api as sg_api
from stackling.compute.api import common, proxy_volumes
from stackling.compute.objects import instance as instances
from stackling.web.app import Request, empty_response, json_response, read_json

RULE = "os_compute_api:os-security-groups:%s"
policy.register({RULE % name: common.OWNER_READER for name in ("get", "show", "list")})
policy.register({RULE % name: common.OWNER for name in (
    "create", "update", "delete", "rule:create", "rule:delete", "add", "remove")})


def start(req: Request, rule: str) -> None:
    """404 from 2.36 on (the network proxies are gone there), then the policy."""
    if not req.version.matches(None, proxy_volumes.MAX_PROXY_VERSION):
        raise exception.NotFound("The resource could not be found.")
    common.authorize(req, rule, {"project_id": req.context.project_id})


# -- views -----------------------------------------------------------------------------------


class _Groups:
    """Name and project of the groups rules point at, each looked up once (Nova's
    ``_get_group_rule_data_by_rule_group_id``); a group gone meanwhile drops its rules."""

    def __init__(self, req: Request, known: list[dict]) -> None:
        self.ctx = req.context
        self.data: dict[str, dict | None] = {g["id"]: _ref(g) for g in known}

    def __getitem__(self, group_id: str) -> dict | None:
        if group_id not in self.data:
            try:
                self.data[group_id] = _ref(sg_api.get(self.ctx, group_id))
            except sg_api.SecurityGroupNotFound:
                self.data[group_id] = None
        return self.data[group_id]


def _ref(group: dict) -> dict:
    return {"name": group.get("name"), "tenant_id": group.get("project_id")}


def rule_view(rule: dict, group: dict | None) -> dict:
    return {"id": rule["id"], "parent_group_id": rule["parent_group_id"],
            "ip_protocol": rule["protocol"], "from_port": rule["from_port"],
            "to_port": rule["to_port"], "group": group or {},
            "ip_range": {} if rule["group_id"] else {"cidr": rule["cidr"]}}


def group_view(group: dict, refs: _Groups) -> dict:
    rules = []
    for rule in group["rules"]:
        ref = refs[rule["group_id"]] if rule["group_id"] else None
        if rule["group_id"] and ref is None:
            continue
        rules.append(rule_view(rule, ref))
    return {"id": group["id"], "description": group["description"], "name": group["name"],
            "tenant_id": group["project_id"], "rules": rules}


def _sorted(req: Request, groups: list[dict]) -> list[dict]:
    refs = _Groups(req, groups)
    return sorted((group_view(g, refs) for g in groups),
                  key=lambda g: (g["tenant_id"] or "", g["name"]))


# -- os-security-groups ----------------------------------------------------------------------


def list_groups(req: Request):
    start(req, RULE % "get")
    groups = sg_api.list_groups(req.context, "all_tenants" in req.GET)
    groups = proxy_volumes._limited(req, groups)
    return json_response({"security_groups": _sorted(req, groups)})


def _load(req: Request, group_id: str) -> dict:
    return sg_api.get(req.context, sg_api.validate_id(group_id))


def show_group(req: Request, group_id: str):
    start(req, RULE % "show")
    group = _load(req, group_id)
    return json_response({"security_group": group_view(group, _Groups(req, [group]))})


def _group_body(req: Request) -> tuple[str, str]:
    """Nova's schema: ``security_group`` with string ``name`` and ``description`` (≤ 255)."""
    data = common.body_key(read_json(req), "security_group")
    for key in ("name", "description"):
        if key not in data:
            raise exception.ValidationError(field="security_group", value=data,
                                            detail=f"'{key}' is a required property")
        value = data[key]
        if not isinstance(value, str):
            raise exception.ValidationError(field=f"security_group/{key}", value=value,
                                            detail=f"{value!r} is not of type 'string'")
        if len(value) > 255:
            raise exception.ValidationError(field=f"security_group/{key}", value=value,
                                            detail=f"{value!r} is too long")
    return data["name"], data["description"]


def create_group(req: Request):
    start(req, RULE % "create")
    name, description = _group_body(req)
    group = sg_api.create(req.context, name, description)
    return json_response({"security_group": group_view(group, _Groups(req, [group]))})


def update_group(req: Request, group_id: str):
    start(req, RULE % "update")
    group = _load(req, group_id)
    name, description = _group_body(req)
    group = sg_api.update(req.context, group, name, description)
    return json_response({"security_group": group_view(group, _Groups(req, [group]))})


def delete_group(req: Request, group_id: str):
    start(req, RULE % "delete")
    sg_api.destroy(req.context, _load(req, group_id))
    return empty_response(202)


# -- os-security-group-rules -----------------------------------------------------------------


def _uuid_field(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise exception.ValidationError(field=f"security_group_rule/{field}", value=value,
                                        detail=f"{value!r} is not of type 'string'")
    try:
        sg_api.validate_id(value)
    except exception.BadRequest:
        raise exception.ValidationError(field=f"security_group_rule/{field}", value=value,
                                        detail=f"{value!r} is not a 'uuid'") from None


def create_rule(req: Request):
    start(req, RULE % "rule:create")
    data = common.body_key(read_json(req), "security_group_rule")
    if "parent_group_id" not in data:
        raise exception.ValidationError(field="security_group_rule", value=data,
                                        detail="'parent_group_id' is a required property")
    _uuid_field("parent_group_id", data["parent_group_id"])
    group_id = data.get("group_id")
    if group_id is not None:
        _uuid_field("group_id", group_id)
    ctx = req.context
    parent = sg_api.get(ctx, data["parent_group_id"])
    source = sg_api.get(ctx, group_id) if group_id is not None else None
    rule = sg_api.new_rule(data.get("ip_protocol"), data.get("from_port"),
                           data.get("to_port"), data.get("cidr"), group_id)
    if rule is None:
        raise exception.BadRequest("Not enough parameters to build a valid rule.")
    cidr = rule.get("cidr")
    if cidr:
        net, _, prefix = cidr.partition("/")
        if net not in ("0.0.0.0", "::") and prefix == "0":
            raise exception.BadRequest(f"Bad prefix for network in cidr {cidr}")
    created = sg_api.add_rule(ctx, parent, rule)
    return json_response({"security_group_rule": rule_view(
        created, _ref(source) if source else None)})


def delete_rule(req: Request, rule_id: str):
    start(req, RULE % "rule:delete")
    ctx = req.context
    rule = sg_api.get_rule(ctx, sg_api.validate_id(rule_id))
    sg_api.get(ctx, rule["parent_group_id"])
    sg_api.remove_rule(ctx, rule["id"])
    return empty_response(202)


# -- servers ---------------------------------------------------------------------------------


def _server(req: Request, server_id: str, rule: str) -> str:
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, RULE % rule, {"project_id": inst.project_id})
        return inst.uuid


def list_server_groups(req: Request, server_id: str):
    uuid = _server(req, server_id, "list")
    return json_response({"security_groups": _sorted(
        req, sg_api.instance_groups(req.context, uuid))})


def action_body(action: str, data: Any, required: str, allowed: set[str]) -> dict:
    """An action's schema: an object with ``required`` and nothing but ``allowed``."""
    if not isinstance(data, dict):
        raise exception.ValidationError(field=action, value=data,
                                        detail=f"{data!r} is not of type 'object'")
    if required not in data:
        raise exception.ValidationError(field=action, value=data,
                                        detail=f"'{required}' is a required property")
    common.reject_extra(action, data, allowed)
    return data


def _group_name(action: str, data: Any) -> str:
    """The actions' schema (``name``: a non-empty string, nothing else), then Nova's
    ``_parse`` check of a blank name."""
    name = action_body(action, data, "name", {"name"})["name"]
    if not isinstance(name, str) or not name:
        detail = f"{name!r} is too short" if name == "" else f"{name!r} is not of type " \
                                                              "'string'"
        raise exception.ValidationError(field=f"{action}/name", value=name, detail=detail)
    if not name.strip():
        raise exception.BadRequest("Security group name cannot be empty")
    return name


def add_security_group(req: Request, server_id: str, data: Any):
    uuid = _server(req, server_id, "add")
    sg_api.add_to_instance(req.context, uuid, _group_name("addSecurityGroup", data))
    return empty_response(202)


def remove_security_group(req: Request, server_id: str, data: Any):
    uuid = _server(req, server_id, "remove")
    sg_api.remove_from_instance(req.context, uuid, _group_name("removeSecurityGroup", data))
    return empty_response(202)


HANDLERS = {"addSecurityGroup": add_security_group,
            "removeSecurityGroup": remove_security_group}
