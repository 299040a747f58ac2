"""Password hashing with bcrypt, and a cache of recent successful checks.

bcrypt at Keystone's default cost (12 rounds) takes about 0.2 s per check on this kind of
machine; an automation client logs in on every command. A successful check is
remembered in memory as an HMAC under a per-process random key, bound to the stored
hash, so a password change or a restart forgets it, and nothing reversible or
reusable outside this process is kept. The slow hash still protects the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

import bcrypt

_PEPPER = os.urandom(32)
_MAX_CACHED = 4096


# bcrypt reads 72 bytes. Keystone (password_hashing.verify_length_and_trunc_password,
# strict_password_check false by default) truncates longer passwords to that, on set and on
# check alike, so a long password works and its tail does not count.
BCRYPT_MAX_LENGTH = 72


def _bytes(password: str) -> bytes:
    return password.encode()[:BCRYPT_MAX_LENGTH]


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_bytes(password), bcrypt.gensalt(rounds)).decode()


class PasswordChecker:
    def __init__(self) -> None:
        self._ok: dict[bytes, None] = {}
        self._lock = threading.Lock()

    def _key(self, stored: str, password: str) -> bytes:
        return hmac.new(_PEPPER, stored.encode() + b"\0" + password.encode(),
                        hashlib.sha256).digest()

    def check(self, password: str, stored: str | None) -> bool:
        if not stored:
            return False
        key = self._key(stored, password)
        if key in self._ok:
            return True
        try:
            ok = bcrypt.checkpw(_bytes(password), stored.encode())
        except ValueError:
            return False
        if ok:
            with self._lock:
                if len(self._ok) >= _MAX_CACHED:
                    self._ok.pop(next(iter(self._ok)))
                self._ok[key] = None
        return ok
