"""Topology: regions, compute hosts, aggregates with zones, cinder-volume backends and the
hosts of Neutron's DHCP and L3 agents.

A YAML file (``--topology``) declares the layout; the default is the seed's. Loading
goes through the code the APIs use: aggregates through the Nova aggregate objects,
services through the service registry, so the APIs show exactly what was declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stackling import hostrange

DEFAULT = Path(__file__).with_name("default-topology.yaml")


class TopologyError(ValueError):
    pass


@dataclass
class ComputeHost:
    name: str
    vcpus: int = 16
    memory_mb: int = 32768
    local_gb: int = 500


@dataclass
class AggregateSpec:
    name: str
    availability_zone: str | None = None
    hosts: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class VolumeBackend:
    host: str
    backend: str
    availability_zone: str | None = None
    capacity_gb: int = 1000
    volume_backend_name: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}@{self.backend}"


@dataclass
class NetworkAgentHost:
    """A host running Neutron's DHCP and L3 agents, in its ``[AGENT] availability_zone``."""

    host: str
    availability_zone: str = "nova"
    agents: list[str] = field(default_factory=lambda: ["dhcp", "l3"])


def _aggregates(data: dict) -> list[AggregateSpec]:
    """One aggregate, or a range of them: ``{name: az[1-100], availability_zone: az[1-100],
    hosts: [compute[1-1000]]}`` makes 100 aggregates (zones az1..az100) of 10 consecutive
    hosts each. Host items may be ranges in a single aggregate too."""
    hosts = hostrange.expand_all([str(h) for h in data.get("hosts", [])])
    names = hostrange.expand(str(data.get("name", "")))
    if len(names) == 1:
        return [AggregateSpec(**{**data, "hosts": hosts})]
    zone = data.get("availability_zone")
    zones = hostrange.expand(str(zone)) if zone is not None else [None] * len(names)
    if len(zones) != len(names):
        raise hostrange.HostRangeError(f"aggregates {data['name']}: the zone range "
                                       f"{zone} has not one zone per aggregate")
    groups = hostrange.split(hosts, len(names)) if hosts else [[] for _ in names]
    return [AggregateSpec(**{**data, "name": n, "availability_zone": z, "hosts": g})
            for n, z, g in zip(names, zones, groups)]


@dataclass
class Topology:
    region: str = "RegionOne"
    controller: str = "controller"
    compute_hosts: list[ComputeHost] = field(default_factory=list)
    aggregates: list[AggregateSpec] = field(default_factory=list)
    volume_backends: list[VolumeBackend] = field(default_factory=list)
    # None: one DHCP and one L3 agent on the controller, in zone nova.
    network_agents: list[NetworkAgentHost] | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Topology:
        path = path or DEFAULT
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TopologyError(f"cannot read topology {path}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> Topology:
        try:
            topo = cls(
                region=str(data.get("region", "RegionOne")),
                controller=str(data.get("controller", "controller")),
                compute_hosts=[ComputeHost(**{**h, "name": name})
                               for h in data.get("compute_hosts", [])
                               for name in hostrange.expand(str(h.get("name", "")))],
                aggregates=[agg for a in data.get("aggregates", []) for agg in _aggregates(a)],
                volume_backends=[VolumeBackend(**b) for b in data.get("volume_backends", [])],
                network_agents=None if data.get("network_agents") is None else [
                    NetworkAgentHost(**a) for a in data["network_agents"]],
            )
        except (TypeError, hostrange.HostRangeError) as exc:
            raise TopologyError(f"invalid topology: {exc}") from exc
        known = {h.name for h in topo.compute_hosts}
        for agg in topo.aggregates:
            for host in agg.hosts:
                if host not in known:
                    raise TopologyError(
                        f"aggregate {agg.name} names host {host}, which is not a compute host")
        return topo
