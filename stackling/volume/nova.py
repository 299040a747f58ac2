"""Cinder's Nova client (cinder/compute/nova.py): the external events Cinder sends to
Nova's API when it changed a volume under a server's feet.

Cinder sends them as its privileged ``[nova]`` user. In one process stackling's
stand-in is the bootstrap admin's token (the one Nova uses for its Neutron service
calls); when cinder runs apart, its own service user's. The request goes through the
compute API as any client's would (routing, policy, schema).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stackling import clients

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


def _privileged_token(cloud: Cloud) -> str:
    session = getattr(cloud.sender("cinder"), "session", None)
    return session.get_token() if session is not None else clients.admin_token(cloud)


def _send_events(cloud: Cloud, events: list[dict], microversion: str) -> bool:
    """``_send_events``: False when Nova refused the request or any event came back
    without a code; per-event failures (207) are only logged, as Cinder does."""
    client = clients.ServiceClient(cloud, "compute", _privileged_token(cloud), microversion,
                                   source="cinder")
    try:
        _, body, _ = client.request("POST", "/v2.1/os-server-external-events",
                                    {"events": events})
    except clients.ApiError as exc:
        LOG.warning("Failed to notify nova on events %s: %s", events, exc)
        return False
    answered = body.get("events") if isinstance(body, dict) else None
    if not isinstance(answered, list) or any(e.get("code") is None for e in answered):
        LOG.error("Error response returned from nova: %s.", body)
        return False
    for event in answered:
        if event["code"] != 200:
            LOG.warning("Nova event: %s returned with failed status.", event)
    return True


def extend_volume(cloud: Cloud, server_ids: list[str], volume_id: str) -> bool:
    """A ``volume-extended`` event (microversion 2.51) per server the volume is on."""
    events = [{"name": "volume-extended", "server_uuid": server_id, "tag": volume_id}
              for server_id in server_ids]
    return _send_events(cloud, events, "2.51")
