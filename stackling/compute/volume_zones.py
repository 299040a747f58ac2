"""Nova's side of the zone chain for boot from volume, as pure functions (reference 4.3-4.5).

- ``zone_to_send``: the ``availability_zone`` Nova puts in the volume create it sends to
  Cinder (``_get_volume_create_az_value``), by release mode.
- ``instance_zone``: the zone the instance carries when the compute host builds it
  (Pike+: the chosen host's zone, set by the conductor; 2016: the requested zone).
- ``cross_az_error``: the compute-side check of ``[cinder] cross_az_attach = False``.
"""

from __future__ import annotations

from stackling import exception

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
