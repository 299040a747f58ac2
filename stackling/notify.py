"""In-process change notifications: wake a poller as soon as what it polls has changed.

Nova waits for a volume by polling Cinder's API every ``block_device_allocate_retries
_interval`` seconds. In one process we know when the volume changes, so the poll loop
waits on this notifier instead of sleeping blindly: it still reads the volume through
the API (same requests, same answers), only sooner. Across processes, Cinder's own
notifications (``volume.create.end``, when ``[oslo_messaging_notifications] driver`` is
set in cinder.conf) are fed in here by the nova-compute process that hears them
(stackling/compute/__init__.py); without them the loop keeps its interval, as real Nova.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

# How many of the latest changed keys are remembered (changed_lately), watched or not.
RECENT = 4096


class ChangeNotifier:
    """A version per watched key; waiters of a key are woken by a change of that key only
    (with 32 builds waiting, one condition for all keys woke all 32 for every change).

    A key is watched from its first ``version()`` until ``forget()``; a change of a key
    nobody watches is not kept (a process hearing every volume's notices would otherwise
    keep one entry per volume for ever). Nothing is lost by that: a watcher reads the
    version before it reads what the key stands for, and a change is announced after it
    is committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, list[threading.Event]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        # A notice came from another process (a Cinder notification over the broker):
        # pollers in this process may then rely on being woken.
        self.heard_from_broker = False

    def version(self, key: str) -> int:
        with self._lock:
            return self._versions.setdefault(key, 0)

    def changed(self, key: str) -> None:
        with self._lock:
            if key in self._versions:
                self._versions[key] += 1
            self._recent[key] = None
            self._recent.move_to_end(key)
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)
            waiters = self._waiters.pop(key, [])
        for event in waiters:
            event.set()

    def changed_lately(self, key: str) -> bool:
        """Whether ``key`` is among the last RECENT keys that changed: a watcher that
        started after the key's id was known (a volume's, from its create) asks this
        before it relies on waiting for a change."""
        with self._lock:
            return key in self._recent

    def wait(self, key: str, since: int, timeout: float) -> bool:
        """Block until ``key`` changed after version ``since`` or ``timeout`` passed."""
        with self._lock:
            if self._versions.get(key, since) != since:
                return True
            event = threading.Event()
            self._waiters.setdefault(key, []).append(event)
        event.wait(timeout)
        with self._lock:
            waiting = self._waiters.get(key)
            if waiting and event in waiting:
                waiting.remove(event)
                if not waiting:
                    del self._waiters[key]
            return self._versions.get(key, since) != since

    def forget(self, key: str) -> None:
        with self._lock:
            self._versions.pop(key, None)
