"""Cinder's zone decision as a record for ``stackling explain``: its inputs and outcome."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from stackling import decisions
from stackling.volume import zones
from stackling.volume.api import common
from stackling.volume.objects import backends

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud


SERVICE = "cinder-api"
STEP = "availability zone"


def zone_inputs(cloud: Cloud, s: Session, requested: str | None, valid_zones,
                opts: zones.ZoneOptions, *, snapshot_az=None, source_az=None, type_zones=None,
                size=None) -> dict:
    """Everything the zone decision looked at, with where each known zone comes from."""
    st = common.state(cloud)
    cached = sorted(st.zone_cache.names()) if st.zone_cache.loaded_at is not None else []
    rows = backends.volume_services(s)
    sources = [{"zone": r.availability_zone, "source": f"cinder-volume {r.host}",
                "disabled": bool(r.disabled), "in_cache": r.availability_zone in cached}
               for r in rows]
    sources.append({"zone": opts.storage_availability_zone,
                    "source": "storage_availability_zone of cinder-api", "in_cache": None})
    age = st.zone_cache.age()
    return {
        "requested_zone": requested, "valid_zones": sorted(set(valid_zones)),
        "known_zones": sources,
        "zone_cache": {"zones": cached, "age_seconds": round(age, 1) if age is not None
                       else None, "az_cache_duration": st.zone_cache.duration},
        "options": {k: v for k, v in dataclasses.asdict(opts).items() if k != "release"},
        "type_availability_zones": type_zones, "snapshot_zone": snapshot_az,
        "source_volume_zone": source_az, "release": opts.release, "size": size,
    }


def record_zone(cloud: Cloud, request_id: str | None, inputs: dict, *, outcome: str,
                summary: str, resource_id: str | None = None, session=None) -> None:
    decisions.record(cloud, resource_type="volume", resource_id=resource_id,
                     request_id=request_id, service=SERVICE, step=STEP, outcome=outcome,
                     summary=summary, inputs=inputs, session=session)
