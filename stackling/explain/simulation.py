"""The boot-from-volume zone chain as one pure simulation, for ``stackling explain``.

Nova's zone to send → Cinder's zone decision → an up and enabled backend in that zone →
Nova's cross-AZ check: the only place that runs Nova's and Cinder's rules together, so
that a changed option can be tried without touching either service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from stackling import exception
from stackling.compute.volume_zones import cross_az_error, instance_zone, zone_to_send
from stackling.volume import zones as cinder_zones


@dataclass
class Backend:
    name: str            # host@backend
    zone: str
    up: bool = True
    enabled: bool = True


@dataclass
class World:
    """Everything the chain depends on, as values: change one field, run it again."""

    release: str
    cross_az_attach: bool
    requested_az: str | None
    host_zones: list[str]            # zones of the hosts the scheduler could pick
    backends: list[Backend]
    storage_availability_zone: str = "nova"
    default_availability_zone: str | None = None
    allow_availability_zone_fallback: bool = False
    extra_valid_zones: list[str] = field(default_factory=list)

    def with_(self, **changes) -> World:
        return replace(self, **changes)


@dataclass
class Outcome:
    ok: bool
    text: str
    volume_zone: str | None = None


def _one(world: World, host_zone: str | None) -> Outcome:
    inst_az = instance_zone(world.release, world.requested_az, host_zone)
    sent, _ = zone_to_send(world.release, world.cross_az_attach, inst_az)
    safe = {b.zone for b in world.backends} | {world.storage_availability_zone} | \
        set(world.extra_valid_zones)
    opts = cinder_zones.ZoneOptions(
        storage_availability_zone=world.storage_availability_zone,
        default_availability_zone=world.default_availability_zone,
        allow_availability_zone_fallback=world.allow_availability_zone_fallback,
        release=world.release)
    try:
        chosen, _ = cinder_zones.extract_availability_zones(sent, safe, opts,
                                                            log=_QUIET)
    except exception.StacklingError as err:
        return Outcome(False, f"Cinder refuses the zone {sent!r}: {err.message}")
    if not any(b.up and b.enabled and b.zone in chosen for b in world.backends):
        return Outcome(False, f"Cinder accepts zone {chosen[0] if chosen else None} but no "
                              "up and enabled cinder-volume backend lives there: the volume "
                              "goes to error")
    volume_az = chosen[0] if len(chosen) == 1 else None
    if volume_az is None:
        volume_az = next(b.zone for b in world.backends if b.up and b.enabled and
                         b.zone in chosen)
    if cross_az_error(world.cross_az_attach, "<server>", inst_az, "<volume>", volume_az):
        return Outcome(False, f"the volume lands in {volume_az}, then Nova's cross-AZ check "
                              f"fails (instance in {inst_az})", volume_az)
    return Outcome(True, f"the volume lands in {volume_az} and the server boots "
                         f"(instance zone {inst_az})", volume_az)


def simulate(world: World) -> Outcome:
    """Succeeds only if it succeeds on every host the scheduler might pick."""
    zones = sorted(set(world.host_zones)) or [None]
    results = [(z, _one(world, z)) for z in zones]
    failed = [(z, r) for z, r in results if not r.ok]
    if not failed:
        return results[0][1]
    if len(zones) > 1 and len(failed) < len(results):
        z, r = failed[0]
        return Outcome(False, f"works only on some hosts: on a host in {z}, {r.text}")
    return failed[0][1]


class _Quiet:
    def warning(self, *args, **kwargs) -> None:
        pass


_QUIET = _Quiet()


def possible_host_zones(requested_az: str | None, aggregate_zones: Iterable[str],
                        all_host_zones: Iterable[str]) -> list[str]:
    """Placement pre-filter: a zone carried by an aggregate pins; any other restricts nothing."""
    if requested_az and requested_az in set(aggregate_zones):
        return [requested_az]
    return sorted(set(all_host_zones))
