"""Cinder's notifications over RabbitMQ: sent only when cinder.conf turns them on, heard by
every listening pool (issue 14: a nova-compute process hears a volume's creation end and
polls it then, instead of every 20 ms)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests import rabbit
from tests.helpers import unavailable

ON = "[oslo_messaging_notifications]\ndriver = messagingv2\n"


@pytest.fixture
def transports(tmp_path):
    """make(url, extra conf) -> an OsloTransport configured as a cinder.conf would."""
    if not rabbit.running():
        unavailable("RabbitMQ is not running on 127.0.0.1:5672")
    made = rabbit.Transports(tmp_path)

    def make(url: str, extra: str = ""):
        return made.make(url, "[DEFAULT]\ncontrol_exchange = cinder\n" + extra)

    make.stop = made.stop
    yield make
    made.stop()


class Heard:
    def __init__(self, expect: int) -> None:
        self.items: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.expect = expect

    def __call__(self, event_type: str, payload: dict) -> None:
        with self.lock:
            self.items.append((event_type, payload))

    def settle(self, timeout: float = 20) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.items) < self.expect and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)     # one too many would show by now
        return sorted(self.items, key=lambda i: (i[0], i[1].get("volume_id", "")))


def test_every_pool_hears_the_chosen_notifications(transports):
    """Two listening pools (two nova-compute processes) each get every creation's end;
    other event types are left out; the error priority is heard as well as info."""
    with rabbit.vhost("notify") as url:
        sender = transports(url, ON)
        a, b = Heard(expect=2), Heard(expect=2)
        ends = ("volume.create.end", "scheduler.create_volume")
        assert transports(url, ON).listen("cinder", ends, a, pool="nova-compute.h1.x")
        assert transports(url, ON).listen("cinder", ends, b, pool="nova-compute.h2.x")
        time.sleep(0.5)     # the listeners' queues are bound before anything is sent
        v1, v2 = str(uuid.uuid4()), str(uuid.uuid4())
        assert sender.notifies("cinder")
        sender.notify("cinder", "volume.controller2@file", "volume.create.start",
                      {"volume_id": v1})
        sender.notify("cinder", "volume.controller2@file", "volume.create.end",
                      {"volume_id": v1, "status": "available"})
        sender.notify("cinder", "scheduler.controller", "scheduler.create_volume",
                      {"volume_id": v2, "state": "error"}, priority="error")
        want = [("scheduler.create_volume", {"volume_id": v2, "state": "error"}),
                ("volume.create.end", {"volume_id": v1, "status": "available"})]
        assert a.settle() == want
        assert b.settle() == want
        transports.stop()       # before the virtual host goes


def test_without_the_driver_nothing_is_sent(transports):
    with rabbit.vhost("notify") as url:
        sender = transports(url)
        heard = Heard(expect=1)
        transports(url, ON).listen("cinder", ("volume.create.end",), heard, pool="p")
        time.sleep(0.5)
        assert not sender.notifies("cinder")
        sender.notify("cinder", "volume.h", "volume.create.end", {"volume_id": "v"})
        assert heard.settle(timeout=1) == []
        transports.stop()
