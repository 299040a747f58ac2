"""The scheduler: pure filters and a weigher over host states, plus the DB reader.

Zone semantics are today's placement pre-filter (reference 3.5): a requested zone keeps
the hosts of the aggregates carrying it; a zone that no aggregate carries (typically the
default ``nova``) restricts nothing. Then: service up and enabled, RAM/vCPU/disk capacity
with allocation ratios; weighed by free RAM (RAMWeigher, multiplier 1.0).

``HostIndex`` groups hosts by zone once, so a zoned request looks only at that zone's
hosts: the cost grows with the size of the zone, not of the cloud.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from stackling import servicegroup
from stackling.db.models import Aggregate, AggregateHost, AggregateMetadata, Service, utcnow
from stackling.db.models_compute import ComputeNode


@dataclass
class HostState:
    host: str
    node: str
    zones: frozenset[str]           # zones of the aggregates holding this host
    enabled: bool
    up: bool
    free_vcpus: float
    free_ram_mb: float
    free_disk_gb: float
    node_uuid: str = ""


@dataclass
class RequestSpec:
    vcpus: int
    memory_mb: int
    disk_gb: int
    availability_zone: str | None = None
    force_host: str | None = None
    force_node: str | None = None
    requested_host: str | None = None       # 2.74 host / hypervisor_hostname (filtered)
    requested_node: str | None = None
    ignore_hosts: frozenset[str] = frozenset()   # a move's source (RequestSpec.ignore_hosts)


@dataclass
class HostIndex:
    hosts: list[HostState]
    by_zone: dict[str, list[HostState]] = field(default_factory=dict)
    by_name: dict[str, list[HostState]] = field(default_factory=dict)

    @classmethod
    def build(cls, hosts: list[HostState]) -> HostIndex:
        index = cls(hosts)
        for h in hosts:
            for zone in h.zones:
                index.by_zone.setdefault(zone, []).append(h)
            index.by_name.setdefault(h.host, []).append(h)
            if h.node != h.host:
                index.by_name.setdefault(h.node, []).append(h)
        return index


NOT_ENOUGH = "There are not enough hosts available."


class NoValidHost(Exception):
    def __init__(self, reason: str = NOT_ENOUGH) -> None:
        self.reason = reason
        super().__init__(f"No valid host was found. {reason}".rstrip())


# -- filters and weigher (pure) --------------------------------------------------------


def fits(h: HostState, spec: RequestSpec) -> bool:
    return (h.free_ram_mb >= spec.memory_mb and h.free_vcpus >= spec.vcpus
            and h.free_disk_gb >= spec.disk_gb)


def compute_ok(h: HostState) -> bool:
    """ComputeFilter: the host's nova-compute is up and enabled."""
    return h.enabled and h.up


def zone_candidates(index: HostIndex, zone: str | None) -> list[HostState]:
    """Placement's map_az_to_placement_aggregate: no aggregate with the zone → no restriction."""
    if zone and zone in index.by_zone:
        return index.by_zone[zone]
    return index.hosts


def weigh(h: HostState) -> float:
    return h.free_ram_mb


def select_hosts(index: HostIndex, spec: RequestSpec, count: int = 3) -> list[HostState]:
    """The best ``count`` hosts, best first; NoValidHost when none passes."""
    if spec.force_host or spec.force_node:
        # Forced destinations skip the filters; placement still checks capacity.
        forced = index.by_name.get(spec.force_host or spec.force_node or "", [])
        forced = [h for h in forced if (not spec.force_host or h.host == spec.force_host)
                  and (not spec.force_node or h.node == spec.force_node)]
        passing = [h for h in forced if fits(h, spec)]
    else:
        candidates = zone_candidates(index, spec.availability_zone)
        if spec.requested_host or spec.requested_node:
            name = spec.requested_host or spec.requested_node or ""
            wanted = {id(h) for h in index.by_name.get(name, [])}
            candidates = [h for h in candidates if id(h) in wanted]
        passing = [h for h in candidates if compute_ok(h) and fits(h, spec)
                   and h.host not in spec.ignore_hosts]
    if not passing:
        raise NoValidHost()
    if count == 1:
        return [max(passing, key=weigh)]
    return heapq.nlargest(count, passing, key=weigh)


# -- host states from the database -----------------------------------------------------


def free_resources(n) -> tuple[float, float, float]:
    """Placement capacity: (total - reserved) * ratio - used by instances."""
    vcpus = (n.vcpus - n.reserved_vcpus) * n.cpu_allocation_ratio - n.vcpus_used
    ram = (n.memory_mb - n.reserved_memory_mb) * n.ram_allocation_ratio - \
        (n.memory_mb_used - n.reserved_memory_mb)
    disk = (n.local_gb - n.reserved_disk_gb) * n.disk_allocation_ratio - n.local_gb_used
    return vcpus, ram, disk


# Core on the tables (read on every scheduling): no ORM compilation.
_NODE, _SVC = ComputeNode.__table__.c, Service.__table__.c
_AGG, _AGG_HOST, _AGG_META = (m.__table__.c for m in (Aggregate, AggregateHost,
                                                     AggregateMetadata))
_NODE_COLUMNS = [getattr(_NODE, c) for c in (
    "id", "host", "hypervisor_hostname", "uuid", "vcpus", "memory_mb", "local_gb",
    "vcpus_used", "memory_mb_used", "local_gb_used", "reserved_vcpus", "reserved_memory_mb",
    "reserved_disk_gb", "cpu_allocation_ratio", "ram_allocation_ratio",
    "disk_allocation_ratio", "updated_at")]
_SERVICE_COLUMNS = (_SVC.id, _SVC.host, _SVC.disabled, _SVC.forced_down,
                    _SVC.updated_at, _SVC.created_at)
_COMPUTE_SERVICES = (_SVC.project == "nova", _SVC.binary == "nova-compute")


def _read_zones(s: Session) -> dict[str, frozenset[str]]:
    zones: dict[str, set[str]] = {}
    for host, name in s.execute(
            select(_AGG_HOST.host, _AGG_META.value)
            .join(AggregateMetadata.__table__, _AGG_META.aggregate_id == _AGG_HOST.aggregate_id)
            .where(_AGG_META.key == "availability_zone")):
        zones.setdefault(host, set()).add(name)
    return {host: frozenset(names) for host, names in zones.items()}


def _one(*cols, where=()):
    return select(*cols).where(*where).scalar_subquery()


# What changes when hosts come or go or aggregates change, in one cheap statement.
_MARKS = select(
    _one(func.count(_NODE.id)), _one(func.count(_SVC.id), where=_COMPUTE_SERVICES),
    _one(func.count(_AGG.id)), _one(func.max(_AGG.updated_at)),
    _one(func.count(_AGG_HOST.id)), _one(func.max(_AGG_HOST.id)),
    _one(func.count(_AGG_META.id)))
_NODES = select(*_NODE_COLUMNS)
_SERVICES = select(*_SERVICE_COLUMNS).where(*_COMPUTE_SERVICES)
# The rows changed since a time: ``>=`` with a margin for other processes' writers.
_CHANGED = {(query, margin): query.where(cols.updated_at >= bindparam("since") if margin
                                         else cols.updated_at > bindparam("since"))
            for query, cols in ((_NODES, _NODE), (_SERVICES, _SVC))
            for margin in (False, True)}


class HostStateCache:
    """The scheduler's memory of the hosts (Nova's HostManager keeps one too).

    A full read at first and every ``FULL_EVERY`` seconds; in between each scheduling
    reads one row of counts (hosts or aggregates added or removed → full read), then only
    the compute nodes and services whose ``updated_at`` moved (claims, releases,
    heartbeats, disables all set it), going back ``margin`` seconds for writers of other
    processes that committed after a later one (none on SQLite, whose writers this
    process serialises). A scheduling over 1,000 hosts costs three small queries
    instead of 3,000 rows.
    """

    FULL_EVERY = 30.0

    def __init__(self, margin: float = 2.0) -> None:
        self.margin = dt.timedelta(seconds=margin)
        self._lock = threading.Lock()
        self._nodes: dict[int, Row] = {}
        self._services: dict[str, Row] = {}
        self._zones: dict[str, frozenset[str]] = {}
        self._marks: tuple | None = None
        self._node_since: dt.datetime | None = None
        self._service_since: dt.datetime | None = None
        self._states: dict[int, HostState] = {}
        self._list: list[HostState] | None = None
        self._index: HostIndex | None = None
        self._settled_until = utcnow()
        self._full_at = float("-inf")

    def states(self, s: Session, conf) -> list[HostState]:
        down_time = dt.timedelta(seconds=servicegroup.effective_down_time(
            conf.report_interval, conf.service_down_time))
        with self._lock:
            marks = tuple(s.execute(_MARKS).one())
            if marks != self._marks or time.monotonic() - self._full_at > self.FULL_EVERY:
                self._full(s, marks)
            else:
                nodes = self._delta(s, _NODES, _NODE, "_node_since")
                services = self._delta(s, _SERVICES, _SVC, "_service_since")
                self._nodes.update((r.id, r) for r in nodes)
                self._services.update((r.host, r) for r in services)
                hosts = {r.host for r in services}
                for node in self._nodes.values():
                    if node.host in hosts:
                        self._states.pop(node.id, None)
                for r in nodes:
                    self._states.pop(r.id, None)
                if not nodes and not services and self._list is not None \
                        and utcnow() < self._settled_until:
                    return self._list   # nothing changed, no heartbeat went stale
            self._list, self._index = self._build(down_time), None
            return self._list

    def index(self, states: list[HostState]) -> HostIndex:
        """``HostIndex.build(states)``, kept while the cache returns the same states."""
        if states is not self._list:
            return HostIndex.build(states)
        with self._lock:
            if self._index is None or states is not self._list:
                self._index = HostIndex.build(states)
            return self._index

    def _full(self, s: Session, marks: tuple) -> None:
        self._zones = _read_zones(s)
        self._nodes = {r.id: r for r in s.execute(_NODES.order_by(_NODE.id))}
        self._services = {r.host: r for r in s.execute(_SERVICES.order_by(_SVC.id))}
        self._node_since = _latest(self._nodes.values(), None)
        self._service_since = _latest(self._services.values(), None)
        self._states = {}
        self._marks, self._full_at = marks, time.monotonic()

    def _delta(self, s: Session, query, cols, mark: str) -> list[Row]:
        """The rows changed since the newest ``updated_at`` seen (less the margin); with
        no margin (one writer at a time, each commit seen whole) nothing newer hides."""
        since = getattr(self, mark)
        if since is None:
            changed = list(s.execute(query.where(cols.updated_at.is_not(None))))
        else:
            changed = list(s.execute(_CHANGED[query, bool(self.margin)],
                                     {"since": since - self.margin}))
        setattr(self, mark, _latest(changed, since))
        return changed

    def _build(self, down_time: dt.timedelta) -> list[HostState]:
        """Host states of the changed hosts anew; of the others, only ``up`` is rechecked
        (it moves with the clock)."""
        now = utcnow()
        earliest, latest = now - down_time, now + down_time   # servicegroup.is_up
        states = []
        # until when every ``up`` stays as computed now (the first heartbeat to go stale)
        self._settled_until = now + down_time
        for node_id, n in self._nodes.items():
            state = self._states.get(node_id)
            svc = self._services.get(n.host)
            last = svc and (svc.updated_at or svc.created_at)
            up = svc is not None and not svc.forced_down and earliest <= last <= latest
            if up:
                self._settled_until = min(self._settled_until, last + down_time)
            elif svc is not None and last > latest:   # a clock ahead of ours
                self._settled_until = min(self._settled_until, last - down_time)
            if state is None:
                vcpus, ram, disk = free_resources(n)
                state = HostState(
                    host=n.host, node=n.hypervisor_hostname,
                    zones=self._zones.get(n.host, frozenset()),
                    enabled=bool(svc and not svc.disabled), up=up,
                    free_vcpus=vcpus, free_ram_mb=ram, free_disk_gb=disk, node_uuid=n.uuid)
            elif state.up != up:
                state = dataclasses.replace(state, up=up)
            self._states[node_id] = state
            states.append(state)
        return states


def _latest(rows, since: dt.datetime | None) -> dt.datetime | None:
    stamps = [r.updated_at for r in rows if r.updated_at is not None]
    if since is not None:
        stamps.append(since)
    return max(stamps) if stamps else None
