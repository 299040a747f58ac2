"""Cinder's side of ``stackling explain``: the volume resolver and
the fix finder (the decision record itself is ``stackling.volume.decision_records``).

Every fix offered is checked by re-running ``zones.extract_availability_zones`` and the
scheduler's filters (``scheduler.select_backend_traced``) with that one change; a change
that would not make the request succeed is not offered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from stackling import decisions, exception
from stackling.db.models import Service
from stackling.db.models_volume import Message, Volume
from stackling.volume import decision_records, scheduler, zones
from stackling.volume.objects import backends

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


# -- recording -------------------------------------------------------------------------



# -- resolver --------------------------------------------------------------------------


def resolve_volume(cloud: Cloud, ident: str) -> tuple[str, dict[str, Any]]:
    with cloud.db.reader() as s:
        row = s.get(Volume, ident)
        if row is None:
            found = s.scalars(select(Volume).where(Volume.display_name == ident)).all()
            if len(found) > 1:
                raise exception.Conflict(f"Multiple volumes are named {ident}; use an id.")
            row = found[0] if found else None
        if row is None:
            raise exception.NotFound(f"No volume with a name or ID of '{ident}' exists.")
        msg = s.scalars(select(Message).where(Message.resource_uuid == row.id)
                        .order_by(Message.created_at.desc())).first()
        return row.id, {"name": row.display_name, "status": row.status,
                        "availability_zone": row.availability_zone, "host": row.host,
                        "fault": msg.event_id if msg else None}


# -- fixes -----------------------------------------------------------------------------


def _opts(inputs: dict, **changes) -> zones.ZoneOptions:
    return zones.ZoneOptions(**{**inputs["options"], "release": inputs["release"], **changes})


def _rerun_zone(inputs: dict, opts: zones.ZoneOptions, valid) -> list[str] | None:
    try:
        azs, _ = zones.extract_availability_zones(
            inputs["requested_zone"], valid, opts, snapshot_az=inputs.get("snapshot_zone"),
            source_az=inputs.get("source_volume_zone"),
            type_zones=inputs.get("type_availability_zones"), log=_QUIET)
    except exception.StacklingError:
        return None
    return azs


class _Quiet:
    def warning(self, *args, **kwargs) -> None:
        pass


_QUIET = _Quiet()


def _schedule(cloud: Cloud, azs: list[str], size: int, extra=(),
              include: dict | None = None) -> str | None:
    """Re-run the scheduler's filters and weigher; the chosen host@backend#pool or None."""
    excluded: list = []
    states = scheduler.SchedulerManager(cloud).backend_states(excluded)
    if include:
        states += [_state_from_row(cloud, name) for name in include]
    spec = {"availability_zones": azs,
            "volume_properties": {"size": size or 1,
                                  "availability_zone": azs[0] if len(azs) == 1 else None}}
    chosen, trace = scheduler.select_backend_traced(
        [*states, *extra], spec, cloud.config.cinder.scheduler_default_filters)
    return trace["chosen"] if chosen else None


def _state_from_row(cloud: Cloud, host: str) -> scheduler.BackendState:
    with cloud.db.reader() as s:
        row = s.scalars(select(Service).where(Service.host == host,
                                              Service.topic == backends.VOLUME_TOPIC)).first()
        return scheduler.BackendState(host, row.availability_zone, dict(row.capabilities or {}))


def _new_backend(cloud: Cloud, zone: str) -> tuple[str, str, scheduler.BackendState]:
    """A new file backend section in ``zone`` with the configured defaults."""
    conf = cloud.config.cinder
    section = f"file_{zone}".replace("-", "_")
    host = cloud.topology.controller
    total = float(conf.backend_defaults.file_capacity_gb)
    caps = {"volume_backend_name": section, "pool_name": section, "total_capacity_gb": total,
            "free_capacity_gb": total,
            "reserved_percentage": conf.backend_defaults.reserved_percentage,
            "max_over_subscription_ratio": conf.backend_defaults.max_over_subscription_ratio,
            "thin_provisioning_support": conf.backend_defaults.thin_provisioning_support}
    enabled = ", ".join([*(conf.enabled_backends or []), section])
    change = (f"cinder.conf: [DEFAULT] enabled_backends = {enabled}; [{section}] "
              f"backend_availability_zone = {zone} (a cinder-volume backend in {zone})")
    return change, section, scheduler.BackendState(f"{host}@{section}", zone, caps)


def zone_fixes(cloud: Cloud, inputs: dict) -> list[dict]:
    """Fixes for a refused zone, each checked by re-running the decision and the scheduler."""
    fixes: list[dict] = []
    zone = inputs.get("requested_zone")
    size = inputs.get("size") or 1
    valid = inputs["valid_zones"]
    fresh = {z["name"] for z in backends.list_availability_zones(cloud)} | \
        {inputs["options"]["storage_availability_zone"]}
    if zone in fresh and zone not in valid:
        azs = _rerun_zone(inputs, _opts(inputs), fresh)
        chosen = azs and _schedule(cloud, azs, size)
        if chosen:
            how = ("retry: the zone cache was refreshed after the failure" if
                   inputs["release"] == "current" else
                   f"wait for the zone cache to expire (az_cache_duration = "
                   f"{inputs['zone_cache']['az_cache_duration']} s) or restart cinder-api")
            fixes.append({"change": how, "outcome": f"zone {zone} is now known to Cinder; "
                          f"the volume would be created on {chosen}"})
    azs = _rerun_zone(inputs, _opts(inputs, allow_availability_zone_fallback=True), valid)
    if azs:
        chosen = _schedule(cloud, azs, size)
        if chosen:
            fixes.append({"change": "cinder.conf: [DEFAULT] allow_availability_zone_fallback "
                                    "= True",
                          "outcome": f"Cinder would fall back from '{zone}' to '{azs[0]}' and "
                                     f"create the volume on {chosen} (a server that must be "
                                     f"in '{zone}' may then refuse it: cross_az_attach)"})
    if zone:
        change, _, state = _new_backend(cloud, zone)
        azs = _rerun_zone(inputs, _opts(inputs), [*valid, zone])
        chosen = azs and _schedule(cloud, azs, size, extra=[state])
        if chosen:
            fixes.append({"change": change,
                          "outcome": f"zone {zone} would be valid and the volume would be "
                                     f"created on {chosen}"})
    return fixes


def backend_fixes(cloud: Cloud, inputs: dict) -> list[dict]:
    """Fixes for "No valid backend", each checked by re-running the scheduler."""
    fixes: list[dict] = []
    azs = inputs.get("availability_zones") or []
    size = inputs.get("size") or 1
    if inputs.get("resource_backend"):
        return fixes
    for e in inputs.get("excluded_before_filters", []):
        if e["reason"] == "disabled":
            chosen = _schedule(cloud, azs, size, include={e["backend"]: True})
            if chosen:
                fixes.append({"change": f"openstack volume service set --enable "
                                        f"{e['backend']} cinder-volume",
                              "outcome": f"the volume would be created on {chosen}"})
    for zone in azs[:1]:
        change, _, state = _new_backend(cloud, zone)
        chosen = _schedule(cloud, azs, size, extra=[state])
        if chosen and not _schedule(cloud, azs, size):
            fixes.append({"change": change,
                          "outcome": f"the volume would be created on {chosen}"})
    return fixes


def find_fixes(cloud: Cloud, resource_id: str, chain: list[dict]) -> list[dict]:
    """FIX_FINDERS entry (volumes and servers): fixes for Cinder's failed decisions."""
    fixes: list[dict] = []
    last_sched = None
    try:
        for d in chain:
            if d["service"] == decision_records.SERVICE and d["step"] == decision_records.STEP and \
                    d["outcome"] == decisions.FAILED and "valid_zones" in (d["inputs"] or {}):
                fixes.extend(zone_fixes(cloud, d["inputs"]))
            if d["service"] == "cinder-scheduler":
                last_sched = d
        if last_sched is not None and last_sched["outcome"] == decisions.FAILED:
            fixes.extend(backend_fixes(cloud, last_sched["inputs"] or {}))
    except Exception:   # explaining must not fail because one checker did
        LOG.exception("could not work out Cinder fixes for %s", resource_id)
    seen, out = set(), []
    for f in fixes:
        if f["change"] not in seen:
            seen.add(f["change"])
            out.append(f)
    return out
