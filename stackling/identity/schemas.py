"""Request schemas of the Keystone API, faithful to keystone/*/schema.py.

Keystone validates the entity object inside the body (``{"user": {...}}`` → the user),
so a message names ``'name'``, not ``'user/name'``.
"""

from __future__ import annotations

_BOOLEAN = {"type": "boolean", "enum": [True, False]}
_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]+"}
_NAME_64 = {**_NAME, "maxLength": 64}
_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-]+$"}
_ID_OR_NULL = {**_ID, "type": ["string", "null"]}
_DESCRIPTION = {"type": ["string", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}
_REGION_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
_URL = {"type": "string", "minLength": 0, "maxLength": 225}
_TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255,
                                    "pattern": "^[^,/]*$"},
         "maxItems": 80, "uniqueItems": True}
_OPTIONS = {"type": "object"}
TAGS = _TAGS
TAGS_BODY = {"type": "object", "properties": {"tags": _TAGS}, "additionalProperties": False}


def _entity(properties: dict, required: tuple[str, ...] = (), update: bool = False) -> dict:
    out: dict = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        out["required"] = list(required)
    if update:
        out["minProperties"] = 1
    return out


_USER = {"default_project_id": _STRING_OR_NULL, "description": _DESCRIPTION,
         "domain_id": _ID, "enabled": _BOOLEAN, "name": _NAME, "email": _STRING_OR_NULL,
         "password": {"type": ["string", "null"]}, "options": _OPTIONS}
_PROJECT = {"description": _DESCRIPTION, "domain_id": _ID_OR_NULL, "enabled": _BOOLEAN,
            "is_domain": _BOOLEAN, "parent_id": _ID_OR_NULL, "name": _NAME_64,
            "tags": _TAGS, "options": _OPTIONS}
_DOMAIN = {"description": _DESCRIPTION, "enabled": _BOOLEAN, "name": _NAME_64,
           "explicit_domain_id": _ID, "tags": _TAGS, "options": _OPTIONS}
_ROLE = {"name": _NAME, "description": _DESCRIPTION, "domain_id": _ID_OR_NULL,
         "options": _OPTIONS}
_GROUP = {"name": _NAME, "description": _DESCRIPTION, "domain_id": _ID}
_SERVICE = {"enabled": _BOOLEAN, "type": {"type": "string", "minLength": 1, "maxLength": 255},
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": _DESCRIPTION}
_ENDPOINT = {"enabled": _BOOLEAN,
             "interface": {"type": "string", "enum": ["admin", "internal", "public"]},
             "region_id": _STRING_OR_NULL, "region": _STRING_OR_NULL,
             "service_id": {"type": "string"}, "url": _URL}
_REGION = {"description": _DESCRIPTION, "parent_region_id": _REGION_ID}

# policy/schema.py
_POLICY = {"blob": {"type": "string"}, "type": {"type": "string", "maxLength": 255}}

# catalog/schema.py
_ENDPOINT_GROUP = {"description": _DESCRIPTION, "name": _NAME, "filters": {
    "type": "object", "properties": {
        "interface": {"type": "string", "enum": ["admin", "internal", "public"]},
        "service_id": {"type": "string"}, "region_id": {"type": ["string", "null"]},
        "enabled": _BOOLEAN}}}

CREATE = {
    "users": _entity(_USER, ("name",)),
    "projects": _entity(_PROJECT, ("name",)),
    "domains": _entity(_DOMAIN, ("name",)),
    "roles": _entity(_ROLE, ("name",)),
    "groups": _entity(_GROUP, ("name",)),
    "services": _entity(_SERVICE, ("type",)),
    "endpoints": _entity(_ENDPOINT, ("service_id", "interface", "url")),
    "regions": _entity({**_REGION, "id": {**_REGION_ID, "minLength": 0}}),
    "policies": _entity(_POLICY, ("blob", "type")),
    "endpoint_groups": {**_entity(_ENDPOINT_GROUP, ("name", "filters")),
                        "additionalProperties": False},
    "consumers": _entity({"description": _DESCRIPTION}),     # oauth1/schema.py
}
UPDATE = {
    "users": _entity(_USER, update=True),
    "projects": _entity(_PROJECT, update=True),
    "domains": _entity(_DOMAIN, update=True),
    "roles": _entity(_ROLE, update=True),
    "groups": _entity(_GROUP, update=True),
    "services": _entity(_SERVICE, update=True),
    "endpoints": _entity(_ENDPOINT, update=True),
    "regions": _entity(_REGION, update=True),
    "policies": _entity(_POLICY, update=True),
    "endpoint_groups": {**_entity(_ENDPOINT_GROUP, update=True),
                        "additionalProperties": False},
    "consumers": _entity({"description": _DESCRIPTION}, update=True),
}
# PUT /v3/regions/{id}: the region_create schema, the id coming from the URL.
CREATE_REGION_WITH_ID = CREATE["regions"]

# identity/schema.py password_change
PASSWORD_CHANGE = {"type": "object", "properties": {
    "original_password": {"type": "string"}, "password": {"type": "string"}},
    "required": ["original_password", "password"], "additionalProperties": False}

# credential/schema.py
_CREDENTIAL = {"blob": {"type": "string"}, "project_id": _STRING_OR_NULL,
               "type": {"type": "string"}, "user_id": {"type": "string"}}
CREDENTIAL_CREATE = _entity(_CREDENTIAL, ("blob", "type", "user_id"))
CREDENTIAL_UPDATE = _entity(_CREDENTIAL, update=True)
# api/users.py: POST /v3/users/{id}/credentials/OS-EC2
EC2_CREATE = {"type": "object", "properties": {"tenant_id": {"type": "string"}},
              "required": ["tenant_id"], "additionalProperties": True}
# application_credential/schema.py
APP_CRED_CREATE = _entity({
    "name": _NAME, "description": _DESCRIPTION, "secret": _STRING_OR_NULL,
    "expires_at": _STRING_OR_NULL, "unrestricted": _BOOLEAN,
    "roles": {"type": "array", "items": {
        "type": "object", "properties": {"id": _ID, "name": _NAME},
        "minProperties": 1, "maxProperties": 1, "additionalProperties": False}},
    "access_rules": {"type": "array", "items": {"type": "object"}}}, ("name",))
