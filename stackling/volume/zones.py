"""The availability-zone decision of Cinder's create flow, and the create path's zone cache.

``extract_availability_zones`` is a pure function of its inputs
(cinder/volume/flows/api/create_volume.py, ``_extract_availability_zones``):
type restriction → group → inheritance from snapshot/source → default → validation
(with the optional fallback) → same zone as the source → result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stackling import exception
from stackling.volume import errors

LOG = logging.getLogger("stackling.volume.flows.create_volume")


@dataclass
class ZoneOptions:
    storage_availability_zone: str = "nova"
    default_availability_zone: str | None = None
    allow_availability_zone_fallback: bool = False
    cloned_volume_same_az: bool = True
    release: str = "current"   # "current", or "mitaka"/"liberty" for 2016 behaviour


def extract_availability_zones(requested: str | None, safe: Iterable[str],
                               opts: ZoneOptions, *, snapshot_az: str | None = None,
                               source_az: str | None = None, group_az: str | None = None,
                               type_zones: str | None = None,
                               log: logging.Logger = LOG) -> tuple[list[str], bool]:
    """Return (candidate zones, refresh_az); raise the 400s of reference section 1.5."""
    legacy = opts.release != "current"
    safe_zones = sorted(set(safe))
    type_restricted = False
    if type_zones is not None and not legacy:
        # Present but empty restricts to no zone; the message shows Cinder's list repr.
        type_restricted = True
        wanted = [z.strip() for z in type_zones.split(",") if z != ""]
        safe_zones = sorted(set(wanted) & set(safe_zones))
        if not safe_zones:
            raise errors.InvalidTypeAvailabilityZones(az=wanted)
    refresh_az = False
    zone = requested
    if zone is None and group_az:
        zone = group_az
    if zone is None:
        if legacy:
            # 2016: the source volume is looked at first, the snapshot wins.
            zone = snapshot_az or source_az
        else:
            zone = snapshot_az
            if source_az:
                zone = source_az
    if zone is None and not type_restricted:
        zone = opts.default_availability_zone or opts.storage_availability_zone
    if zone and zone not in safe_zones:
        refresh_az = True
        if opts.allow_availability_zone_fallback:
            fallback = opts.default_availability_zone or opts.storage_availability_zone
            log.warning("Availability zone '%s' not found, falling back to '%s'.",
                        zone, fallback)
            zone = fallback
        elif legacy:
            raise exception.InvalidInput(reason=f"Availability zone '{zone}' is invalid.")
        else:
            raise errors.InvalidAvailabilityZone(az=zone)
    if opts.cloned_volume_same_az:
        if snapshot_az and snapshot_az != zone:
            raise exception.InvalidInput(
                reason="Volume must be in the same availability zone as the snapshot")
        if source_az and source_az != zone:
            raise exception.InvalidInput(
                reason="Volume must be in the same availability zone as the source volume")
    if zone:
        return [zone], refresh_az
    return safe_zones, refresh_az


class ZoneCache:
    """``list_availability_zones(enable_cache=True)``: kept ``duration`` seconds per API."""

    def __init__(self, loader: Callable[[], list[dict]], duration: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loader = loader
        self.duration = duration
        self.clock = clock
        self._zones: list[dict] | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.loads = 0
        self.loaded_at: float | None = None

    def get(self, refresh: bool = False) -> list[dict]:
        with self._lock:
            now = self.clock()
            if refresh or self._zones is None or now >= self._expires:
                self._zones = self.loader()
                self._expires = now + self.duration
                self.loaded_at = now
                self.loads += 1
            return self._zones

    def age(self) -> float | None:
        """Seconds since the cached list was loaded (None before the first load)."""
        return None if self.loaded_at is None else self.clock() - self.loaded_at

    def names(self, refresh: bool = False) -> set[str]:
        return {z["name"] for z in self.get(refresh)}
