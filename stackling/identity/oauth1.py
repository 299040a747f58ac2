"""OS-OAUTH1 consumers: ``/v3/OS-OAUTH1/consumers``. A consumer's secret is made by
Keystone and shown once, in the create answer.

Only the consumers are served; the OAuth 1.0a request/access token flow
(``/v3/OS-OAUTH1/request_token`` ...) is not.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from stackling import exception, policy
from stackling.db.models import OAuthConsumer
from stackling.identity import common, crud
from stackling.identity.common import Noun
from stackling.web.app import Request, json_response

policy.register({f"identity:{verb}_consumer{s}": common.ADMIN
                 for verb, s in (("list", "s"), ("get", ""), ("create", ""), ("update", ""),
                                 ("delete", ""))})


def _view(row: OAuthConsumer) -> dict[str, Any]:
    return {**(row.extra or {}), "id": row.id, "description": row.description}


def _apply(req, s, row: OAuthConsumer, data: dict, creating: bool) -> None:
    if not creating and "secret" in data:
        raise exception.BadRequest("Cannot change consumer secret")
    if creating:
        row.secret = secrets.token_hex(16)      # whatever the body said


CONSUMERS = Noun("consumers", "consumer", OAuthConsumer, _view, required=(),
                 fields=("description",), keeps_extra=True, apply=_apply,
                 extra_ignored=frozenset({"secret"}), prefix="/v3/OS-OAUTH1")


def create_consumer(req: Request):
    """201 with the consumer and, this once, its secret."""
    made = json.loads(crud.create_entity(req, CONSUMERS).body)
    with req.app.cloud.db.reader() as s:
        made["consumer"]["secret"] = s.get(OAuthConsumer, made["consumer"]["id"]).secret
    return json_response(made, status=201)


ROUTES = [(path, {**verbs, "POST": create_consumer} if "POST" in verbs else verbs)
          for path, verbs in crud.routes(CONSUMERS)]
