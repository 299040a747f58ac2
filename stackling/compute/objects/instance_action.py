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

from sqlalchemy import bindparam, insert, select, update

from stackling.db.models import utcnow
from stackling.db.models_compute import InstanceAction, InstanceActionEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud
    from stackling.context import RequestContext

# nova/compute/instance_actions.py names the API records.
CREATE, DELETE, START, STOP, REBOOT = "create", "delete", "start", "stop", "reboot"


_ACTIONS, _EVENTS = InstanceAction.__table__, InstanceActionEvent.__table__
# Core statements built once; the columns they write come from each execution's
# parameters.
_INSERT_ACTION, _INSERT_EVENT = insert(_ACTIONS), insert(_EVENTS)
_UPDATE_ACTION = update(_ACTIONS).where(_ACTIONS.c.id == bindparam("action_id"))
_UPDATE_EVENT = update(_EVENTS).where(_EVENTS.c.id == bindparam("event_id"))
_UPDATE_ACTION_OF_EVENT = update(_ACTIONS).where(_ACTIONS.c.id == select(
    _EVENTS.c.action_id).where(_EVENTS.c.id == bindparam("event_id")).scalar_subquery())


def record(s: Session, ctx: RequestContext, instance_uuid: str, action: str) -> None:
    """``InstanceAction.action_start`` inside the caller's write transaction."""
    s.execute(_INSERT_ACTION, {"action": action, "instance_uuid": instance_uuid,
                               "request_id": ctx.request_id, "user_id": ctx.user_id,
                               "project_id": ctx.project_id})


# The action a request started (its latest, should a request id repeat).
_ACTION_ID = (select(_ACTIONS.c.id)
              .where(_ACTIONS.c.instance_uuid == bindparam("uuid"),
                     _ACTIONS.c.request_id == bindparam("request_id"))
              .order_by(_ACTIONS.c.id.desc()).limit(1))


def _action(s: Session, instance_uuid: str, request_id: str | None) -> int | None:
    """The id of the action ``request_id`` started on the instance, if any."""
    if not request_id:
        return None
    return s.scalar(_ACTION_ID, {"uuid": instance_uuid, "request_id": request_id})


class Event:
    """The open event of ``event(...)``. A step whose last write ends it can close it with
    ``succeeded_in(s)`` in that transaction instead of a write of its own after it; an
    error raised after that still turns it into ``Error``."""

    __slots__ = ("id", "closed")

    def __init__(self, event_id: int | None) -> None:
        self.id, self.closed = event_id, False

    def succeeded_in(self, s: Session) -> None:
        _close(s, self.id, "Success")
        self.closed = True


@contextlib.contextmanager
def event(cloud: Cloud, instance_uuid: str, request_id: str | None, name: str,
          host: str | None = None) -> Iterator[Event]:
    """Record one event of the action ``request_id`` around a step; re-raise its error."""
    with cloud.db.writer_connection() as s:
        action_id = _action(s, instance_uuid, request_id)
        if action_id is None:
            event_id = None
        else:
            event_id = s.execute(_INSERT_EVENT, {"action_id": action_id, "event": name,
                                                 "host": host}).inserted_primary_key[0]
    ev = Event(event_id)
    try:
        yield ev
    except BaseException as exc:
        _finish(cloud, event_id, "Error", traceback.format_exc(), str(exc) or type(exc).__name__)
        raise
    if not ev.closed:
        _finish(cloud, event_id, "Success")


def _finish(cloud: Cloud, event_id: int | None, result: str, tb: str | None = None,
            details: str | None = None) -> None:
    if event_id is None:
        return
    with cloud.db.writer_connection() as s:
        _close(s, event_id, result, tb, details)


def _close(s: Session, event_id: int | None, result: str, tb: str | None = None,
           details: str | None = None) -> None:
    """The event's result and the action's finish time: two UPDATEs, no reads."""
    if event_id is None:
        return
    now = utcnow()
    action_values = {"finish_time": now, **({"message": "Error"} if result == "Error" else {})}
    s.execute(_UPDATE_EVENT, {"event_id": event_id, "finish_time": now, "result": result,
                              "traceback": tb, "details": details})
    s.execute(_UPDATE_ACTION_OF_EVENT, {"event_id": event_id, **action_values})


def succeeded(s: Session, instance_uuid: str, request_id: str | None, name: str,
              host: str | None = None) -> None:
    """An event with nothing slow between its start and its end, started and finished
    inside the caller's write transaction (one write where ``event`` makes two)."""
    action_id = _action(s, instance_uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    s.execute(_UPDATE_ACTION, {"action_id": action_id, "finish_time": now})
    s.execute(_INSERT_EVENT, {"action_id": action_id, "event": name, "host": host,
                              "start_time": now, "finish_time": now, "result": "Success"})


def fail(cloud: Cloud, instance_uuid: str, request_id: str | None, name: str,
         message: str, host: str | None = None) -> None:
    """An event that failed without an exception in hand (e.g. a refused request)."""
    try:
        with event(cloud, instance_uuid, request_id, name, host):
            raise RuntimeError(message)
    except RuntimeError:
        pass
