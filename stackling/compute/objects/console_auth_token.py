"""Console auth tokens (nova/objects/console_auth_token.py): the only code that writes
ConsoleAuthToken rows (tests/unit/test_process_lines.py).

A token is a fresh UUID handed to the client once; the database keeps only its sha256
(``token_hash``), so a process that holds the raw token (any nova-api worker, the console
proxy) finds the row and nothing else can. ``expires`` is seconds since the epoch; an
expired row is as good as none and is deleted with the next token issued for its host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stackling.db.api import retry_on_deadlock
from stackling.db.models_compute import ConsoleAuthToken

if TYPE_CHECKING:
    from stackling.cloud import Cloud


@dataclasses.dataclass
class ConsoleAuth:
    """One authorized console, with the raw token it was looked up by."""

    token: str
    instance_uuid: str
    console_type: str
    host: str
    port: int
    tls_port: int | None
    internal_access_path: str | None
    access_url_base: str | None
    expires: int


def token_hash(token: str) -> str:
    """nova.utils.get_sha256_str."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> int:
    """timeutils.utcnow_ts(): whole seconds since the epoch."""
    return int(time.time())


@retry_on_deadlock
def authorize(cloud: Cloud, ttl: int, *, instance_uuid: str, console_type: str, host: str,
              port: int, tls_port: int | None = None, internal_access_path: str | None = None,
              access_url_base: str | None = None) -> ConsoleAuth:
    """Store a new authorization valid ``ttl`` seconds (``ConsoleAuthToken.authorize``);
    the host's expired ones go (``clean_expired_console_auths_for_host``)."""
    token = str(uuid.uuid4())
    now = _now()
    with cloud.db.writer() as s:
        s.execute(delete(ConsoleAuthToken).where(ConsoleAuthToken.host == host,
                                                 ConsoleAuthToken.expires <= now))
        s.add(ConsoleAuthToken(token_hash=token_hash(token), console_type=console_type,
                               host=host, port=port, tls_port=tls_port,
                               internal_access_path=internal_access_path,
                               instance_uuid=instance_uuid,
                               access_url_base=access_url_base, expires=now + ttl))
    return ConsoleAuth(token, instance_uuid, console_type, host, port, tls_port,
                       internal_access_path, access_url_base, now + ttl)


def validate(cloud: Cloud, token: str) -> ConsoleAuth | None:
    """The authorization of ``token`` while it has not expired (``validate``)."""
    if not token:
        return None
    with cloud.db.reader() as s:
        row = s.scalar(select(ConsoleAuthToken).where(
            ConsoleAuthToken.token_hash == token_hash(token),
            ConsoleAuthToken.expires > _now()))
        if row is None:
            return None
        return ConsoleAuth(token, row.instance_uuid, row.console_type, row.host, row.port,
                           row.tls_port, row.internal_access_path, row.access_url_base,
                           row.expires)


def clean_console_auths_for_instance(s: Session, instance_uuid: str) -> None:
    """Every authorization of the instance goes (its delete, a live migration's end)."""
    s.execute(delete(ConsoleAuthToken).where(ConsoleAuthToken.instance_uuid == instance_uuid))


@retry_on_deadlock
def clean_for_instance(cloud: Cloud, instance_uuid: str) -> None:
    """``clean_console_auths_for_instance`` in a transaction of its own."""
    with cloud.db.writer() as s:
        clean_console_auths_for_instance(s, instance_uuid)
