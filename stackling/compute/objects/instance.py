"""Instance row writes as compare-and-swap on the task state (``Instance.save`` with
``expected_task_state``, nova/db/main/api.py ``_instance_update``).

A build step saves its next state only if the task state is still the one it left;
when a delete came in meanwhile (``deleting``) or the row is gone, the step learns it
and stops, instead of overwriting the delete.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stackling import exception
from stackling.db.api import retry_on_deadlock
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance

_ANY = object()


class InstanceNotFound(exception.NotFound):
    msg_fmt = "Instance %(instance_id)s could not be found."


class UnexpectedTaskState(exception.Conflict):
    msg_fmt = ("Conflict updating instance %(instance_uuid)s. Expected: "
               "%(expected)s. Actual: %(actual)s")


class UnexpectedDeletingTaskState(UnexpectedTaskState):
    pass


def _states(expected) -> list:
    return list(expected) if isinstance(expected, (list, tuple, set, frozenset)) \
        else [expected]


def conditional_update(s: Session, instance_uuid: str, expected_task_state=_ANY,
                       expected_vm_state=_ANY, **values) -> None:
    """Save ``values`` on a live instance whose states are the expected ones; raise
    InstanceNotFound / UnexpectedDeletingTaskState / UnexpectedTaskState otherwise."""
    q = update(Instance).where(Instance.uuid == instance_uuid, Instance.deleted == 0)
    for column, expected in ((Instance.task_state, expected_task_state),
                             (Instance.vm_state, expected_vm_state)):
        if expected is _ANY:
            continue
        states = _states(expected)
        cond = column.in_([x for x in states if x is not None])
        if None in states:
            cond = cond | column.is_(None)
        q = q.where(cond)
    if s.execute(q.values(updated_at=utcnow(), **values)
                 .execution_options(synchronize_session=False)).rowcount == 1:
        return
    row = s.execute(select(Instance.task_state, Instance.vm_state, Instance.deleted)
                    .where(Instance.uuid == instance_uuid)).first()
    if row is None or row.deleted:
        raise InstanceNotFound(instance_id=instance_uuid)
    expected = expected_task_state if expected_task_state is not _ANY else expected_vm_state
    actual = row.task_state if expected_task_state is not _ANY else row.vm_state
    cls = UnexpectedDeletingTaskState if row.task_state == "deleting" else \
        UnexpectedTaskState
    raise cls(instance_uuid=instance_uuid, expected=expected, actual=actual)


@retry_on_deadlock
def save(cloud, instance_uuid: str, expected_task_state=_ANY, expected_vm_state=_ANY,
         **values) -> None:
    """``conditional_update`` in a transaction of its own."""
    with cloud.db.writer() as s:
        conditional_update(s, instance_uuid, expected_task_state, expected_vm_state,
                           **values)


def mark_deleted(s: Session, instance_uuid: str, only_unscheduled: bool = False) -> bool:
    """Soft-delete (Nova: ``deleted = id``); with ``only_unscheduled`` only while no host
    was chosen. True when this call deleted it."""
    now = utcnow()
    q = update(Instance).where(Instance.uuid == instance_uuid, Instance.deleted == 0)
    if only_unscheduled:
        q = q.where(Instance.host.is_(None))
    return s.execute(q.values(deleted=Instance.id, deleted_at=now, terminated_at=now,
                              updated_at=now, vm_state="deleted", task_state=None,
                              power_state=0)
                     .execution_options(synchronize_session=False)).rowcount == 1
