"""Instance actions and their events: what was asked of a server, and how each step went.

The API records the action before it casts (so a failed operation keeps its record); the
worker that does a step wraps it in ``event(...)`` (nova/compute/utils.py
``EventReporter``): a start row, then ``Success`` or ``Error`` with the traceback, and an
``Error`` message on the action once any of its events failed.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from stackling.db.models import utcnow
from stackling.db.models_compute import InstanceAction, InstanceActionEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud
    from stackling.context import RequestContext

# nova/compute/instance_actions.py names the API records.
CREATE, DELETE, START, STOP, REBOOT = "create", "delete", "start", "stop", "reboot"


def record(s: Session, ctx: RequestContext, instance_uuid: str, action: str) -> None:
    """``InstanceAction.action_start`` inside the caller's write transaction."""
    s.add(InstanceAction(action=action, instance_uuid=instance_uuid,
                         request_id=ctx.request_id, user_id=ctx.user_id,
                         project_id=ctx.project_id))


def _action(s: Session, instance_uuid: str, request_id: str | None) -> InstanceAction | None:
    if not request_id:
        return None
    return s.scalar(select(InstanceAction).where(
        InstanceAction.instance_uuid == instance_uuid, InstanceAction.request_id == request_id)
        .order_by(InstanceAction.id.desc()).limit(1))


@contextlib.contextmanager
def event(cloud: Cloud, instance_uuid: str, request_id: str | None, name: str,
          host: str | None = None) -> Iterator[None]:
    """Record one event of the action ``request_id`` around a step; re-raise its error."""
    with cloud.db.writer() as s:
        action = _action(s, instance_uuid, request_id)
        if action is None:
            event_id = None
        else:
            row = InstanceActionEvent(action_id=action.id, event=name, host=host)
            s.add(row)
            s.flush()
            event_id = row.id
    try:
        yield
    except BaseException as exc:
        _finish(cloud, event_id, "Error", traceback.format_exc(), str(exc) or type(exc).__name__)
        raise
    _finish(cloud, event_id, "Success")


def _finish(cloud: Cloud, event_id: int | None, result: str, tb: str | None = None,
            details: str | None = None) -> None:
    if event_id is None:
        return
    now = utcnow()
    action_values = {"finish_time": now, **({"message": "Error"} if result == "Error" else {})}
    with cloud.db.writer() as s:   # two UPDATEs, no reads
        s.execute(update(InstanceActionEvent).where(InstanceActionEvent.id == event_id)
                  .values(finish_time=now, result=result, traceback=tb, details=details))
        s.execute(update(InstanceAction).where(InstanceAction.id == select(
            InstanceActionEvent.action_id).where(InstanceActionEvent.id == event_id)
            .scalar_subquery()).values(**action_values))


def succeeded(s: Session, instance_uuid: str, request_id: str | None, name: str,
              host: str | None = None) -> None:
    """An event with nothing slow between its start and its end, started and finished
    inside the caller's write transaction (one write where ``event`` makes two)."""
    action = _action(s, instance_uuid, request_id)
    if action is None:
        return
    now = utcnow()
    s.add(InstanceActionEvent(action_id=action.id, event=name, host=host, start_time=now,
                              finish_time=now, result="Success"))
    action.finish_time = now


def fail(cloud: Cloud, instance_uuid: str, request_id: str | None, name: str,
         message: str, host: str | None = None) -> None:
    """An event that failed without an exception in hand (e.g. a refused request)."""
    try:
        with event(cloud, instance_uuid, request_id, name, host):
            raise RuntimeError(message)
    except RuntimeError:
        pass
