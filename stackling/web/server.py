"""Serve each API on its own port with cheroot, a threaded HTTP/1.1 WSGI server.

A worker of `stackling start --spread` serves on a listening socket it inherited from the
supervisor (``STACKLING_LISTEN_FDS=compute:5,...``): the API's N worker processes accept
from one socket, bound once, as forked workers of a pre-bound socket do.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

from cheroot import wsgi

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from stackling.cloud import Cloud


LISTEN_ENV = "STACKLING_LISTEN_FDS"


def inherited_sockets() -> dict[str, int]:
    """``{api: fd}`` of the listening sockets this process inherited (none by default)."""
    out = {}
    for item in filter(None, os.environ.get(LISTEN_ENV, "").split(",")):
        name, _, fd = item.partition(":")
        out[name] = int(fd)
    return out


class _WsgiServer(wsgi.Server):
    """cheroot's server, adopting an inherited listening socket instead of binding one."""

    inherited: int | None = None

    def bind(self, family, type, proto=0):
        if self.inherited is None:
            return super().bind(family, type, proto)
        self.socket = socket.socket(fileno=self.inherited)
        if self.nodelay and self.socket.family in (socket.AF_INET, socket.AF_INET6):
            # What cheroot's prepare_socket does to a socket it binds (accepted sockets
            # inherit it). Without it each response written in two parts waited for the
            # client's delayed ACK: 40 ms per request of every --spread API.
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.bind_addr = self.resolve_real_bind_addr(self.socket)
        return self.socket


class Server:
    def __init__(self, name: str, host: str, port: int, app, threads: int = 16,
                 inherited: int | None = None) -> None:
        self.name = name
        self.wsgi = _WsgiServer((host, port), app, numthreads=threads,
                                server_name=f"stackling-{name}", request_queue_size=128)
        self.wsgi.inherited = inherited
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
    """The API servers, and the console endpoints where nova-novncproxy runs."""
    servers = []
    fds = inherited_sockets()
    try:
        for name, app in cloud.apps.items():
            server = Server(name, cloud.settings.host, cloud.settings.port(name), app,
                            inherited=fds.get(name))
            server.start()
            servers.append(server)
        if cloud.only.runs("nova-novncproxy"):
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
