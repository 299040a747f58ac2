"""cinder-scheduler: filters and the capacity weigher as pure functions, plus the worker.

Candidates are cinder-volume services that are up, enabled, not frozen and have reported
capabilities. Filters (scheduler_default_filters): AvailabilityZoneFilter, CapacityFilter,
CapabilitiesFilter; weigher: CapacityWeigher. A volume the volume service could not
create comes back here with its retry record, up to scheduler_max_attempts.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from stackling import servicegroup
from stackling.db.models import Service, utcnow
from stackling.db.models_volume import Volume
from stackling.volume import common, messages

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


@dataclass
class BackendState:
    """What the scheduler knows of one backend (one pool per backend here)."""

    name: str                      # host@backend
    availability_zone: str | None
    capabilities: dict = field(default_factory=dict)
    provisioned_capacity_gb: float = 0

    @property
    def pool(self) -> str:
        return str(self.capabilities.get("pool_name") or
                   self.capabilities.get("volume_backend_name") or self.name.split("@")[-1])

    @property
    def total_capacity_gb(self):
        return self.capabilities.get("total_capacity_gb", "unknown")

    @property
    def free_capacity_gb(self):
        return self.capabilities.get("free_capacity_gb", "unknown")

    @property
    def reserved_percentage(self) -> float:
        return float(self.capabilities.get("reserved_percentage", 0))

    @property
    def max_over_subscription_ratio(self) -> float:
        return float(self.capabilities.get("max_over_subscription_ratio", 1.0))

    @property
    def thin(self) -> bool:
        return bool(self.capabilities.get("thin_provisioning_support", False))


# -- filters ---------------------------------------------------------------------------


def availability_zone_filter(backend: BackendState, spec: dict) -> bool:
    """Pass if the backend's zone is among the spec's zones (or the volume's zone)."""
    zones = spec.get("availability_zones")
    if zones:
        return backend.availability_zone in zones
    zone = (spec.get("volume_properties") or {}).get("availability_zone")
    return zone is None or zone == backend.availability_zone


def capacity_filter(backend: BackendState, spec: dict) -> bool:
    """cinder/scheduler/filters/capacity_filter.py: reserved space and over-subscription."""
    requested = (spec.get("volume_properties") or {}).get("size") or 0
    free, total = backend.free_capacity_gb, backend.total_capacity_gb
    if free in ("infinite", "unknown") or total in ("infinite", "unknown"):
        return True
    total = float(total)
    if total <= 0:
        return False
    reserved = backend.reserved_percentage / 100.0
    free_space = float(free) - math.floor(total * reserved)
    if backend.thin and backend.max_over_subscription_ratio >= 1:
        provisioned_ratio = (backend.provisioned_capacity_gb + requested) / total
        if provisioned_ratio > backend.max_over_subscription_ratio:
            LOG.warning("Insufficient free space for thin provisioning: ratio %.2f over %.2f "
                        "on %s", provisioned_ratio, backend.max_over_subscription_ratio,
                        backend.name)
            return False
        return free_space * backend.max_over_subscription_ratio >= requested
    if backend.thin:   # thin with a ratio below 1 is a misconfiguration
        return False
    return free_space >= requested


def _spec_matches(wanted: str, actual: Any) -> bool:
    wanted = str(wanted).strip()
    if wanted.startswith("<is>"):
        return common.is_true(wanted[4:]) == common.is_true(actual)
    if wanted.startswith("<in>"):
        return wanted[4:].strip() in str(actual)
    if wanted.startswith("<or>"):
        return str(actual) in [w.strip() for w in wanted[4:].split("<or>")]
    return str(actual) == wanted


def capabilities_filter(backend: BackendState, spec: dict) -> bool:
    """Unscoped extra specs (and ``capabilities:``) must match the backend's capabilities."""
    vtype = spec.get("volume_type") or {}
    for key, wanted in (vtype.get("extra_specs") or {}).items():
        scope, _, name = key.partition(":")
        if name:
            if scope != "capabilities":
                continue
            key = name
        if key in ("multiattach", "replication_enabled"):
            continue
        if key not in backend.capabilities:
            return False
        if not _spec_matches(wanted, backend.capabilities[key]):
            return False
    return True


FILTERS = {"AvailabilityZoneFilter": availability_zone_filter,
           "CapacityFilter": capacity_filter, "CapabilitiesFilter": capabilities_filter}


def capacity_weight(backend: BackendState) -> float:
    """Free (virtual, for thin) capacity; infinite sorts first, unknown last."""
    free, total = backend.free_capacity_gb, backend.total_capacity_gb
    if free == "infinite" or total == "infinite":
        return float("inf")
    if free == "unknown" or total == "unknown":
        return float("-inf")
    total = float(total)
    reserved = total * backend.reserved_percentage / 100.0
    if backend.thin:
        return total * backend.max_over_subscription_ratio - \
            backend.provisioned_capacity_gb - reserved
    return float(free) - reserved


def select_backend(backends: list[BackendState], spec: dict, filters: list[str],
                   tried: list[str] = ()) -> BackendState | None:
    """Filter, then weigh; None when no backend passes."""
    candidates = [b for b in backends if b.name not in tried]
    if spec.get("resource_backend"):
        candidates = [b for b in candidates if b.name == spec["resource_backend"]]
    for name in filters:
        fn = FILTERS.get(name)
        if fn is None:
            continue
        candidates = [b for b in candidates if fn(b, spec)]
    if not candidates:
        return None
    return max(candidates, key=capacity_weight)


# -- the worker ------------------------------------------------------------------------


class SchedulerManager:
    """The ``cinder-scheduler`` RPC endpoint."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._lock = threading.Lock()

    def backend_states(self) -> list[BackendState]:
        down = common.down_time(self.cloud)
        with self.cloud.db.reader() as s:
            rows = s.scalars(select(Service).where(Service.project == "cinder",
                                                   Service.topic == common.VOLUME_TOPIC)).all()
            sizes = dict(s.execute(select(Volume.host, func.sum(Volume.size))
                                   .where(Volume.host.is_not(None)).group_by(Volume.host)).all())
        states = []
        for row in rows:
            if row.disabled or row.frozen or not row.capabilities or \
                    not servicegroup.is_up(row, down):
                continue
            provisioned = sum(v or 0 for h, v in sizes.items()
                              if h.split("#")[0] == row.host)
            states.append(BackendState(row.host, row.availability_zone,
                                       dict(row.capabilities), provisioned))
        return states

    def create_volume(self, request_spec: dict, filter_properties: dict) -> None:
        volume_id = request_spec["volume_id"]
        conf = self.cloud.config.cinder
        retry = dict(filter_properties.get("retry") or {"num_attempts": 0, "backends": []})
        retry["num_attempts"] += 1
        filter_properties = {**filter_properties, "retry": retry}
        with self._lock:
            chosen = None
            if retry["num_attempts"] <= max(conf.scheduler_max_attempts, 1):
                chosen = select_backend(self.backend_states(), request_spec,
                                        conf.scheduler_default_filters, retry["backends"])
            else:
                LOG.error("Exceeded max scheduling attempts %d for resource %s",
                          conf.scheduler_max_attempts, volume_id)
            if chosen is None:
                LOG.error("Failed to run task cinder.scheduler.flows.create_volume."
                          "ScheduleCreateVolumeTask;volume:create: No valid backend was found."
                          " No weighed backends available")
                self._error_out(request_spec)
                return
            with self.cloud.db.writer() as s:
                row = s.get(Volume, volume_id)
                if row is None:
                    return
                row.host = f"{chosen.name}#{chosen.pool}"
                row.availability_zone = chosen.availability_zone
                row.scheduled_at = utcnow()
        retry["backends"].append(chosen.name)
        self.cloud.rpc.cast(f"{common.VOLUME_TOPIC}.{chosen.name}", "create_volume",
                            volume_id=volume_id, request_spec=request_spec,
                            filter_properties=filter_properties)

    def _error_out(self, spec: dict) -> None:
        with self.cloud.db.writer() as s:
            row = s.get(Volume, spec["volume_id"])
            if row is None:
                return
            row.status = "error"
            row.host = None
        messages.record(self.cloud, project_id=spec["project_id"],
                        request_id=spec.get("request_id"), resource_type="VOLUME",
                        resource_uuid=spec["volume_id"], action="001", detail="003")
