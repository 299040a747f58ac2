"""Volume row writes as compare-and-swap on the status (``Volume.conditional_update``).

Cinder changes a volume's status with ``UPDATE ... WHERE status IN (:expected)`` and
checks that one row changed; a concurrent change (a delete, a reset) then wins cleanly
instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from stackling.db.api import retry_on_deadlock
from stackling.db.models import utcnow
from stackling.db.models_volume import Volume


def conditional_update(s: Session, volume_id: str, expected: Iterable[str] | str | None,
                       **values) -> bool:
    """Set ``values`` if the volume exists and its status is one of ``expected`` (any
    status when None); True when the row changed."""
    q = update(Volume).where(Volume.id == volume_id)
    if expected is not None:
        q = q.where(Volume.status.in_([expected] if isinstance(expected, str)
                                      else list(expected)))
    result = s.execute(q.values(updated_at=utcnow(), **values)
                       .execution_options(synchronize_session=False))
    return result.rowcount == 1


def destroy(s: Session, volume_id: str, expected: Iterable[str] | str | None = None) -> bool:
    """Delete the row (status one of ``expected`` unless None); True when it was there."""
    q = delete(Volume).where(Volume.id == volume_id)
    if expected is not None:
        q = q.where(Volume.status.in_([expected] if isinstance(expected, str)
                                      else list(expected)))
    return s.execute(q.execution_options(synchronize_session=False)).rowcount == 1


@retry_on_deadlock
def set_status(cloud, volume_id: str, expected: Iterable[str] | str | None, **values) -> bool:
    """``conditional_update`` in a transaction of its own."""
    with cloud.db.writer() as s:
        return conditional_update(s, volume_id, expected, **values)
