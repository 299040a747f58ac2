"""Placement decisions, recorded with their inputs so that they can be explained.

Every place that decides where something goes (Nova's zone for a server, the scheduler's
host, the zone Nova asks Cinder for, Cinder's zone check and fallback, Cinder's backend)
calls ``record``. ``stackling explain`` reads them back as a chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select

from stackling.db.models import Decision

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

OK, FAILED, FALLBACK = "ok", "failed", "fallback"
# Built once, Core: an ORM add and flush costs several times the INSERT.
_INSERT = insert(Decision.__table__)


def record(cloud: Cloud, *, resource_type: str, resource_id: str | None, service: str,
           step: str, outcome: str, summary: str, inputs: dict[str, Any] | None = None,
           request_id: str | None = None, caused_by: str | None = None,
           session: Session | None = None) -> None:
    """Store one decision. With ``session``, inside the transaction that carries out the
    decision (no write of its own: it commits or rolls back with the work). Without,
    in its own transaction, and never raises: explaining must not break the work."""
    row = {"resource_type": resource_type, "resource_id": resource_id,
           "request_id": request_id, "caused_by": caused_by, "service": service, "step": step,
           "outcome": outcome, "summary": summary, "inputs": inputs or {}}
    if session is not None:
        session.execute(_INSERT, row)
        return
    try:
        with cloud.db.writer() as s:
            s.execute(_INSERT, row)
    except Exception:  # pragma: no cover - logged, not raised
        import logging

        logging.getLogger(__name__).exception("could not record decision %s", step)


def as_dict(d: Decision) -> dict[str, Any]:
    return {"resource_type": d.resource_type, "resource_id": d.resource_id,
            "request_id": d.request_id, "caused_by": d.caused_by, "service": d.service,
            "step": d.step, "outcome": d.outcome, "summary": d.summary, "inputs": d.inputs,
            "created_at": d.created_at.isoformat()}


def history(cloud: Cloud, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
    """The decisions about a resource, plus those of the requests it caused, in order."""
    with cloud.db.reader() as s:
        own = list(s.scalars(select(Decision).where(
            Decision.resource_type == resource_type, Decision.resource_id == resource_id)
            .order_by(Decision.id)))
        related = {d.caused_by for d in own if d.caused_by}
        if related:
            others = s.scalars(select(Decision).where(
                or_(Decision.request_id.in_(related)), Decision.id.not_in(
                    [d.id for d in own])).order_by(Decision.id))
            own = sorted([*own, *others], key=lambda d: d.id)
        return [as_dict(d) for d in own]
