"""``POST /servers/{id}/action``: every action served, by name, to its handler."""

from __future__ import annotations

from stackling import exception
from stackling.compute.api import (
    floating_ips,
    security_groups,
    server_actions,
    server_images,
    server_lifecycle,
    server_moves,
)
from stackling.compute.objects import instance as instances
from stackling.web.app import Request, read_json

HANDLERS = {**server_actions.SPECIAL, **server_moves.HANDLERS, **server_lifecycle.HANDLERS,
            "os-resetState": server_actions.reset_state,
            "restore": server_actions.restore,
            "createImage": server_images.create_image,
            "createBackup": server_images.create_backup,
            "injectNetworkInfo": server_actions.inject_network_info,
            **security_groups.HANDLERS, **floating_ips.HANDLERS}


def server_action(req: Request, server_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    name, data = next(iter(body.items()))
    if name in HANDLERS:
        return HANDLERS[name](req, server_id, data)
    action = server_actions.ACTIONS.get(name)
    if action is None or (action.min_version and not req.version.matches(action.min_version)):
        if name in server_actions.UNSERVED:
            with req.app.cloud.db.reader() as s:
                instances.get(s, req.context, server_id)
        raise exception.BadRequest(f"There is no such action: {name}")
    if name == "trigger_crash_dump" and data is not None:
        raise exception.ValidationError(field="trigger_crash_dump", value=data,
                                        detail=f"{data!r} is not of type 'null'")
    return server_actions.state_action(req, server_id, action, data)
