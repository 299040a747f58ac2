"""Networking (Neutron v2.0): neutron-server's API, the objects that write its tables
(with the IPAM), and the DHCP and L3 agents of the topology."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling import servicegroup
from stackling.network.api.routes import build_app  # noqa: F401

if TYPE_CHECKING:
    from stackling.cloud import Cloud


def start(cloud: Cloud) -> None:
    """Register the topology's DHCP and L3 agents; the heartbeat keeps them alive."""
    from stackling.network.objects import agents

    if not cloud.only.runs("neutron-server"):
        return
    for host, zone, kind in agents.declared(cloud):
        sid = servicegroup.register(cloud, servicegroup.ServiceSpec(
            project="neutron", binary=kind.binary, host=host, topic=kind.topic,
            availability_zone=zone))
        cloud.heartbeat.add(sid, zone)
