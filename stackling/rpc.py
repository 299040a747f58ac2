"""One small RPC interface between the APIs and the workers.

``cast`` (fire and forget) and ``call`` (wait for the result) to a named topic such as
``scheduler``, ``compute.<host>`` or ``cinder-volume.<host>@<backend>``. The default
transport runs endpoints in-process on a thread pool; ``stackling.seams.messaging``
sends the same messages over oslo.messaging when ``[DEFAULT] transport_url`` is set.
Arguments travel as JSON, even in-process, so both carry the same messages.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

LOG = logging.getLogger(__name__)


class NoSuchTopic(Exception):
    pass


class Transport(Protocol):
    def register(self, topic: str, endpoint: object) -> None: ...
    def cast(self, topic: str, method: str, **kwargs: Any) -> None: ...
    def call(self, topic: str, method: str, timeout: float | None = None,
             **kwargs: Any) -> Any: ...
    def stop(self) -> None: ...
    def notifies(self, project: str) -> bool: ...
    def notify(self, project: str, publisher_id: str, event_type: str, payload: dict,
               priority: str = "info") -> None: ...
    def listen(self, project: str, event_types: tuple[str, ...],
               callback: Callable[[str, dict], None], pool: str) -> bool: ...


class InProcessTransport:
    """Endpoints in this process, each service on its own thread pool.

    One pool per service (``compute`` for every ``compute.<host>``, ``cinder-volume``,
    ``cinder-scheduler``, ...), as each real service has its own executor: a build that
    waits for its volume holds a ``compute`` worker, never the ``cinder-volume`` worker
    that creates the volume (with one shared pool, 16 waiting builds starved Cinder).
    """

    def __init__(self, workers: int = 16) -> None:
        self._endpoints: dict[str, object] = {}
        self._workers = workers
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._pending: set[Future] = set()

    def _pool(self, topic: str) -> ThreadPoolExecutor:
        service = topic.partition(".")[0]
        with self._lock:
            pool = self._pools.get(service)
            if pool is None:
                pool = self._pools[service] = ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix=f"rpc-{service}")
            return pool

    def register(self, topic: str, endpoint: object) -> None:
        self._endpoints[topic] = endpoint

    def endpoint(self, topic: str) -> object:
        """The worker serving ``topic`` in this process (tests reach drivers this way)."""
        endpoint = self._endpoints.get(topic)
        if endpoint is None:
            raise NoSuchTopic(topic)
        return endpoint

    def _method(self, topic: str, method: str) -> Callable[..., Any]:
        return getattr(self.endpoint(topic), method)

    def cast(self, topic: str, method: str, **kwargs: Any) -> None:
        fn = self._method(topic, method)
        payload = json.loads(json.dumps(kwargs))

        def run() -> None:
            try:
                fn(**payload)
            except Exception:
                LOG.exception("cast %s.%s failed", topic, method)

        future = self._pool(topic).submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def call(self, topic: str, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
        fn = self._method(topic, method)
        result = fn(**json.loads(json.dumps(kwargs)))
        return json.loads(json.dumps(result))

    # Notifications go over a broker only (stackling/seams/messaging.py); in one process
    # the services wake each other through Cloud.notifier.

    def notifies(self, project: str) -> bool:
        return False

    def notify(self, project: str, publisher_id: str, event_type: str, payload: dict,
               priority: str = "info") -> None:
        pass

    def listen(self, project: str, event_types: tuple[str, ...],
               callback: Callable[[str, dict], None], pool: str) -> bool:
        return False

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for the casts under way (tests use this to make workers synchronous)."""
        with self._lock:
            pending = list(self._pending)
        for f in pending:
            f.result(timeout=timeout)

    def stop(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
