"""Nova's side of the zone chain for boot from volume, as pure functions (reference 4.3-4.5).

- ``zone_to_send``: the ``availability_zone`` Nova puts in the volume create it sends to
  Cinder (``_get_volume_create_az_value``), by release mode.
- ``instance_zone``: the zone the instance carries when the compute host builds it
  (Pike+: the chosen host's zone, set by the conductor; 2016: the requested zone).
- ``cross_az_error``: the compute-side check of ``[cinder] cross_az_attach = False``.
- ``simulate``: Nova's zone-to-send + Cinder's zone decision + "is there a backend" +
  Nova's cross-AZ check, for ``stackling explain`` to test a changed option.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from stackling import exception
from stackling.volume import zones as cinder_zones

CURRENT, MITAKA, LIBERTY = "current", "mitaka", "liberty"


def is_2016(release: str) -> bool:
    return release in (MITAKA, LIBERTY)


def zone_to_send(release: str, cross_az_attach: bool, instance_az: str | None
                 ) -> tuple[str | None, str]:
    """(zone sent to Cinder, why) for an image/snapshot/blank → volume BDM."""
    if release == LIBERTY:
        return instance_az, ("Liberty always sends the instance's zone "
                             f"({instance_az or 'none'}), whatever [cinder] "
                             f"cross_az_attach says ({cross_az_attach})")
    if cross_az_attach:
        return None, ("[cinder] cross_az_attach = True: Nova sends no zone and lets "
                      "Cinder pick its default")
    what = "the chosen host's zone" if release == CURRENT else "the requested zone"
    return instance_az, (f"[cinder] cross_az_attach = False: Nova sends the instance's "
                         f"zone, {what} ({instance_az or 'none'})")


def instance_zone(release: str, requested_az: str | None, host_zone: str | None
                  ) -> str | None:
    return requested_az if is_2016(release) else host_zone


def cross_az_error(cross_az_attach: bool, instance_uuid: str, instance_az: str | None,
                   volume_id: str, volume_az: str | None) -> str | None:
    """The compute-side ``check_availability_zone`` message, or None when it passes."""
    if cross_az_attach or instance_az == volume_az:
        return None
    return (f"Invalid volume: Instance {instance_uuid} and volume {volume_id} are not in "
            f"the same availability_zone. Instance is in {instance_az}. Volume is in "
            f"{volume_az}")


def validate_vol_az_for_create(cross_az_attach: bool, instance_az: str | None,
                               volume_zones: list[str | None], default_az: str
                               ) -> str | None:
    """``_validate_vol_az_for_create`` (Ussuri+): a zone to pin the server to, or None.

    Raises the 400 ``The availability zone between the server and its attached volumes
    do not match: ...`` on a mismatch.
    """
    if cross_az_attach or not volume_zones:
        return None
    prefix = "The availability zone between the server and its attached volumes do not " \
             "match: "
    if len(set(volume_zones)) > 1:
        raise exception.BadRequest(prefix + "Volumes are in different availability zones: "
                                   + ",".join(str(z) for z in volume_zones) + ".")
    volume_az = volume_zones[0]
    if instance_az is None:
        return volume_az if volume_az != default_az else None
    if instance_az != volume_az:
        raise exception.BadRequest(
            prefix + f"Server and volumes are not in the same availability zone. Server is "
            f"in: {instance_az}. Volumes are in: {volume_az}.")
    return None


# -- simulation (explain) --------------------------------------------------------------


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
