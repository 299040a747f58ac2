"""The scheduler: pure filters and a weigher over host states, plus the DB reader.

Zone semantics are today's placement pre-filter (reference 3.5): a requested zone keeps
the hosts of the aggregates carrying it; a zone that no aggregate carries (typically the
default ``nova``) restricts nothing. Then: service up and enabled, RAM/vCPU/disk capacity
with allocation ratios; weighed by free RAM (RAMWeigher, multiplier 1.0).

``HostIndex`` groups hosts by zone once, so a zoned request looks only at that zone's
hosts: the cost grows with the size of the zone, not of the cloud.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackling import servicegroup
from stackling.db.models import AggregateHost, AggregateMetadata, Service, utcnow
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


_NODE_COLUMNS = [getattr(ComputeNode, c) for c in (
    "host", "hypervisor_hostname", "uuid", "vcpus", "memory_mb", "local_gb", "vcpus_used",
    "memory_mb_used", "local_gb_used", "reserved_vcpus", "reserved_memory_mb",
    "reserved_disk_gb", "cpu_allocation_ratio", "ram_allocation_ratio",
    "disk_allocation_ratio")]


def read_host_states(s: Session, conf, zone: str | None = None) -> list[HostState]:
    """The compute nodes with their services and zones, as plain rows (a thousand hosts
    may be read at each scheduling). With ``zone``, only the hosts of the aggregates
    carrying it when there are any (what zone_candidates keeps): a zoned request reads
    its zone, not the cloud."""
    zoned = (select(AggregateHost.host, AggregateMetadata.value)
             .join(AggregateMetadata, AggregateMetadata.aggregate_id == AggregateHost.aggregate_id)
             .where(AggregateMetadata.key == "availability_zone"))
    in_zone = set(s.scalars(zoned.where(AggregateMetadata.value == zone))) if zone else set()
    zones: dict[str, set[str]] = {}
    for host, name in s.execute(zoned.where(AggregateHost.host.in_(in_zone)) if in_zone
                                else zoned):
        zones.setdefault(host, set()).add(name)
    nodes = select(*_NODE_COLUMNS).order_by(ComputeNode.id)
    services = select(Service.host, Service.disabled, Service.forced_down,
                      Service.updated_at, Service.created_at).where(
        Service.project == "nova", Service.binary == "nova-compute")
    if in_zone:
        nodes = nodes.where(ComputeNode.host.in_(in_zone))
        services = services.where(Service.host.in_(in_zone))
    services = {r.host: r for r in s.execute(services)}
    down_time = servicegroup.effective_down_time(conf.report_interval, conf.service_down_time)
    now = utcnow()
    states = []
    for n in s.execute(nodes):
        svc = services.get(n.host)
        vcpus, ram, disk = free_resources(n)
        states.append(HostState(
            host=n.host, node=n.hypervisor_hostname, zones=frozenset(zones.get(n.host, ())),
            enabled=bool(svc and not svc.disabled),
            up=bool(svc and servicegroup.is_up(svc, down_time, now)),
            free_vcpus=vcpus, free_ram_mb=ram, free_disk_gb=disk, node_uuid=n.uuid))
    return states
