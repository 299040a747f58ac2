"""Server group membership and the hard placement rules both nova-api and the conductor use."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from stackling.db.models_compute import Instance, ServerGroup

HARD = ("affinity", "anti-affinity")
SOFT = ("soft-affinity", "soft-anti-affinity")


def members(s, group_uuid: str) -> list[Instance]:
    return list(s.scalars(select(Instance).where(
        Instance.deleted == 0,
        Instance.scheduler_hints["group"].as_string() == group_uuid).order_by(Instance.id)))


def max_per_host(g: ServerGroup) -> int:
    """An anti-affinity group's ``max_server_per_host`` rule (2.64), 1 without it."""
    return int((g.rules or {}).get("max_server_per_host", 1))


def placement_rule(s, group_uuid: str, instance_uuid: str
                   ) -> tuple[str, Counter, int] | None:
    """(policy, members per host of the others, max_server_per_host) for a hard policy;
    None otherwise."""
    g = s.scalar(select(ServerGroup).where(ServerGroup.uuid == group_uuid))
    if g is None or g.policy not in HARD:
        return None
    hosts = Counter(i.host for i in members(s, group_uuid)
                    if i.uuid != instance_uuid and i.host)
    return g.policy, hosts, max_per_host(g)


def violates(s, group_uuid: str, instance_uuid: str, host: str) -> bool:
    """Nova's late check on the compute host (``_validate_instance_group_policy``): does
    ``instance_uuid`` on ``host`` break its group's hard policy? Only members placed
    before it (lower id) count, so of two members placed at once by two schedulers exactly
    the later one moves."""
    g = s.scalar(select(ServerGroup).where(ServerGroup.uuid == group_uuid))
    if g is None or g.policy not in HARD:
        return False
    group = members(s, group_uuid)
    me = next((i for i in group if i.uuid == instance_uuid), None)
    if me is None:
        return False
    earlier = [i for i in group if i.id < me.id and i.host]
    if g.policy == "anti-affinity":
        return sum(i.host == host for i in earlier) >= max_per_host(g)
    return bool(earlier) and all(i.host != host for i in earlier)


def earlier_unplaced(s, group_uuid: str, instance_uuid: str) -> bool:
    """Is a member created before ``instance_uuid`` still waiting for a host? Members of
    one group are placed in creation order (what one multi-instance request to Nova's
    scheduler gives), through the database, so schedulers in several processes agree."""
    group = members(s, group_uuid)
    me = next((i for i in group if i.uuid == instance_uuid), None)
    return me is not None and any(
        i.id < me.id and not i.host and i.vm_state == "building" for i in group)
