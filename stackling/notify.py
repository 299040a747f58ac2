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
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: defaultdict[str, int] = defaultdict(int)

    def version(self, key: str) -> int:
        with self._cond:
            return self._versions[key]

    def changed(self, key: str) -> None:
        with self._cond:
            self._versions[key] += 1
            self._cond.notify_all()

    def wait(self, key: str, since: int, timeout: float) -> bool:
        """Block until ``key`` changed after version ``since`` or ``timeout`` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._versions[key] != since, timeout)

    def forget(self, key: str) -> None:
        with self._cond:
            self._versions.pop(key, None)
