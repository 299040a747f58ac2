"""/os-server-external-events: other services (Neutron, Cinder, Cyborg) tell Nova that
something happened to a server (nova/api/openstack/compute/server_external_events.py).

Each event is answered on its own: 200 ``completed`` when dispatched to the server's
host, else ``failed`` with 404 (no such server), 400 (a tag-required event without a
tag) or 422 (the server has no host); any failure makes the whole answer 207.
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict

from sqlalchemy import select

from stackling import policy
from stackling.compute import cinder as volume_api
from stackling.compute.api import common
from stackling.compute.objects import instance_action
from stackling.db.models_compute import Instance
from stackling.web import validation
from stackling.web.app import Request, json_response, read_json

LOG = logging.getLogger(__name__)

policy.register({
    "os_compute_api:os-server-external-events:create": "role:admin or role:service"})

# schemas/server_external_events.py: the event names each microversion adds.
_NAMES = (("2.1", ("network-changed", "network-vif-plugged", "network-vif-unplugged",
                   "network-vif-deleted")),
          ("2.51", ("volume-extended",)), ("2.76", ("power-update",)),
          ("2.82", ("accelerator-request-bound",)), ("2.93", ("volume-reimaged",)))
_CREATE = validation.wrap("events", {
    "type": "array", "minItems": 1,
    "items": validation.obj({
        "name": {"type": "string", "enum": []},
        "server_uuid": validation.UUID,
        "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
        "tag": {"type": "string", "maxLength": 255},
    }, ("name", "server_uuid"))})
TAG_REQUIRED = ("volume-extended", "power-update", "accelerator-request-bound")
# The instance action Nova's compute API records for a user-visible event.
_POWER_ACTIONS = {"POWER_ON": instance_action.START, "POWER_OFF": instance_action.STOP}


def _schemas() -> list[tuple[str, dict]]:
    """One request schema per microversion that adds names, newest first."""
    out, names = [], []
    for version, added in _NAMES:
        names += added
        body = copy.deepcopy(_CREATE)
        body["properties"]["events"]["items"]["properties"]["name"]["enum"] = list(names)
        out.insert(0, (version, body))
    return out


_SCHEMAS = _schemas()


def _answer(event: dict, hosts: dict[str, str | None]) -> int:
    """Set the event's status and code; the code says whether it is dispatched (200)."""
    if event["server_uuid"] not in hosts:
        code = 404
    elif event["name"] in TAG_REQUIRED and "tag" not in event:
        code = 400
    else:
        code = 200 if hosts[event["server_uuid"]] else 422
    event["status"] = "completed" if code == 200 else "failed"
    event["code"] = code
    return code


def _record_action(s, req: Request, event: dict) -> bool:
    """``external_instance_event``: volume-extended and power-update are user-visible,
    so they start an instance action; a power-update with an unknown tag is dropped."""
    if event["name"] == "volume-extended":
        action = "extend_volume"
    elif event["name"] == "power-update":
        action = _POWER_ACTIONS.get(event["tag"])
        if action is None:
            LOG.warning("Invalid power state %s. Cannot process the event %s. Skipping it.",
                        event["tag"], event)
            return False
    else:
        return True
    instance_action.record(s, req.context, event["server_uuid"], action)
    return True


def create_events(req: Request):
    """``POST /os-server-external-events``: 200, or 207 when any event failed."""
    common.authorize(req, "os_compute_api:os-server-external-events:create")
    body = read_json(req)
    validation.check(req, body, next(b for v, b in _SCHEMAS if req.version.matches(v)))
    events = body["events"]
    uuids = {e["server_uuid"] for e in events}
    by_host: dict[str, list[dict]] = defaultdict(list)
    with req.app.cloud.db.writer() as s:
        hosts = dict(s.execute(select(Instance.uuid, Instance.host).where(
            Instance.uuid.in_(uuids), Instance.deleted == 0)).all())
        codes = [_answer(e, hosts) for e in events]
        for event, code in zip(events, codes, strict=True):
            if code == 200 and _record_action(s, req, event):
                by_host[hosts[event["server_uuid"]]].append(
                    {k: event[k] for k in ("name", "server_uuid", "status", "tag")
                     if k in event})
    caller = volume_api.Caller.from_context(req.context).as_dict()
    for host, dispatched in by_host.items():
        req.app.cloud.rpc.cast(f"compute.{host}", "external_instance_event",
                               events=dispatched, caller=caller,
                               request_id=req.context.request_id)
    return json_response({"events": events},
                         status=200 if all(c == 200 for c in codes) else 207)
