"""cinder-scheduler: filters and the capacity weigher as pure functions, plus the worker.

Candidates are cinder-volume services that are up, enabled, not frozen and have reported
capabilities. Filters (scheduler_default_filters): AvailabilityZoneFilter, CapacityFilter,
CapabilitiesFilter; weigher: CapacityWeigher. A volume the volume service could not
create comes back here with its retry record, up to scheduler_max_attempts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from stackling import decisions, servicegroup
from stackling.db.api import retry_on_deadlock
from stackling.db.models import Service
from stackling.db.models_volume import Group, Volume, VolumeType
from stackling.volume import notifications
from stackling.volume.objects import backends, messages, quota
from stackling.volume.objects import groups as grp_obj
from stackling.volume.objects import volume as vol_obj

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


@dataclass
class BackendState:
    """What the scheduler knows of one backend (one pool per backend here)."""

    name: str                      # host@backend
    availability_zone: str | None
    capabilities: dict = field(default_factory=dict)
    provisioned_capacity_gb: float = 0
    updated_at: str | None = None  # the last capability report

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
        return backends.is_true(wanted[4:]) == backends.is_true(actual)
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


def filter_reason(name: str, backend: BackendState, spec: dict) -> str:
    """Why ``name`` removed ``backend`` (for decision records and explain)."""
    if name == "AvailabilityZoneFilter":
        wanted = spec.get("availability_zones") or \
            [(spec.get("volume_properties") or {}).get("availability_zone")]
        return f"zone {backend.availability_zone} is not in {sorted(map(str, wanted))}"
    if name == "CapacityFilter":
        requested = (spec.get("volume_properties") or {}).get("size") or 0
        return (f"requested {requested} GB; free {backend.free_capacity_gb} of "
                f"{backend.total_capacity_gb} GB, reserved {backend.reserved_percentage:g}%, "
                f"provisioned {backend.provisioned_capacity_gb:g} GB, "
                f"max_over_subscription_ratio {backend.max_over_subscription_ratio:g}")
    if name == "CapabilitiesFilter":
        vtype = spec.get("volume_type") or {}
        bad = [f"{k}={v!r} (backend: {backend.capabilities.get(k.split(':')[-1])!r})"
               for k, v in (vtype.get("extra_specs") or {}).items()
               if not capabilities_filter(backend, {"volume_type": {"extra_specs": {k: v}}})]
        return "extra specs not matched: " + ", ".join(bad)
    return "removed"


def _json_number(value: float) -> float | str:
    return round(value, 2) if math.isfinite(value) else str(value)


def select_backend_traced(backends: list[BackendState], spec: dict, filters: list[str],
                          tried: list[str] = ()) -> tuple[BackendState | None, dict]:
    """Filter, then weigh; also answer what happened to each backend and why."""
    trace: dict = {"candidates": [b.name for b in backends], "filters": list(filters),
                   "removed": [], "weights": {}, "chosen": None}
    candidates = []
    for b in backends:
        if b.name in tried:
            trace["removed"].append({"backend": b.name, "filter": "retry",
                                     "reason": "already tried for this volume"})
        elif spec.get("resource_backend") and b.name != spec["resource_backend"]:
            trace["removed"].append({"backend": b.name, "filter": "resource_backend",
                                     "reason": f"pinned to {spec['resource_backend']}"})
        else:
            candidates.append(b)
    for name in filters:
        fn = FILTERS.get(name)
        if fn is None:
            continue
        kept = []
        for b in candidates:
            if fn(b, spec):
                kept.append(b)
            else:
                trace["removed"].append({"backend": b.name, "filter": name,
                                         "reason": filter_reason(name, b, spec)})
        candidates = kept
    if not candidates:
        return None, trace
    trace["weights"] = {b.name: _json_number(capacity_weight(b)) for b in candidates}
    chosen = max(candidates, key=capacity_weight)
    trace["chosen"] = f"{chosen.name}#{chosen.pool}"
    return chosen, trace


def select_backend(backends: list[BackendState], spec: dict, filters: list[str],
                   tried: list[str] = ()) -> BackendState | None:
    """Filter, then weigh; None when no backend passes."""
    return select_backend_traced(backends, spec, filters, tried)[0]


# -- the worker ------------------------------------------------------------------------


class SchedulerManager:
    """The ``cinder-scheduler`` RPC endpoint."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def backend_states(self, excluded: list | None = None) -> list[BackendState]:
        """Up, enabled, unfrozen backends with capabilities; ``excluded`` collects the rest."""
        down = backends.down_time(self.cloud)
        with self.cloud.db.reader_connection() as s:
            rows = backends.volume_services(s)
            # NOTE: int(): MySQL/MariaDB answer SUM() with a Decimal, which cannot be mixed
            # with the floats of the capacity filter.
            sizes = {h: int(v or 0) for h, v in s.execute(_SIZE_BY_HOST).all()}
        states = []
        for row in rows:
            why = ("disabled" if row.disabled else "frozen" if row.frozen else
                   "no capabilities reported" if not row.capabilities else
                   "down (no heartbeat)" if not servicegroup.is_up(row, down) else None)
            if why:
                if excluded is not None:
                    excluded.append({"backend": row.host, "zone": row.availability_zone,
                                     "reason": why})
                continue
            provisioned = sum(v or 0 for h, v in sizes.items()
                              if h.split("#")[0] == row.host)
            states.append(BackendState(
                row.host, row.availability_zone, dict(row.capabilities), provisioned,
                (row.updated_at or row.created_at).strftime("%Y-%m-%dT%H:%M:%S.%f")))
        return states

    def create_volume(self, request_spec: dict, filter_properties: dict) -> None:
        """Schedule one volume. Whatever fails on the way (a database error, say) puts the
        volume in ``error``, as Cinder's scheduler manager does, rather than leaving it
        ``creating`` for a waiting Nova build to time out on."""
        try:
            self._schedule(request_spec, filter_properties)
        except Exception as exc:
            LOG.exception("Failed to schedule volume %s", request_spec.get("volume_id"))
            try:
                self._error_out(request_spec, str(exc))
            except Exception:
                LOG.exception("Failed to set volume %s to error",
                              request_spec.get("volume_id"))

    def _schedule(self, request_spec: dict, filter_properties: dict) -> None:
        volume_id = request_spec["volume_id"]
        conf = self.cloud.config.cinder
        retry = dict(filter_properties.get("retry") or {"num_attempts": 0, "backends": []})
        retry["num_attempts"] += 1
        filter_properties = {**filter_properties, "retry": retry}
        chosen = None
        excluded: list = []
        trace: dict = {}
        tried = list(retry["backends"])
        if retry["num_attempts"] > max(conf.scheduler_max_attempts, 1):
            LOG.error("Exceeded max scheduling attempts %d for resource %s",
                      conf.scheduler_max_attempts, volume_id)
            trace = {"max_attempts_exceeded": conf.scheduler_max_attempts}
        else:
            # Choose, then claim the capacity on the chosen backend (a row lock and a
            # fresh look at what it holds); a backend another scheduler filled meanwhile
            # is dropped and the choice made again.
            states = self.backend_states(excluded)
            for _ in range(len(states) + 1):
                chosen, trace = select_backend_traced(
                    states, request_spec, conf.scheduler_default_filters, tried)
                if chosen is None:
                    break
                claimed = claim_backend(
                    self.cloud, chosen, request_spec, volume_id,
                    on_placed=lambda s, trace=trace: record_backend_decision(
                        self.cloud, request_spec, trace, excluded, retry["num_attempts"],
                        session=s))
                if claimed is None:
                    return   # the volume was deleted (or changed) meanwhile
                if claimed:
                    break
                tried.append(chosen.name)
                chosen = None
        if chosen is None:   # a placement records its choice with the claim
            record_backend_decision(self.cloud, request_spec, trace, excluded,
                                    retry["num_attempts"])
        if chosen is None:
            LOG.error("Failed to run task cinder.scheduler.flows.create_volume."
                      "ScheduleCreateVolumeTask;volume:create: No valid backend was found."
                      " No weighed backends available")
            self._error_out(request_spec, "No valid backend was found. No weighed backends "
                                          "available")
            return
        retry["backends"].append(chosen.name)
        self.cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{chosen.name}", "create_volume",
                            volume_id=volume_id, request_spec=request_spec,
                            filter_properties=filter_properties)

    def retype(self, volume_id: str, new_type_id: str, migration_policy: str,
               reservations: list[str], request_id: str | None = None) -> None:
        """``SchedulerManager.retype``: the volume's own backend must satisfy the new type
        (stackling does not migrate); otherwise the volume goes back to its previous status,
        the reservations are rolled back and the project gets a user message."""
        with self.cloud.db.reader() as s:
            row = s.get(Volume, volume_id)
            new = s.get(VolumeType, new_type_id)
            if row is None or new is None:
                quota.rollback(self.cloud, reservations)
                return
            host = (row.host or "").split("#")[0]
            svc = s.scalar(select(Service).where(Service.project == "cinder",
                                                 Service.binary == backends.VOLUME_TOPIC,
                                                 Service.host == host))
            caps = dict(svc.capabilities or {}) if svc is not None else {}
            project, specs = row.project_id, dict(new.extra_specs or {})
        state = BackendState(host, None, caps, 0)
        if host and capabilities_filter(state, {"volume_type": {"extra_specs": specs}}):
            self.cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "retype",
                                volume_id=volume_id, new_type_id=new_type_id,
                                reservations=reservations)
            return
        LOG.warning("Retype of volume %s: no valid backend (its backend %s does not match "
                    "and stackling does not migrate volumes)", volume_id, host or "-")
        quota.rollback(self.cloud, reservations)
        with self.cloud.db.writer() as s:
            row = s.get(Volume, volume_id)
            if row is not None and row.status == "retyping":
                vol_obj.save(s, row, status=row.previous_status or "available")
        messages.record(self.cloud, project_id=project, request_id=request_id,
                        resource_type="VOLUME", resource_uuid=volume_id, action="001",
                        detail="003")

    def get_pools(self, filters: dict | None = None) -> list[dict]:
        """cinder/scheduler/host_manager.py get_pools: one pool per backend this scheduler
        can place volumes on, named ``host@backend#pool``; ``filters`` may name a pool or
        a volume type (its extra specs must match, as the CapabilitiesFilter checks)."""
        filters = filters or {}
        vtype = filters.get("volume_type")
        pools = []
        for b in self.backend_states():
            name = f"{b.name}#{b.pool}"
            if filters.get("name") and filters["name"] != name:
                continue
            if vtype is not None and not capabilities_filter(b, {"volume_type": vtype}):
                continue
            caps = {k: v for k, v in b.capabilities.items() if k != "pool_name"}
            caps.update({"allocated_capacity_gb": b.provisioned_capacity_gb,
                         "provisioned_capacity_gb": b.provisioned_capacity_gb,
                         "QoS_support": False, "backend_state": "up",
                         "timestamp": b.updated_at})
            pools.append({"name": name, "capabilities": caps})
        return pools

    def create_group(self, group_id: str) -> None:
        """A backend every volume type of the group can use, in the group's zone (Cinder's
        _get_weighted_candidates_generic_group); none → the group goes to ``error``."""
        with self.cloud.db.reader() as s:
            group = s.get(Group, group_id)
            if group is None:
                return
            types = [s.get(VolumeType, t) for t in group.volume_type_ids or []]
            specs = [{"availability_zones": [group.availability_zone],
                      "volume_properties": {"size": 0},
                      "volume_type": {"extra_specs": dict(t.extra_specs or {}) if t else {}}}
                     for t in types]
        candidates = self.backend_states()
        filters = self.cloud.config.cinder.scheduler_default_filters
        for spec in specs:
            names = {b.name for b in candidates if select_backend(
                [b], spec, filters) is not None}
            candidates = [b for b in candidates if b.name in names]
        if not candidates:
            LOG.error("No valid backend was found for group %s", group_id)
            grp_obj.set_group_status(self.cloud, group_id, "creating", status="error")
            return
        chosen = max(candidates, key=capacity_weight)
        if grp_obj.set_group_status(self.cloud, group_id, "creating",
                                    host=f"{chosen.name}#{chosen.pool}"):
            self.cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{chosen.name}", "create_group",
                                group_id=group_id)

    def _error_out(self, spec: dict, reason: str) -> None:
        if not vol_obj.set_status(self.cloud, spec["volume_id"], "creating", status="error",
                                  host=None):
            return
        self.cloud.notifier.changed(spec["volume_id"])
        notifications.scheduler_error(self.cloud, spec, reason)
        messages.record(self.cloud, project_id=spec["project_id"],
                        request_id=spec.get("request_id"), resource_type="VOLUME",
                        resource_uuid=spec["volume_id"], action="001", detail="003")


_SERVICE, _VOLUME = Service.__table__, Volume.__table__
# Core statements of every scheduling, built once.
_SIZE_BY_HOST = (select(_VOLUME.c.host, func.sum(_VOLUME.c.size))
                 .where(_VOLUME.c.host.is_not(None)).group_by(_VOLUME.c.host))
_LOCK_BACKEND = select(_SERVICE.c.id).where(
    _SERVICE.c.project == "cinder", _SERVICE.c.topic == backends.VOLUME_TOPIC,
    _SERVICE.c.host == bindparam("host")).with_for_update()
_HELD = select(func.sum(_VOLUME.c.size)).where(
    (_VOLUME.c.host == bindparam("host")) | _VOLUME.c.host.like(bindparam("pools")))


@retry_on_deadlock
def claim_backend(cloud: Cloud, chosen: BackendState, spec: dict, volume_id: str,
                  on_placed: Callable[[Session], None] | None = None) -> bool | None:
    """Place the volume on ``chosen`` if the backend still has room for it: the backend's
    service row is locked (SELECT ... FOR UPDATE; SQLite has one writer) while what it
    already holds is summed again and the capacity filter rerun, then the volume's host is
    set with a compare-and-swap (still ``creating``, no host). True when placed, False
    when the backend is full now, None when the volume is gone or no longer waiting.
    ``on_placed`` writes what goes with a placement (its decision record) in the same
    transaction."""
    with cloud.db.writer_connection() as s:
        s.execute(_LOCK_BACKEND, {"host": chosen.name})
        held = s.scalar(_HELD, {"host": chosen.name, "pools": f"{chosen.name}#%"})
        fresh = BackendState(chosen.name, chosen.availability_zone, chosen.capabilities,
                             int(held or 0))
        if "CapacityFilter" in cloud.config.cinder.scheduler_default_filters and \
                not capacity_filter(fresh, spec):
            return False
        placed = vol_obj.place(s, volume_id, f"{chosen.name}#{chosen.pool}",
                               chosen.availability_zone)
        if placed and on_placed is not None:
            on_placed(s)
        return True if placed else None


def record_backend_decision(cloud: Cloud, spec: dict, trace: dict, excluded: list,
                            attempt: int, session: Session | None = None) -> None:
    """The scheduler's backend choice as a decision record (``stackling explain``)."""
    props = spec.get("volume_properties") or {}
    inputs = {"availability_zones": spec.get("availability_zones"),
              "size": props.get("size"), "volume_type": (spec.get("volume_type") or {})
              .get("name"), "extra_specs": (spec.get("volume_type") or {}).get("extra_specs"),
              "resource_backend": spec.get("resource_backend"), "attempt": attempt,
              "excluded_before_filters": excluded, **trace}
    lines = []
    for e in excluded:
        lines.append(f"{e['backend']} (zone {e['zone']}) not a candidate: {e['reason']}")
    for r in trace.get("removed", []):
        lines.append(f"{r['backend']} removed by {r['filter']}: {r['reason']}")
    if trace.get("chosen"):
        weight = trace["weights"].get(trace["chosen"].split("#")[0])
        head = f"chose {trace['chosen']} (CapacityWeigher weight {weight})"
        outcome = decisions.OK
    else:
        head = "No valid backend was found. No weighed backends available"
        outcome = decisions.FAILED
    decisions.record(cloud, resource_type="volume", resource_id=spec["volume_id"],
                     request_id=spec.get("request_id"), service="cinder-scheduler",
                     step="backend", outcome=outcome, summary="\n".join([head, *lines]),
                     inputs=inputs, session=session)
