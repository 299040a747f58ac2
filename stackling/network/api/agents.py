"""Agents and availability zones: ``/v2.0/agents`` (admin), ``/v2.0/availability_zones``,
and the DHCP/L3 agents hosting a network or router (``neutron/db/agents_db.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackling.db.models import Service
from stackling.network import errors
from stackling.network.api import attributes as A
from stackling.network.api import common
from stackling.network.api import networks as net_api
from stackling.network.api import routers as router_api
from stackling.network.objects import agents
from stackling.web.app import Request, empty_response, json_response

ATTRS = {k: A.Attr(post=False, put=k in ("admin_state_up", "description"))
         for k in ("id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive",
                   "availability_zone", "description", "created_at", "started_at",
                   "heartbeat_timestamp", "configurations", "resource_versions",
                   "resources_synced", "ha_chassis_priority")}
ATTRS["admin_state_up"].convert = A.to_bool
ATTRS["description"].validate = A.string(255)
AZ_ATTRS = {k: A.Attr(post=False, sort=False) for k in ("name", "resource", "state")}


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def view(row: Service) -> dict:
    kind = agents.BY_BINARY[row.binary]
    extra = row.capabilities or {}
    config = ({"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "networks": 0}
              if kind.resource == "network" else
              {"agent_mode": "legacy", "routers": 0, "interface_driver": "openvswitch"})
    return {
        "id": row.uuid, "agent_type": kind.agent_type, "binary": row.binary,
        "topic": row.topic, "host": row.host, "admin_state_up": not row.disabled,
        "alive": agents.is_alive(row), "availability_zone": row.availability_zone,
        "description": extra.get("description"), "configurations": config,
        "resource_versions": {}, "resources_synced": None, "ha_chassis_priority": None,
        "created_at": _time(row.created_at), "started_at": _time(row.created_at),
        "heartbeat_timestamp": _time(row.updated_at or row.created_at),
    }


def list_agents(req: Request) -> Any:
    # Members are not refused: the items they may not see are dropped (an empty list).
    if not req.context.is_admin:
        return json_response({"agents": []})
    with req.app.cloud.db.reader() as s:
        items = [view(r) for r in agents.rows(s)]
    return common.list_response(req, "agents", items, ATTRS, "agent")


def _load(s: Session, req: Request, agent_id: str) -> Service:
    if req.context.is_admin:
        for row in agents.rows(s):
            if row.uuid == agent_id:
                return row
    raise errors.missing("agent", agent_id)


def show_agent(req: Request, agent_id: str) -> Any:
    with req.app.cloud.db.reader() as s:
        item = view(_load(s, req, agent_id))
    return common.show_response(req, "agent", item)


def update_agent(req: Request, agent_id: str) -> Any:
    changes = common.parse_body(req, "agent", ATTRS, False)[0]
    with req.app.cloud.db.writer() as s:
        row = _load(s, req, agent_id)
        if "admin_state_up" in changes:
            row.disabled = not changes["admin_state_up"]
        if "description" in changes:
            row.capabilities = {**(row.capabilities or {}),
                                "description": changes["description"]}
        item = view(row)
    return common.show_response(req, "agent", item)


def delete_agent(req: Request, agent_id: str) -> Any:
    with req.app.cloud.db.writer() as s:
        s.delete(_load(s, req, agent_id))
    return empty_response(204)


def list_availability_zones(req: Request) -> Any:
    with req.app.cloud.db.reader() as s:
        items = [{"name": zone, "resource": resource,
                  "state": "available" if up else "unavailable"}
                 for resource in ("network", "router")
                 for zone, up in sorted(agents.zones(s, resource).items())]
    return common.list_response(req, "availability_zones", items, AZ_ATTRS,
                                "availability_zone")


def _hosting(s: Session, resource: str, zones: list[str]) -> list[dict]:
    binary = next(k.binary for k in agents.KINDS.values() if k.resource == resource)
    rows = [r for r in agents.rows(s, binary) if r.availability_zone in zones]
    # One agent per zone, as the AZ-aware schedulers place one per hinted zone.
    first: dict[str, Service] = {}
    for row in rows:
        first.setdefault(row.availability_zone, row)
    return [view(r) for r in first.values()]


def list_network_dhcp_agents(req: Request, network_id: str) -> Any:
    common.require_admin(req, "get_dhcp-agents")
    with req.app.cloud.db.reader() as s:
        net = net_api.load(s, req.context, network_id)
        items = _hosting(s, "network", list(net.dhcp_zones or []))
    return json_response({"agents": items})


def list_router_l3_agents(req: Request, router_id: str) -> Any:
    common.require_admin(req, "get_l3-agents")
    with req.app.cloud.db.reader() as s:
        router = router_api.load(s, req.context, router_id)
        items = _hosting(s, "router", list(router.availability_zones or []))
    return json_response({"agents": items})
