"""Clouds sharing one RabbitMQ stay apart only on virtual hosts of their own (issue 14).

bench/bench_crash.py --spread left a volume ``deleting`` in half of its runs: the
``delete_volume`` cast went into the queue ``cinder-volume.controller2@file``, which every
cloud of the default topology on virtual host ``/`` consumes whatever its
control_exchange, and another test's cinder-volume took it (no such volume there: done).
tests/rabbit.py gives each test cloud a virtual host; these check both facts with the
transport the processes use (stackling.seams.messaging).
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from contextlib import ExitStack

import pytest

from tests import rabbit
from tests.helpers import unavailable

CASTS = 20


class Backend:
    """A cinder-volume endpoint that only counts the deletes it is given."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.lock = threading.Lock()

    def delete_volume(self, volume_id: str) -> None:
        with self.lock:
            self.deleted.append(volume_id)


@pytest.fixture
def transports(tmp_path):
    """make(url, exchange) -> an OsloTransport as cinder.conf of that cloud configures it."""
    if not rabbit.running():
        unavailable("RabbitMQ is not running on 127.0.0.1:5672")
    made = rabbit.Transports(tmp_path)

    def make(url: str, exchange: str):
        return made.make(url, f"[DEFAULT]\ncontrol_exchange = {exchange}\n")

    make.stop = made.stop
    yield make
    made.stop()


def _cast_and_settle(sender, topic: str, backends: list[Backend]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(CASTS)]
    for vid in ids:
        sender.cast(topic, "delete_volume", volume_id=vid)
    deadline = time.monotonic() + 20
    while sum(len(b.deleted) for b in backends) < CASTS and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)     # a stray delivery to the other cloud would show by now
    return ids


def test_each_cloud_on_its_own_virtual_host_gets_only_its_own_casts(transports):
    """Two clouds of the same topology (one backend named controller2@file each) and the
    same control_exchange: every cast of the first reaches the first's backend only."""
    topic = "cinder-volume.controller2@file"
    with ExitStack() as stack:
        a_url, b_url = (stack.enter_context(rabbit.vhost("isolation")) for _ in range(2))
        a, b = transports(a_url, "openstack"), transports(b_url, "openstack")
        mine, theirs = Backend(), Backend()
        a.register(topic, mine)
        b.register(topic, theirs)
        ids = _cast_and_settle(a, topic, [mine, theirs])
        assert sorted(mine.deleted) == sorted(ids)
        assert theirs.deleted == []
        transports.stop()       # before their virtual hosts go


def test_control_exchange_alone_does_not_keep_clouds_apart(transports):
    """Why the virtual hosts: on one virtual host, two exchanges route into the same
    server queue, and RabbitMQ deals its messages out to both clouds' consumers. (A server
    name of this test's own: the shared ``/`` must not take other clouds' messages.)"""
    topic = f"cinder-volume.isolation-{uuid.uuid4().hex[:8]}@file"
    a = transports(rabbit.SHARED, f"isolation-{uuid.uuid4().hex[:8]}")
    b = transports(rabbit.SHARED, f"isolation-{uuid.uuid4().hex[:8]}")
    mine, theirs = Backend(), Backend()
    a.register(topic, mine)
    b.register(topic, theirs)
    try:
        ids = _cast_and_settle(a, topic, [mine, theirs])
        assert sorted(mine.deleted + theirs.deleted) == sorted(ids)
        assert theirs.deleted, "the other exchange's consumer got none of the queue's messages"
    finally:
        transports.stop()
        # The server queue outlives its consumers (not auto-delete): remove this test's.
        subprocess.run(["rabbitmqctl", "-q", "delete_queue", topic], capture_output=True,
                       timeout=60)
