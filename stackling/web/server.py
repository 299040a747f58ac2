"""Serve each API on its own port with cheroot, a threaded HTTP/1.1 WSGI server."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from cheroot import wsgi

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from stackling.cloud import Cloud


class Server:
    def __init__(self, name: str, host: str, port: int, app, threads: int = 16) -> None:
        self.name = name
        self.wsgi = wsgi.Server((host, port), app, numthreads=threads,
                                server_name=f"stackling-{name}", request_queue_size=128)
        # Keep-alive clients each hold a worker thread; grow the pool when they do.
        self.wsgi.max = 128
        # cheroot's stop() waits for its selector loop, which wakes every
        # expiration_interval (0.5 s by default) to expire idle keep-alive connections:
        # 0.1 s bounds a stop at 0.1 s for a few idle wake-ups a second.
        self.wsgi.expiration_interval = 0.1
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.wsgi.prepare()  # binds now, so a busy port fails the start at once
        self.thread = threading.Thread(target=self.wsgi.serve, name=f"http-{self.name}",
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.wsgi.stop()


def stop_all(servers: list) -> None:
    """Stop every server at once: each stop waits for its own selector loop to wake."""
    threads = [threading.Thread(target=server.stop, name=f"stop-{server.name}")
               for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def serve_all(cloud: Cloud) -> list:
    """The API servers, and the console endpoints with the compute API."""
    servers = []
    try:
        for name, app in cloud.apps.items():
            server = Server(name, cloud.settings.host, cloud.settings.port(name), app)
            server.start()
            servers.append(server)
        if "compute" in cloud.apps:
            from stackling.compute import consoles

            for listener in consoles.listeners(cloud):
                try:
                    listener.start()
                except OSError as exc:      # the APIs serve on; only this console is off
                    LOG.warning("console endpoint %s not started: %s", listener.name, exc)
                    listener.stop()
                    continue
                servers.append(listener)
    except Exception:
        stop_all(servers)
        raise
    return servers
