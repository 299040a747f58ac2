"""A RabbitMQ virtual host of its own for each cloud a test or benchmark starts.

oslo.messaging's rabbit driver names a server's queue ``<topic>.<server>``
(``cinder-volume.controller2@file``, ``compute.controller1``) whatever the
``control_exchange``: the exchange only routes into it. Two clouds on one virtual host
with the same host names (every cloud of the default topology) therefore consume the
same queue, and RabbitMQ hands each message to one of its consumers: a ``delete_volume``
cast of one cloud was handled, as a volume it does not have, by another test's
cinder-volume, and the volume stayed ``deleting`` (issue 14, bench/bench_crash.py). The
queues also outlive their consumers, so a killed cloud's messages waited there for the
next cloud of the same host names. Deployments keep clouds apart with virtual hosts
(``transport_url = rabbit://USER:PASSWORD@HOST:5672/VHOST``); so do the tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

HOST, PORT = "127.0.0.1", 5672
SHARED = f"rabbit://guest:guest@{HOST}:{PORT}/"


def running() -> bool:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
        return True
    except OSError:
        return False


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True,
                   timeout=60)


@contextmanager
def vhost(prefix: str = "stackling") -> Iterator[str]:
    """A new virtual host for guest; yields its transport URL, deletes it afterwards (its
    queues, exchanges and messages with it). Without rabbitmqctl (RabbitMQ elsewhere),
    the shared ``/`` with a warning: the caller's own control_exchange is all that is left
    between clouds."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    if shutil.which("rabbitmqctl") is None:
        warnings.warn("rabbitmqctl not found: this cloud shares RabbitMQ's virtual host / "
                      "(its server queues with every other cloud's)", stacklevel=3)
        yield SHARED
        return
    try:
        _ctl("add_vhost", name)
        _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except subprocess.CalledProcessError as exc:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True,
                       timeout=60)
        warnings.warn(f"rabbitmqctl add_vhost failed ({exc.stderr.strip()}): this cloud "
                      "shares RabbitMQ's virtual host /", stacklevel=3)
        yield SHARED
        return
    try:
        yield f"{SHARED}{name}"
    finally:
        _ctl("delete_vhost", name)


class Transports:
    """OsloTransports as a project's config file would configure them (for tests of the
    messaging seam): ``make(url, conf_text)``; ``stop()`` stops all made so far (before
    their virtual hosts go)."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self.made: list = []

    def make(self, url: str, conf_text: str):
        from stackling.seams.messaging import OsloTransport

        conf = self.folder / f"project{len(self.made) + 1}.conf"
        conf.write_text(conf_text)
        transport = OsloTransport(conf, url, "controller")
        self.made.append(transport)
        return transport

    def stop(self) -> None:
        while self.made:
            self.made.pop().stop()
