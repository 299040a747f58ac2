"""Keystone's v3 Policy API: ``/v3/policies``, opaque blobs stored for other services
(deprecated in Keystone, still served; nothing in stackling enforces them)."""

from __future__ import annotations

from typing import Any

from stackling import policy
from stackling.db.models import IdentityPolicy
from stackling.identity import common, crud
from stackling.identity.common import Noun

policy.register({f"identity:{verb}_{noun}": common.ADMIN
                 for verb in ("list", "get", "create", "update", "delete")
                 for noun in ("policies", "policy")})


def _view(row: IdentityPolicy) -> dict[str, Any]:
    return {**(row.extra or {}), "id": row.id, "type": row.type, "blob": row.blob}


POLICIES = Noun("policies", "policy", IdentityPolicy, _view, filters=("type",),
                required=("blob", "type"), fields=("blob", "type"), keeps_extra=True)

ROUTES = crud.routes(POLICIES)
