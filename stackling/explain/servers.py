"""``stackling explain server``: the resolver and the fix finder of the compute area.

The fix finder rebuilds the world the failing decision saw (release mode,
``cross_az_attach``, requested zone, the hosts the scheduler could pick, Cinder's
backends and zone options) as a ``simulation.World``, then re-runs the chain
(``simulation.simulate``: Nova's zone to send → Cinder's zone decision → an up and
enabled backend in that zone → Nova's cross-AZ check) once per candidate change.
Only changes whose simulation succeeds are offered as fixes; the others are listed as
checked and not enough, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from stackling import exception, servicegroup
from stackling.compute.objects import zones as az
from stackling.db.models import Service
from stackling.db.models_compute import Instance, InstanceFault
from stackling.explain import simulation

if TYPE_CHECKING:
    from stackling.cloud import Cloud


def resolve_server(cloud: Cloud, ident: str) -> tuple[str, dict]:
    """A live server by id or (unique) name; the newest deleted one by id as a fallback."""
    with cloud.db.reader() as s:
        rows = list(s.scalars(select(Instance).where(
            or_(Instance.uuid == ident, Instance.display_name == ident))
            .order_by(Instance.deleted, Instance.id.desc())))
        live = [r for r in rows if not r.deleted]
        if len(live) > 1 and not any(r.uuid == ident for r in live):
            raise exception.Conflict(f"More than one server is named {ident}; use its id.")
        row = next((r for r in live if r.uuid == ident), None) or \
            (live[0] if live else (rows[0] if rows else None))
        if row is None:
            raise exception.NotFound(f"No server with id or name {ident}.")
        fault = s.scalar(select(InstanceFault).where(InstanceFault.instance_uuid == row.uuid)
                         .order_by(InstanceFault.id.desc()).limit(1))
        status = {"error": "ERROR", "active": "ACTIVE", "building": "BUILD",
                  "deleted": "DELETED", "stopped": "SHUTOFF"}.get(row.vm_state,
                                                                  row.vm_state.upper())
        return row.uuid, {"name": row.display_name, "status": status,
                          "availability_zone": row.availability_zone, "host": row.host,
                          "requested_az": row.requested_az,
                          "fault": fault.message if fault else None}


# -- the world, now --------------------------------------------------------------------


def _backends(cloud: Cloud, cinder_conf) -> list[simulation.Backend]:
    """Cinder's volume services as Cinder sees them (zone from the row, liveness)."""
    from stackling.volume.objects import backends as vcommon

    down = vcommon.down_time(cloud)
    with cloud.db.reader() as s:
        rows = s.scalars(select(Service).where(Service.project == "cinder",
                                               Service.topic == vcommon.VOLUME_TOPIC)).all()
        return [simulation.Backend(r.host, r.availability_zone or
                                     cinder_conf.storage_availability_zone,
                                     up=servicegroup.is_up(r, down), enabled=not r.disabled)
                for r in rows]


def world_for(cloud: Cloud, inputs: dict, requested_az: str | None) -> simulation.World:
    nova, cinder = cloud.config.nova, cloud.config.cinder
    with cloud.db.reader() as s:
        services = [z for z in az.nova_services(s, nova, binary="nova-compute")
                    if not z.disabled and z.up]
        agg_zones = az.aggregate_zones(s)
    host_zones = simulation.possible_host_zones(requested_az, agg_zones,
                                                  [z.zone for z in services])
    return simulation.World(
        release=inputs.get("release") or cloud.config.stackling.stackling.behaviour_release,
        cross_az_attach=inputs.get("cross_az_attach", nova.cinder.cross_az_attach),
        requested_az=requested_az, host_zones=host_zones,
        backends=_backends(cloud, cinder),
        storage_availability_zone=cinder.storage_availability_zone,
        default_availability_zone=cinder.default_availability_zone,
        allow_availability_zone_fallback=cinder.allow_availability_zone_fallback)


def candidates(world: simulation.World, zones: list[str]) -> list[tuple[str, Any]]:
    """(the change in words, the changed world) for each single change worth trying."""
    out: list[tuple[str, Any]] = []
    out.append((f"nova.conf [cinder] cross_az_attach = {not world.cross_az_attach}",
                world.with_(cross_az_attach=not world.cross_az_attach)))
    if not world.allow_availability_zone_fallback:
        out.append(("cinder.conf [DEFAULT] allow_availability_zone_fallback = True",
                    world.with_(allow_availability_zone_fallback=True)))
    target = world.requested_az
    backend_zones = {b.zone for b in world.backends if b.up and b.enabled}
    if target and target not in backend_zones:
        section = f"{target}_backend"
        out.append((f"cinder.conf: [DEFAULT] enabled_backends = {section} (plus the ones you "
                    f"have); [{section}] backend_availability_zone = {target} (a "
                    f"cinder-volume backend in {target})",
                    world.with_(backends=[*world.backends,
                                          simulation.Backend(f"<new>@{target}", target)])))
        for b in world.backends:
            host, _, name = b.name.partition("@")
            moved = [simulation.Backend(x.name, target if x is b else x.zone, x.up,
                                          x.enabled) for x in world.backends]
            out.append((f"cinder.conf: [DEFAULT] enabled_backends = {name}; [{name}] "
                        f"backend_host = {host}, backend_availability_zone = {target} (moves "
                        f"{b.name} from {b.zone} to {target}; {b.zone} then has no backend "
                        "of its own)", world.with_(backends=moved)))
        out.append((f"cinder.conf [DEFAULT] storage_availability_zone = {target}",
                    world.with_(storage_availability_zone=target)))
    for release in ("current", "mitaka", "liberty"):
        if release != world.release:
            out.append((f"stackling.conf [stackling] behaviour_release = {release}",
                        world.with_(release=release)))
    for zone in zones:
        if zone != world.requested_az:
            out.append((f"create the server with --availability-zone {zone}", zone))
    if world.requested_az:
        out.append(("create the server without --availability-zone", None))
    return out


def find_fixes(cloud: Cloud, resource_id: str, chain: list[dict]) -> list[dict]:
    """The changes that would have made this server's volume chain succeed, each checked."""
    step = next((d for d in reversed(chain) if d["resource_id"] == resource_id and
                 d["step"] in ("volume create", "cross-AZ check") and
                 d["outcome"] == "failed"), None)
    if step is None:
        return []
    inputs = step["inputs"] or {}
    requested = inputs.get("requested_az")
    world = world_for(cloud, inputs, requested)
    now = simulation.simulate(world)
    with cloud.db.reader() as s:
        zones = sorted({z.zone for z in az.nova_services(s, cloud.config.nova,
                                                         binary="nova-compute")})
    fixes, rejected = [], []
    for change, changed in candidates(world, zones):
        if not isinstance(changed, simulation.World):
            changed = world_for(cloud, inputs, changed)
        result = simulation.simulate(changed)
        (fixes if result.ok else rejected).append(
            {"change": change, "outcome": result.text, "verified": True,
             "works": result.ok})
    if now.ok:
        # The world changed since the failure (an option or a backend): say so first.
        fixes.insert(0, {"change": "nothing: with today's configuration the same request "
                                   "would succeed", "outcome": now.text, "verified": True,
                         "works": True})
    return [*fixes, *rejected]
