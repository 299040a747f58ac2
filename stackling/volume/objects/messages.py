"""User messages: the rows that tell a project about an asynchronous failure.

Event ids and texts follow cinder/message/message_field.py: ``VOLUME_<resource>_<action>_<detail>``
and ``user_message = "<action text>:<detail text>"``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from stackling.db.models import utcnow
from stackling.db.models_volume import Message

if TYPE_CHECKING:
    from stackling.cloud import Cloud

ACTIONS = {
    "001": "schedule allocate volume", "002": "attach volume", "003": "copy volume to image",
    "004": "update attachment", "005": "copy image to volume", "006": "unmanage volume",
    "007": "extend volume", "008": "create volume from backend storage",
    "009": "create snapshot", "010": "delete snapshot",
}


DETAILS = {
    "001": "An unknown error occurred.",
    "002": "Driver is not initialized at present.",
    "003": "Could not find any available weighted backend.",
    "004": "Failed to upload volume to image at backend.",
    "006": "Not enough quota resource for operation.",
    "007": "Image used for creating volume exceeds available space.",
    "009": "Compute service failed to extend volume.",
    "010": "Volume Driver failed to extend volume.",
    "012": "Driver failed to create the volume.",
}


MESSAGE_TTL = 2592000


def record(cloud: Cloud, *, project_id: str, request_id: str | None, resource_type: str,
           resource_uuid: str | None, action: str, detail: str, level: str = "ERROR") -> None:
    now = utcnow()
    with cloud.db.writer() as s:
        s.add(Message(project_id=project_id, request_id=request_id,
                      resource_type=resource_type, resource_uuid=resource_uuid,
                      event_id=f"VOLUME_{resource_type}_{action}_{detail}",
                      message_level=level, created_at=now,
                      expires_at=now + dt.timedelta(seconds=MESSAGE_TTL)))


def user_message(event_id: str) -> str:
    parts = event_id.split("_")
    action, detail = parts[-2], parts[-1]
    return f"{ACTIONS.get(action, action)}:{DETAILS.get(detail, DETAILS['001'])}"
