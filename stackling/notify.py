"""In-process change notifications: wake a poller as soon as what it polls has changed.

Nova waits for a volume by polling Cinder's API every ``block_device_allocate_retries
_interval`` seconds. In one process we know when the volume changes, so the poll loop
waits on this notifier instead of sleeping blindly: it still reads the volume through
the API (same requests, same answers), only sooner. Across processes nothing is
notified and the loop falls back to its interval, as real Nova does.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class ChangeNotifier:
    """A version per key; waiters of a key are woken by a change of that key only (with
    32 builds waiting, one condition for all keys woke all 32 for every change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[threading.Event]] = {}

    def version(self, key: str) -> int:
        with self._lock:
            return self._versions[key]

    def changed(self, key: str) -> None:
        with self._lock:
            self._versions[key] += 1
            waiters = self._waiters.pop(key, [])
        for event in waiters:
            event.set()

    def wait(self, key: str, since: int, timeout: float) -> bool:
        """Block until ``key`` changed after version ``since`` or ``timeout`` passed."""
        with self._lock:
            if self._versions[key] != since:
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
            return self._versions[key] != since

    def forget(self, key: str) -> None:
        with self._lock:
            self._versions.pop(key, None)
