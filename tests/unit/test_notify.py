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
