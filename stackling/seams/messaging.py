"""RPC over a broker: oslo.messaging with ``[DEFAULT] transport_url``, Nova's and Cinder's topics.

Our topics ``compute.<host>``, ``scheduler``, ``conductor``, ``cinder-scheduler`` and
``cinder-volume.<host>@<backend>`` become oslo Targets (topic, server). Each topic has
a versioned API (namespace, version) that its servers expose and its clients ask for.
The request context travels in oslo's context slot (a JSON dict: user, project, roles,
request id, token), the arguments as JSON, never objects of the sender. Imported only
when a transport_url is configured: oslo.messaging costs ~0.5 s of imports.

Notifications: with ``[oslo_messaging_notifications] driver`` set (``messagingv2``), a
project's services emit what the real ones emit (Cinder's ``volume.create.end``, ...) on
its notification topics; ``listen`` consumes them in a pool of its own, so that another
consumer of the topic (Ceilometer) still gets every message.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RpcApi:
    """The RPC API a topic serves: oslo namespace and version (our own numbering)."""

    namespace: str | None
    version: str


# Nova's conductor API lives in the compute_task namespace, like nova/conductor/rpcapi.py.
APIS = {
    "compute": RpcApi(None, "1.0"),
    "scheduler": RpcApi(None, "1.0"),
    "conductor": RpcApi("compute_task", "1.0"),
    "cinder-scheduler": RpcApi(None, "1.0"),
    "cinder-volume": RpcApi(None, "1.0"),
}
CONTEXT_KEYS = ("token", "project_id", "user_id", "request_id", "is_admin", "roles")


def split_topic(topic: str) -> tuple[str, str | None]:
    """``compute.controller1`` → (compute, controller1); ``scheduler`` → (scheduler, None)."""
    name, _, server = topic.partition(".")
    if name not in APIS:
        raise ValueError(f"no RPC API for topic {topic!r}")
    return name, server or None


def _om():
    with warnings.catch_warnings():
        # oslo.service (imported by oslo.messaging) warns that eventlet is deprecated;
        # we use the threading executor, and its threading backend: eventlet is kept out
        # of the process (stackling/volume/flows/__init__.py).
        warnings.simplefilter("ignore")
        from oslo_service import backend

        if backend.get_backend_type() is None:
            backend.init_backend(backend.BackendType.THREADING)
        import oslo_messaging
    return oslo_messaging


def _register_library_opts(conf) -> None:
    """Register every option oslo.messaging lists (its own ``list_opts``): some modules
    (tracing, metrics) register theirs only on the global CONF yet read them from ours."""
    import importlib

    from oslo_messaging import opts

    for group, group_opts in opts.list_opts():
        conf.register_opts(group_opts, group=group)
    for module, name in (("_tracing.client", "oslo_messaging_tracing"),
                         ("_metrics.client", "oslo_messaging_metrics")):
        try:
            found = getattr(importlib.import_module(f"oslo_messaging.{module}"), name)
        except (ImportError, AttributeError):    # not in this oslo.messaging version
            continue
        conf.register_opts(found, group=name)


class _Endpoint:
    """Exposes one worker's public methods with oslo's (ctxt, **kwargs) signature."""

    def __init__(self, target, impl: object) -> None:
        self.target = target
        self._impl = impl

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        fn = getattr(self._impl, name)

        def dispatch(ctxt: dict, **kwargs: Any) -> Any:
            if ctxt and ctxt.get("token") is not None:
                kwargs["caller"] = {k: ctxt.get(k) for k in CONTEXT_KEYS}
            return json.loads(json.dumps(fn(**kwargs)))

        return dispatch


class OsloTransport:
    """One project's broker connection (nova or cinder): its RPC servers and clients."""

    def __init__(self, config_file: Path | None, url: str, default_server: str) -> None:
        from oslo_config import cfg

        om = _om()
        self._om = om
        # oslo.messaging reads the same file itself: control_exchange, [oslo_messaging_*].
        conf = cfg.ConfigOpts()
        files = [str(config_file)] if config_file and config_file.is_file() else []
        conf(args=[], project="stackling", default_config_files=files,
             default_config_dirs=[], use_env=False)
        _register_library_opts(conf)
        self.conf = conf
        self.url = url
        self.transport = om.get_rpc_transport(conf, url=url)
        self.exchange = conf.control_exchange
        self.default_server = default_server
        self.servers: list = []
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._notification_transport = None
        self._notifier = None

    def _target(self, name: str, server: str | None):
        api = APIS[name]
        return self._om.Target(exchange=self.exchange, topic=name, server=server,
                               namespace=api.namespace, version=api.version)

    def register(self, topic: str, endpoint: object) -> None:
        name, server = split_topic(topic)
        target = self._target(name, server or self.default_server)
        rpc_server = self._om.get_rpc_server(
            self.transport, target, [_Endpoint(self._target(name, None), endpoint)],
            executor="threading",
            access_policy=self._om.rpc.dispatcher.DefaultRPCAccessPolicy)
        rpc_server.start()
        self.servers.append(rpc_server)
        LOG.info("RPC server for %s (server %s) on exchange %s", name, target.server,
                 self.exchange)

    def _client(self, topic: str):
        name, server = split_topic(topic)
        key = (name, server)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._om.get_rpc_client(self.transport,
                                                 self._target(name, server))
                self._clients[key] = client
        return client

    @staticmethod
    def _message(kwargs: dict) -> tuple[dict, dict]:
        payload = json.loads(json.dumps(kwargs))    # JSON only, as in-process
        ctxt = payload.pop("caller", None) or {}
        return ctxt, payload

    def cast(self, topic: str, method: str, **kwargs: Any) -> None:
        ctxt, payload = self._message(kwargs)
        self._client(topic).cast(ctxt, method, **payload)

    def call(self, topic: str, method: str, timeout: float | None = None,
             **kwargs: Any) -> Any:
        ctxt, payload = self._message(kwargs)
        client = self._client(topic)
        if timeout is not None:
            client = client.prepare(timeout=timeout)
        return client.call(ctxt, method, **payload)

    # -- notifications --------------------------------------------------------------------

    # ``project`` in these: the same calls as ProjectTransports and InProcessTransport.

    def notifies(self, project: str = "") -> bool:
        """Whether ``[oslo_messaging_notifications] driver`` sends anything (noop does not)."""
        return any(d != "noop" for d in self.conf.oslo_messaging_notifications.driver)

    def _notifications(self):
        """The notification transport: ``[oslo_messaging_notifications] transport_url``,
        else the RPC broker (oslo.messaging's own fallback)."""
        with self._lock:
            if self._notification_transport is None:
                url = self.conf.oslo_messaging_notifications.transport_url or self.url
                self._notification_transport = self._om.get_notification_transport(
                    self.conf, url=url)
            return self._notification_transport

    def notify(self, project: str, publisher_id: str, event_type: str, payload: dict,
               priority: str = "info") -> None:
        """Send one notification, if notifications are on; a broker error is logged, never
        raised: the work it reports is done."""
        if not self.notifies():
            return
        transport = self._notifications()
        with self._lock:
            if self._notifier is None:
                # A few connection retries, not oslo's default of for ever: the work
                # is done and committed; a lost notice only delays a waiter.
                self._notifier = self._om.Notifier(
                    transport, serializer=self._om.JsonPayloadSerializer(), retry=2)
            notifier = self._notifier
        try:
            getattr(notifier.prepare(publisher_id=publisher_id), priority)(
                {}, event_type, json.loads(json.dumps(payload, default=str)))
        except Exception:       # a lost notification only delays a waiter
            LOG.exception("Failed to send notification %s", event_type)

    def listen(self, project: str, event_types: tuple[str, ...], callback, pool: str
               ) -> bool:
        """Call ``callback(event_type, payload)`` for each notification of these types on
        this project's notification topics (info and error), from a queue named ``pool``."""
        endpoint = _NotificationEndpoint(event_types, callback)
        targets = [self._om.Target(exchange=self.exchange, topic=topic)
                   for topic in self.conf.oslo_messaging_notifications.topics]
        listener = self._om.get_notification_listener(
            self._notifications(), targets, [endpoint], executor="threading", pool=pool)
        listener.start()
        self.servers.append(listener)
        LOG.info("Listening to %s on exchange %s (pool %s)", ", ".join(event_types),
                 self.exchange, pool)
        return True

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for server in self.servers:
            server.wait()
        self.transport.cleanup()
        if self._notification_transport is not None:
            self._notification_transport.cleanup()


class _NotificationEndpoint:
    """An oslo notification endpoint handing the chosen event types to a callback."""

    def __init__(self, event_types: tuple[str, ...], callback) -> None:
        self._types = frozenset(event_types)
        self._callback = callback

    def _handle(self, ctxt, publisher_id, event_type, payload, metadata) -> None:
        if event_type in self._types and isinstance(payload, dict):
            try:
                self._callback(event_type, payload)
            except Exception:   # never requeue a hint
                LOG.exception("Notification %s from %s not handled", event_type,
                              publisher_id)

    info = error = _handle


class ProjectTransports:
    """Routes each topic to its project's transport: cinder-* to cinder.conf's, Nova's to
    nova.conf's; any other (Glance's task queue, which Glance runs in its own process) stays
    on the in-process transport."""

    def __init__(self, nova, cinder, local) -> None:
        self.nova = nova
        self.cinder = cinder
        self.local = local

    def _for(self, topic: str):
        name = topic.partition(".")[0]
        if name.startswith("cinder-"):
            return self.cinder
        return self.nova if name in APIS else self.local

    def register(self, topic: str, endpoint: object) -> None:
        self._for(topic).register(topic, endpoint)

    def cast(self, topic: str, method: str, **kwargs: Any) -> None:
        self._for(topic).cast(topic, method, **kwargs)

    def call(self, topic: str, method: str, timeout: float | None = None,
             **kwargs: Any) -> Any:
        return self._for(topic).call(topic, method, timeout=timeout, **kwargs)

    def notify(self, project: str, publisher_id: str, event_type: str, payload: dict,
               priority: str = "info") -> None:
        getattr(self, project).notify(project, publisher_id, event_type, payload, priority)

    def notifies(self, project: str) -> bool:
        return getattr(self, project).notifies(project)

    def listen(self, project: str, event_types: tuple[str, ...], callback, pool: str) -> bool:
        return getattr(self, project).listen(project, event_types, callback, pool)

    def stop(self) -> None:
        for transport in {id(t): t for t in (self.nova, self.cinder, self.local)}.values():
            transport.stop()
