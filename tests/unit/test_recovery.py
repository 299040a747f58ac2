"""The start-up repair decisions, as pure functions (nova-compute ``_init_instance``,
cinder-volume ``init_host``), and the deadlock classifier the retries use."""

from __future__ import annotations

import pytest
from sqlalchemy import exc

from stackling.compute import recovery as nova
from stackling.db.api import is_retriable
from stackling.volume import recovery as cinder


# nova/compute/manager.py _init_instance: BUILDING, or one of these task states, → ERROR.
@pytest.mark.parametrize("vm_state, task_state", [
    ("building", "scheduling"), ("building", "block_device_mapping"),
    ("building", "networking"), ("building", "spawning"), ("building", None),
    ("active", "spawning"),
])
def test_an_instance_caught_building_goes_to_error(vm_state, task_state):
    assert nova.instance_action(vm_state, task_state) == (nova.ERROR, "error")


@pytest.mark.parametrize("vm_state", ["building", "active", "error", "stopped"])
def test_an_interrupted_delete_is_finished(vm_state):
    assert nova.instance_action(vm_state, "deleting") == (nova.DELETE, None)


@pytest.mark.parametrize("task_state, vm_state", [
    ("powering-on", "active"), ("powering-off", "stopped"), ("rebooting", "active"),
    ("rebooting_hard", "active"),
])
def test_an_interrupted_power_action_ends_where_it_was_going(task_state, vm_state):
    assert nova.instance_action("active", task_state) == ("finish", vm_state)


@pytest.mark.parametrize("vm_state", ["active", "error", "stopped"])
def test_a_settled_instance_is_left_alone(vm_state):
    assert nova.instance_action(vm_state, None) is None


# cinder/volume/manager.py init_host: creating/downloading → error, deleting → delete,
# uploading → by the attachments (_do_cleanup).
@pytest.mark.parametrize("status, action", [
    ("creating", cinder.ERROR), ("downloading", cinder.ERROR), ("deleting", cinder.DELETE),
    ("uploading", cinder.BY_ATTACHMENT),
    ("reserved", cinder.RECONCILE), ("attaching", cinder.RECONCILE),
    ("detaching", cinder.RECONCILE), ("available", None), ("in-use", None), ("error", None),
    ("error_deleting", None),
])
def test_volume_actions(status, action):
    assert cinder.volume_action(status) == action


@pytest.mark.parametrize("status, action", [
    ("creating", cinder.ERROR), ("deleting", cinder.DELETE), ("available", None),
])
def test_snapshot_actions(status, action):
    assert cinder.snapshot_action(status) == action


@pytest.mark.parametrize("attach_status, alive, action", [
    ("attached", False, "delete"), ("reserved", False, "delete"),
    ("attaching", True, "error_attaching"), ("detaching", True, "attached"),
    ("reserved", True, None), ("attached", True, None),
])
def test_attachment_actions(attach_status, alive, action):
    assert cinder.attachment_action(attach_status, alive) == action


def test_orphan_files_are_those_no_row_owns_and_staged_leftovers():
    a, b = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    names = [f"volume-{a}", f"volume-{b}", f".volume-{a}.x1y2.part", "snapshots", "other"]
    assert cinder.orphan_files(names, {a}) == [f"volume-{b}", f".volume-{a}.x1y2.part"]


class _Orig(Exception):
    def __init__(self, *args, sqlstate=None):
        super().__init__(*args)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("orig, retried", [
    (_Orig("deadlock detected", sqlstate="40P01"), True),          # PostgreSQL deadlock
    (_Orig("could not serialize", sqlstate="40001"), True),        # serialization failure
    (_Orig(1213, "Deadlock found when trying to get lock"), True),  # MariaDB deadlock
    (_Orig(1205, "Lock wait timeout exceeded"), True),
    (_Orig("database is locked"), True),                           # SQLite busy
    (_Orig(1062, "Duplicate entry"), False),
    (_Orig("syntax error", sqlstate="42601"), False),
])
def test_deadlocks_and_serialization_failures_are_retried(orig, retried):
    assert is_retriable(exc.OperationalError("UPDATE ...", {}, orig)) is retried


def test_other_errors_are_not_retried():
    assert not is_retriable(ValueError("no"))


def test_retry_on_deadlock_reruns_a_deadlocked_transaction_up_to_twenty_times(monkeypatch):
    from stackling.db.api import retry_on_deadlock

    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    deadlock = exc.OperationalError("UPDATE ...", {}, _Orig("deadlock detected",
                                                            sqlstate="40P01"))
    calls = []

    @retry_on_deadlock
    def twice_deadlocked(x):
        calls.append(x)
        if len(calls) <= 2:
            raise deadlock
        return x * 2

    assert twice_deadlocked(21) == 42 and calls == [21, 21, 21]
    assert len(waits) == 2 and all(0 <= w <= 0.02 for w in waits)

    calls.clear()

    @retry_on_deadlock
    def wrong(x):
        calls.append(x)
        raise ValueError("not a deadlock")

    with pytest.raises(ValueError):
        wrong(1)
    assert calls == [1]

    calls.clear()

    @retry_on_deadlock
    def always(x):
        calls.append(x)
        raise deadlock

    with pytest.raises(exc.OperationalError):
        always(1)
    assert len(calls) == 20
    assert max(waits) <= 1.0
