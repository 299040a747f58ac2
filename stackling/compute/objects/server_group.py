"""Server group membership and the hard placement rules both nova-api and the conductor use."""

from __future__ import annotations

import threading

from sqlalchemy import select

from stackling.db.models_compute import Instance, ServerGroup

HARD = ("affinity", "anti-affinity")


SOFT = ("soft-affinity", "soft-anti-affinity")


# Placements of members of one group are decided one at a time (Nova's late check).
SCHEDULE_LOCK = threading.Lock()


def members(s, group_uuid: str) -> list[Instance]:
    return list(s.scalars(select(Instance).where(
        Instance.deleted == 0,
        Instance.scheduler_hints["group"].as_string() == group_uuid).order_by(Instance.id)))


def placement_rule(s, group_uuid: str, instance_uuid: str) -> tuple[str, set[str]] | None:
    """(policy, hosts of the other members) for a hard policy; None otherwise."""
    g = s.scalar(select(ServerGroup).where(ServerGroup.uuid == group_uuid))
    if g is None or g.policy not in HARD:
        return None
    hosts = {i.host for i in members(s, group_uuid) if i.uuid != instance_uuid and i.host}
    return g.policy, hosts
