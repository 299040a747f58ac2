"""A prepared SQLite schema: made once per schema version, copied into each fresh data dir.

Creating the ~60 tables costs tens of milliseconds at every fresh start (every CI job);
copying a file costs well under one. The template holds the schema and the alembic stamp
only, never a row of data, and is keyed by the head revision and a digest of the model
sources and versions, so a changed model never meets an old template.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

_DB_DIR = Path(__file__).parent


def cache_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("STACKLING_CACHE_DIR")
                or platformdirs.user_cache_dir("stackling", appauthor=False))


def template_file(head: str) -> Path:
    import sqlalchemy

    # The DDL comes from the models, SQLAlchemy's SQLite dialect and SQLite itself.
    digest = hashlib.sha256(f"{sqlalchemy.__version__} {sqlite3.sqlite_version}".encode())
    for path in sorted(_DB_DIR.glob("models*.py")):
        digest.update(path.read_bytes())
    return cache_dir() / "schema" / f"{head}-{digest.hexdigest()[:16]}.sqlite"


def restore(db_file: Path, head: str) -> bool:
    """Replace the empty ``db_file`` with the template; False when there is none yet.

    The caller must hold no connection to ``db_file``.
    """
    template = template_file(head)
    if not template.is_file():
        return False
    for suffix in ("-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    _copy_atomic(template, db_file)
    return True


def save(db_file: Path, head: str) -> None:
    """Keep a copy of the just-created schema in ``db_file`` as the template for ``head``."""
    template = template_file(head)
    if template.exists():
        return
    template.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=template.parent, suffix=".tmp")
    os.close(fd)
    try:
        # NOTE: the backup API copies a consistent snapshot, pages still in the WAL included.
        with sqlite3.connect(db_file) as src, sqlite3.connect(tmp) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        os.replace(tmp, template)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _copy_atomic(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)
