"""Neutron agents (rows of the shared ``service`` table, project ``neutron``) and the zones
they give networks and routers ([OVS] semantics: ``neutron/db/agents_db.py``,
``agentschedulers_db.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling.db.models import Service, utcnow
from stackling.network import errors

if TYPE_CHECKING:
    from stackling.cloud import Cloud

AGENT_DOWN_TIME = 75   # neutron.conf [DEFAULT] agent_down_time


@dataclass(frozen=True)
class Kind:
    agent_type: str
    binary: str
    topic: str
    resource: str          # what its zone offers: network (DHCP) or router (L3)


KINDS = {"dhcp": Kind("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", "network"),
         "l3": Kind("L3 agent", "neutron-l3-agent", "l3_agent", "router")}
BY_BINARY = {k.binary: k for k in KINDS.values()}


def declared(cloud: Cloud) -> list[tuple[str, str, Kind]]:
    """(host, zone, kind) for every agent of the topology."""
    hosts = cloud.topology.network_agents
    if hosts is None:
        return [(cloud.topology.controller, "nova", k) for k in KINDS.values()]
    return [(h.host, h.availability_zone, KINDS[a]) for h in hosts for a in h.agents]


def rows(s: Session, binary: str | None = None) -> list[Service]:
    q = select(Service).where(Service.project == "neutron").order_by(Service.id)
    if binary:
        q = q.where(Service.binary == binary)
    return list(s.scalars(q))


def is_alive(row: Service, now: dt.datetime | None = None) -> bool:
    seen = row.updated_at or row.created_at
    return seen is not None and ((now or utcnow()) - seen).total_seconds() <= AGENT_DOWN_TIME


def zones(s: Session, resource: str) -> dict[str, bool]:
    """zone → any agent of that kind admin-up (``AgentAvailabilityZoneMixin``)."""
    out: dict[str, bool] = {}
    for row in rows(s):
        kind = BY_BINARY.get(row.binary)
        if kind is None or kind.resource != resource or not row.availability_zone:
            continue
        out[row.availability_zone] = out.get(row.availability_zone, False) or not row.disabled
    return out


def validate_hints(s: Session, resource: str, hints: list[str]) -> None:
    known = zones(s, resource)
    for hint in hints:
        if hint not in known:
            raise errors.bad("AvailabilityZoneNotFound",
                             f"AvailabilityZone {hint} could not be found.", 404)


def schedule(s: Session, resource: str, hints: list[str]) -> list[str]:
    """Zones of the agents a new network (DHCP) or router (L3) is scheduled to.

    One agent per hinted zone (the AZ-aware schedulers spread over the hints); without
    hints, the first admin-up agent.
    """
    known = zones(s, resource)
    if hints:
        return sorted(h for h in hints if known.get(h))
    up = [z for z, ok in known.items() if ok]
    return up[:1]
