"""Compute (Nova v2.1): the API, the conductor/scheduler and one compute manager per host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling.compute.api.routes import build_app  # noqa: F401

if TYPE_CHECKING:
    from stackling.cloud import Cloud


def setup(cloud: Cloud, fresh: bool) -> None:
    """On a fresh database: the seed flavors and the topology's aggregates.

    Aggregates go through the aggregate object functions (the API's own rules); their
    hosts are added in start(), once the hosts' nova-compute services exist.
    """
    if not fresh:
        return
    from stackling.compute.api import aggregates, flavors

    flavors.seed(cloud)
    for spec in cloud.topology.aggregates:
        agg = aggregates.create(cloud, spec.name, spec.availability_zone)
        if spec.metadata:
            aggregates.set_metadata(cloud, agg["id"], dict(spec.metadata))


def start(cloud: Cloud) -> None:
    from stackling import servicegroup
    from stackling.compute import conductor as conductor_mod
    from stackling.compute.api import hypervisors
    from stackling.compute.host import driver, manager

    topo = cloud.topology
    only = cloud.only
    # Any number of hosts (--only nova-compute=HOST[1-500]): rows and nodes in batches.
    hosts = [h for h in [*topo.compute_hosts, *joined_hosts(cloud)] if only.runs_host(h.name)]
    registered = servicegroup.register_many(cloud, [
        servicegroup.ServiceSpec("nova", "nova-compute", h.name, topic="compute")
        for h in hosts])
    hypervisors.ensure_nodes(cloud, hosts)
    fresh_hosts = set()
    for host, (service_id, existed) in zip(hosts, registered):
        cloud.heartbeat.add(service_id)
        if not existed:
            fresh_hosts.add(host.name)
        fake = driver.FakeDriver(host.name, host.vcpus, host.memory_mb, host.local_gb,
                                 cloud.config.stackling.fake_driver.snapshot_seconds)
        mgr = manager.ComputeManager(cloud, host.name, fake)
        cloud.rpc.register(f"compute.{host.name}", mgr)
        # The hosts this process runs: their start-up repair (stackling.recovery).
        cloud.__dict__.setdefault("compute_managers", {})[host.name] = mgr
    if hosts:
        _hear_cinder(cloud, hosts[0].name)
    conductor = None
    for binary, topic in (("nova-scheduler", "scheduler"), ("nova-conductor", "conductor")):
        if not only.runs(binary):
            continue
        spec = servicegroup.ServiceSpec("nova", binary, topo.controller, topic=topic)
        cloud.heartbeat.add(servicegroup.register(cloud, spec))
        conductor = conductor or conductor_mod.Conductor(cloud)
        cloud.rpc.register(topic, conductor)
    _seed_aggregate_hosts(cloud, fresh_hosts)


# Cinder's notifications that end a volume's creation (stackling/volume/notifications.py).
CREATION_ENDS = ("volume.create.end", "scheduler.create_volume")


def _hear_cinder(cloud: Cloud, first_host: str) -> None:
    """Over a broker, with Cinder's notifications on: hear the ends of volume creations,
    so that a build waiting for its volume polls Cinder's API as soon as the creation
    ended rather than at its interval (a deliberate difference: real Nova only polls;
    doc/architecture.md). One queue per process, named after its first host: a restarted
    process takes its queue back, and other consumers of the topic lose nothing."""
    if not cloud.rpc.notifies("cinder"):
        return
    notifier = cloud.notifier

    def heard(event_type: str, payload: dict) -> None:
        volume_id = payload.get("volume_id")
        if isinstance(volume_id, str):
            if event_type == "volume.create.end":
                notifier.heard_from_broker = True
            notifier.changed(volume_id)

    cloud.rpc.listen("cinder", CREATION_ENDS, heard,
                     pool=f"nova-compute.{first_host}.volume-creations")


def joined_hosts(cloud: Cloud) -> list:
    """Hosts of ``--only nova-compute=HOST`` the topology does not name: a machine joining
    the cloud. Each gets the topology's default sizes, its service row and heartbeat,
    and no aggregate until an admin adds it (``openstack aggregate add host``)."""
    from stackling.topology import ComputeHost

    known = {h.name for h in cloud.topology.compute_hosts}
    return [ComputeHost(name) for name in sorted((cloud.only.compute_hosts or set()) - known)]


def _seed_aggregate_hosts(cloud: Cloud, new_hosts: set[str]) -> None:
    """Put each newly registered host into its topology aggregates (first start only)."""
    from stackling.compute.api import aggregates

    if not new_hosts:
        return
    by_name = {a["name"]: a for a in aggregates.list_all(cloud)}
    for spec in cloud.topology.aggregates:
        agg = by_name.get(spec.name)
        if agg is None:
            continue
        adding = [h for h in spec.hosts if h in new_hosts and h not in agg["hosts"]]
        if adding:
            aggregates.add_hosts(cloud, agg["id"], adding)

