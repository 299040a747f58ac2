"""The change notifier wakes a waiter at once, and times out when nothing changes."""

from __future__ import annotations

import threading
import time

from stackling.notify import ChangeNotifier


def test_wait_returns_as_soon_as_the_key_changes():
    n = ChangeNotifier()
    since = n.version("vol-1")
    threading.Timer(0.05, n.changed, args=("vol-1",)).start()
    t0 = time.monotonic()
    assert n.wait("vol-1", since, timeout=5) is True
    assert time.monotonic() - t0 < 1


def test_wait_times_out_and_other_keys_do_not_wake_it():
    n = ChangeNotifier()
    since = n.version("vol-1")
    n.changed("vol-2")
    t0 = time.monotonic()
    assert n.wait("vol-1", since, timeout=0.05) is False
    assert time.monotonic() - t0 >= 0.05


def test_a_change_before_the_wait_is_not_lost():
    n = ChangeNotifier()
    since = n.version("vol-1")
    n.changed("vol-1")
    assert n.wait("vol-1", since, timeout=0) is True


def test_a_change_wakes_only_the_waiters_of_its_key():
    n = ChangeNotifier()
    woken: list[str] = []

    def waiter(key: str) -> None:
        if n.wait(key, n.version(key), timeout=5):
            woken.append(key)

    threads = [threading.Thread(target=waiter, args=(k,)) for k in ("a", "a", "b")]
    for t in threads:
        t.start()
    time.sleep(0.05)
    n.changed("a")
    threads[0].join(2), threads[1].join(2)
    assert woken == ["a", "a"] and threads[2].is_alive()
    n.changed("b")
    threads[2].join(2)
    assert woken == ["a", "a", "b"] and not n._waiters


def test_a_change_of_an_unwatched_key_is_not_kept():
    """A process hearing every volume's notices keeps nothing for volumes it never
    waited for; a watcher's key goes when it is forgotten."""
    n = ChangeNotifier()
    n.changed("someone-elses-volume")
    assert n._versions == {}
    since = n.version("mine")
    n.changed("mine")
    assert n.wait("mine", since, timeout=0) is True
    n.forget("mine")
    assert n._versions == {}


def test_nova_compute_hears_cinder_creation_ends():
    """compute._hear_cinder: with Cinder's notifications on, the end of a creation wakes
    the build waiting for that volume, and from then on the builds rely on it."""
    from types import SimpleNamespace

    from stackling import compute

    class Rpc:
        def __init__(self, on: bool) -> None:
            self.on, self.listening = on, []

        def notifies(self, project: str) -> bool:
            return self.on and project == "cinder"

        def listen(self, project, event_types, callback, pool) -> bool:
            self.listening.append((project, event_types, callback, pool))
            return True

    off = SimpleNamespace(rpc=Rpc(False), notifier=ChangeNotifier())
    compute._hear_cinder(off, "controller1")
    assert off.rpc.listening == []

    cloud = SimpleNamespace(rpc=Rpc(True), notifier=ChangeNotifier())
    compute._hear_cinder(cloud, "controller1")
    [(project, types, heard, pool)] = cloud.rpc.listening
    assert project == "cinder" and pool == "nova-compute.controller1.volume-creations"
    assert set(types) == {"volume.create.end", "scheduler.create_volume"}
    since = cloud.notifier.version("vol-1")
    heard("scheduler.create_volume", {"volume_id": "vol-1", "state": "error"})
    assert cloud.notifier.wait("vol-1", since, timeout=0) is True
    assert cloud.notifier.heard_from_broker is False     # an error says nothing of volumes
    since = cloud.notifier.version("vol-1")
    heard("volume.create.end", {"volume_id": "vol-1", "status": "available"})
    assert cloud.notifier.wait("vol-1", since, timeout=0) is True
    assert cloud.notifier.heard_from_broker is True
    heard("volume.create.end", {"no": "volume id"})      # ignored, not an error


def test_the_latest_changes_are_remembered_watched_or_not(monkeypatch):
    """A build learns its volume's id from the create: a creation that ended before the
    build started watching is among the changes seen lately, so it polls at once."""
    from stackling import notify

    monkeypatch.setattr(notify, "RECENT", 3)
    n = ChangeNotifier()
    assert not n.changed_lately("vol-1")
    n.changed("vol-1")
    assert n.changed_lately("vol-1") and n._versions == {}
    for key in ("vol-2", "vol-3", "vol-1", "vol-4"):
        n.changed(key)
    assert [k for k in ("vol-1", "vol-2", "vol-3", "vol-4") if n.changed_lately(k)] == \
        ["vol-1", "vol-3", "vol-4"]
