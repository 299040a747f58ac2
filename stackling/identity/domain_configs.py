"""Keystone's domain-specific configuration: ``/v3/domains/{id}/config[/{group}[/{option}]]``
and the defaults at ``/v3/domains/config[/{group}[/{option}]]/default``.

Only the options that shape a domain's identity driver are accepted (Keystone's
``DomainConfigManager`` allow-list: ``[identity] driver, list_limit`` and the LDAP
options); ``[ldap] password`` is stored but never shown. stackling keeps every domain on
its SQL identity backend: the stored options are served back, not acted on.
"""

from __future__ import annotations

import copy

from stackling import exception, policy
from stackling.db.models import Domain, IdentityDomainConfig
from stackling.identity import common
from stackling.identity.common import authorize
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({f"identity:{verb}": common.ADMIN
                 for verb in ("create_domain_config", "get_domain_config",
                              "update_domain_config", "delete_domain_config",
                              "get_domain_config_default")})

# keystone/conf/identity.py and ldap.py: each allowed option with its default.
DEFAULTS: dict[str, dict] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "user_tree_dn": None,
        "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn",
        "user_mail_attribute": "mail", "user_description_attribute": "description",
        "user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled",
        "user_enabled_invert": False, "user_enabled_mask": 0,
        "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None,
        "group_filter": None, "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn", "group_name_attribute": "ou",
        "group_members_are_ids": False, "group_member_attribute": "member",
        "group_desc_attribute": "description", "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [], "tls_cacertfile": None,
        "tls_cacertdir": None, "use_tls": False, "tls_req_cert": "demand",
        "use_pool": True, "pool_size": 10, "pool_retry_max": 3, "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
        "use_auth_pool": True, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60},
}
SENSITIVE = {"identity": (), "ldap": ("password",)}


class InvalidDomainConfig(exception.Forbidden):
    msg_fmt = "Invalid domain specific configuration: %(reason)s."


def _invalid(reason: str) -> InvalidDomainConfig:
    return InvalidDomainConfig(reason=reason)


def _not_found(domain_id: str, group: str | None, option: str | None) -> exception.NotFound:
    what = (f"option {option} in group {group}" if option else
            f"group {group}" if group else "any options")
    return exception.NotFound(f"Could not find {what} in domain configuration for domain "
                              f"{domain_id}.")


def _check_group_option(group: str | None, option: str | None) -> None:
    if group and group not in DEFAULTS:
        raise _invalid(f"Group {group} is not supported for domain specific configurations")
    if option and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise _invalid(f"Option {option} in group {group} is not supported for domain "
                       "specific configurations")


def _check_config(config) -> None:
    if not config or not isinstance(config, dict):
        raise _invalid("No options specified")
    for group, options in config.items():
        if not options or not isinstance(options, dict):
            raise _invalid(f"The value of group {group} specified in the config should be "
                           "a dictionary of options")
        for option in options:
            _check_group_option(group, option)


def _shown(config: dict, group: str | None = None, option: str | None = None) -> dict:
    """What GET answers: the non-sensitive options, narrowed to the group or the option
    (an option comes back on its own, ``{option: value}``)."""
    out = {g: {o: v for o, v in opts.items() if o not in SENSITIVE.get(g, ())}
           for g, opts in config.items()}
    out = {g: opts for g, opts in out.items() if opts}
    if option:
        return {option: out[group][option]}
    return {group: out[group]} if group else out


def _body_config(req: Request):
    data = read_json(req)
    return data.get("config", {}) if isinstance(data, dict) else {}


def _stored(s, domain_id: str) -> IdentityDomainConfig | None:
    if s.get(Domain, domain_id) is None:
        raise exception.NotFound(f"Could not find domain: {domain_id}.")
    return s.get(IdentityDomainConfig, domain_id)


def _has(config: dict, group: str | None, option: str | None) -> bool:
    if option:
        return option in config.get(group, {})
    return bool(config.get(group)) if group else bool(config)


def create_config(req: Request, domain_id: str):
    """PUT: the whole config (201 when new, 200 when it replaced one)."""
    authorize(req, "identity:create_domain_config")
    config = _body_config(req)
    _check_config(config)
    with req.app.cloud.db.writer() as s:
        row = _stored(s, domain_id)
        existed = row is not None
        if row is None:
            row = IdentityDomainConfig(domain_id=domain_id)
            s.add(row)
        row.config = copy.deepcopy(config)
        shown = _shown(row.config)
    return json_response({"config": shown}, status=200 if existed else 201)


def show_config(req: Request, domain_id: str, group: str | None = None,
                option: str | None = None):
    authorize(req, "identity:get_domain_config")
    _check_group_option(group, option)
    with req.app.cloud.db.reader() as s:
        row = _stored(s, domain_id)
        config = dict(row.config) if row is not None else {}
    if not _has(_shown(config), group, option):
        raise _not_found(domain_id, group, option)
    return json_response({"config": _shown(config, group, option)})


def update_config(req: Request, domain_id: str, group: str | None = None,
                  option: str | None = None):
    """PATCH: merge options into the config; a group or an option in the URL must be the
    only one in the body, and must already exist (the whole config need not)."""
    authorize(req, "identity:update_domain_config")
    config = _body_config(req)
    if option:
        config = {group: config}
    _check_config(config)
    _check_group_option(group, option)
    if group and list(config) != [group]:
        if len(config) > 1:
            raise _invalid(f"Trying to update group {group}, so that, and only that, group "
                           "must be specified in the config")
        raise _invalid(f"request to update group {group}, but config provided contains "
                       f"group {list(config)[0]} instead")
    if option and list(config[group]) != [option]:
        raise _invalid(f"Trying to update option {option} in group {group}, so that, and "
                       "only that, option must be specified  in the config")
    with req.app.cloud.db.writer() as s:
        row = _stored(s, domain_id)
        current = copy.deepcopy(row.config) if row is not None else {}
        if (group or option) and not _has(current, group, option):
            raise _not_found(domain_id, group, option)
        if row is None:     # PATCH of the whole config stores what it names (Keystone)
            row = IdentityDomainConfig(domain_id=domain_id)
            s.add(row)
        for g, options in config.items():
            current.setdefault(g, {}).update(options)
        row.config = current
        shown = _shown(current)
    return json_response({"config": shown})


def delete_config(req: Request, domain_id: str, group: str | None = None,
                  option: str | None = None):
    authorize(req, "identity:delete_domain_config")
    _check_group_option(group, option)
    with req.app.cloud.db.writer() as s:
        row = _stored(s, domain_id)
        current = copy.deepcopy(row.config) if row is not None else {}
        if (group or option) and not _has(current, group, option):
            raise _not_found(domain_id, group, option)
        if option:
            del current[group][option]
            if not current[group]:
                del current[group]
        elif group:
            del current[group]
        else:
            current = {}
        if row is not None and current:
            row.config = current
        elif row is not None:
            s.delete(row)
    return empty_response(204)


def show_default(req: Request, group: str | None = None, option: str | None = None):
    """The options' defaults (this cloud's [identity]/[ldap] defaults, Keystone's)."""
    authorize(req, "identity:get_domain_config_default")
    _check_group_option(group, option)
    if option and option not in DEFAULTS[group]:
        raise _invalid(f"Reading the default for option {option} in group {group} is not "
                       "supported")
    if option:
        return json_response({"config": {option: DEFAULTS[group][option]}})
    chosen = {group: DEFAULTS[group]} if group else DEFAULTS
    return json_response({"config": copy.deepcopy(chosen)})


_VERBS = {"GET": show_config, "HEAD": show_config, "PATCH": update_config,
          "DELETE": delete_config}
ROUTES = [
    ("/v3/domains/config/default", {"GET": show_default, "HEAD": show_default}),
    ("/v3/domains/config/{group}/default", {"GET": show_default, "HEAD": show_default}),
    ("/v3/domains/config/{group}/{option}/default",
     {"GET": show_default, "HEAD": show_default}),
    ("/v3/domains/{domain_id}/config", {"PUT": create_config, **_VERBS}),
    ("/v3/domains/{domain_id}/config/{group}", _VERBS),
    ("/v3/domains/{domain_id}/config/{group}/{option}", _VERBS),
]
