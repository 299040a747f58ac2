"""The bootstrap users' bcrypt hashes for a fresh cloud, off the start-up's critical path.

At Keystone's cost (12) one hash is ≈0.25 s of CPU and a fresh cloud needs two. They are
started before the big imports (bcrypt runs outside the GIL). A hash of the published
default password (``secret``) protects nothing, so it is also kept in the user cache dir
and reused by the next fresh cloud; other passwords are never cached.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from stackling.settings import Settings

CACHE_NAME = "default-password-hashes.json"
_CACHE_LOCK = threading.Lock()  # both users' hashes finish in threads of this process


def _cache_file() -> Path:
    from stackling.db.template import cache_dir

    return cache_dir() / CACHE_NAME


def _default_password() -> str:
    from stackling.conf.stackling import BOOTSTRAP_OPTS

    return next(opt.default for opt in BOOTSTRAP_OPTS if opt.name == "admin_password")


def start(settings: Settings, config) -> dict[str, Future]:
    """Futures of the bootstrap users' hashes when the SQLite database is new, else {}."""
    if settings.database_url or config.stackling.database.connection \
            or settings.sqlite_file.exists():
        return {}
    b, rounds = config.stackling.bootstrap, config.stackling.identity.password_hash_rounds
    users = {b.admin_username: b.admin_password, b.demo_username: b.demo_password}
    default = _default_password()
    cached = _read_cache()
    futures: dict[str, Future] = {}
    pool = None
    for slot, (name, password) in enumerate(users.items()):
        key = f"{slot}:{rounds}"
        future: Future = Future()
        if password == default and key in cached:
            future.set_result(cached[key])
        else:
            pool = pool or ThreadPoolExecutor(max_workers=2, thread_name_prefix="bcrypt")
            future = pool.submit(_hash, password, rounds)
            if password == default:
                future.add_done_callback(lambda f, key=key: _remember(key, f))
        futures[name] = future
    if pool is not None:
        pool.shutdown(wait=False)
    return futures


def _hash(password: str, rounds: int) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str) and v.startswith("$2")} \
        if isinstance(data, dict) else {}


def _remember(key: str, future: Future) -> None:
    if future.exception() is not None:
        return
    from stackling.runstate import write_atomic

    try:
        with _CACHE_LOCK:  # written 0600, as mkstemp makes every file
            write_atomic(_cache_file(),
                         json.dumps({**_read_cache(), key: future.result()}) + "\n")
    except OSError:
        pass  # a cache only: the next fresh cloud hashes again
