"""OS-EP-FILTER endpoint groups: ``/v3/OS-EP-FILTER/endpoint_groups``, a name and the
endpoint ``filters`` (service_id, interface, region_id) that select its endpoints.

The groups are stored and served; associating them with projects to narrow a project's
catalog (the rest of OS-EP-FILTER) is not served: every project sees the whole catalog.
"""

from __future__ import annotations

from typing import Any

from stackling import exception, policy
from stackling.db.models import EndpointGroup
from stackling.identity import common, crud
from stackling.identity.common import Noun

policy.register({f"identity:{verb}_endpoint_group{s}": common.ADMIN
                 for verb, s in (("list", "s"), ("get", ""), ("create", ""), ("update", ""),
                                 ("delete", ""))})
VALID_FILTERS = ("service_id", "region_id", "interface")


def _view(row: EndpointGroup) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description,
            "filters": row.filters or {}}


def _apply(req, s, row: EndpointGroup, data: dict, creating: bool) -> None:
    """Keystone accepts only endpoint properties it can filter on (os_ep_filter.py)."""
    if any(key not in VALID_FILTERS for key in (data.get("filters") or {})):
        raise exception.BadRequest(
            f"Expecting to find {' or '.join(VALID_FILTERS)} in endpoint_groups. The server "
            "could not comply with the request since it is either malformed or otherwise "
            "incorrect. The client is assumed to be in error.")


ENDPOINT_GROUPS = Noun("endpoint_groups", "endpoint_group", EndpointGroup, _view,
                       filters=("name",), required=("name", "filters"),
                       fields=("name", "description", "filters"), apply=_apply,
                       prefix="/v3/OS-EP-FILTER")

ROUTES = crud.routes(ENDPOINT_GROUPS)
