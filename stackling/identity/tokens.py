"""Fernet tokens, as Keystone issues them: nothing stored per token.

The payload names the user, methods, scope, issue and expiry times and an audit id;
it is encrypted with keys kept in ``<data-dir>/fernet-keys`` (key 0 is the primary).
Revocation is a list of events in the database, so it survives restarts.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from stackling import exception


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    project_id: str | None
    domain_id: str | None
    issued_at: float
    expires_at: float
    audit_id: str
    parent_audit_id: str | None = None
    app_cred_id: str | None = None


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class FernetProvider:
    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._fernet = MultiFernet([Fernet(k) for k in self._load_keys()])

    def _load_keys(self) -> list[bytes]:
        self.key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        primary = self.key_dir / "0"
        if not primary.exists():
            fd = os.open(primary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        keys = sorted(self.key_dir.iterdir(), key=lambda p: (p.name != "0", p.name))
        return [p.read_bytes().strip() for p in keys]

    def issue(self, payload: TokenPayload) -> str:
        data = json.dumps([payload.user_id, list(payload.methods), payload.project_id,
                           payload.domain_id, payload.issued_at, payload.expires_at,
                           payload.audit_id, payload.parent_audit_id, payload.app_cred_id],
                          separators=(",", ":")).encode()
        return self._fernet.encrypt(data).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        padded = token + "=" * (-len(token) % 4)
        try:
            data = json.loads(self._fernet.decrypt(padded.encode()))
        except (InvalidToken, ValueError, TypeError):
            raise exception.NotFound(f"Could not find token: {token}") from None
        payload = TokenPayload(data[0], tuple(data[1]), data[2], data[3], data[4], data[5],
                               data[6], data[7], data[8] if len(data) > 8 else None)
        if payload.expires_at <= time.time():
            raise exception.NotFound(f"Could not find token: {token}")
        return payload
