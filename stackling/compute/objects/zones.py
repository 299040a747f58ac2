"""Nova availability zones: derived from services and aggregates.

A compute host's zone is the ``availability_zone`` metadata of its aggregates (distinct
values joined with ``,``), else ``default_availability_zone``; every other service is in
``internal_service_availability_zone``. Zones exist only through services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from stackling import servicegroup
from stackling.db.inlist import InList
from stackling.db.models import AggregateHost, AggregateMetadata, Service, utcnow

API_SERVICES = ("nova-osapi_compute", "nova-metadata")


@dataclass
class ServiceZone:
    """A nova service row with its computed zone and liveness."""

    id: int
    uuid: str
    host: str
    binary: str
    zone: str
    disabled: bool
    disabled_reason: str | None
    forced_down: bool
    up: bool
    updated_at: object


def host_zone_map(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(host, zone metadata) pairs → host's zone string (sorted, ``,``-joined)."""
    zones: dict[str, set[str]] = {}
    for host, zone in pairs:
        zones.setdefault(host, set()).add(zone)
    return {host: ",".join(sorted(z)) for host, z in zones.items()}


def service_zone(binary: str, host: str, host_zones: dict[str, str], default_zone: str,
                 internal_zone: str) -> str:
    if binary != "nova-compute":
        return internal_zone
    return host_zones.get(host, default_zone)


def split_zones(services: Iterable[ServiceZone]) -> tuple[list[str], list[str]]:
    """(available, not available) zone names, each sorted: available = an enabled service."""
    services = list(services)
    available = {s.zone for s in services if not s.disabled}
    unavailable = {s.zone for s in services if s.disabled and s.zone not in available}
    return sorted(available), sorted(unavailable)


_HOSTS, _META = AggregateHost.__table__, AggregateMetadata.__table__
# Core, built once: read on every build and server view.
_ZONED_HOSTS = (select(_HOSTS.c.host, _META.c.value)
                .join(_META, _META.c.aggregate_id == _HOSTS.c.aggregate_id)
                .where(_META.c.key == "availability_zone"))
_ZONES_OF = _ZONED_HOSTS.where(_HOSTS.c.host.in_(bindparam("hosts", expanding=True)))


def host_zones(s: Session, hosts: Iterable[str] | None = None) -> dict[str, str]:
    """Zone of every host that sits in a zoned aggregate (others get the default)."""
    if hosts is None:
        return host_zone_map(s.execute(_ZONED_HOSTS).all())
    return host_zone_map(s.execute(_ZONES_OF, {"hosts": list(hosts)}).all())


def zone_of_host(s: Session, conf, host: str) -> str:
    return host_zones(s, [host]).get(host, conf.default_availability_zone)


_SERVICES = Service.__table__
_COMPUTES_ON = InList("host", lambda marks: (
    select(_SERVICES.c.host, _SERVICES.c.disabled, _SERVICES.c.forced_down,
           _SERVICES.c.updated_at, _SERVICES.c.created_at)
    .where(_SERVICES.c.project == "nova", _SERVICES.c.binary == "nova-compute",
           _SERVICES.c.host.in_(marks))
    .order_by(_SERVICES.c.id)))


def computes_on(s: Session, hosts: Iterable[str]) -> dict:
    """The nova-compute service row of each of these hosts, by host (read-only rows with
    what ``servicegroup.is_up`` and a server's ``host_status`` read)."""
    hosts = list(hosts)
    if not hosts:
        return {}
    return {r.host: r for r in s.execute(*_COMPUTES_ON(hosts))}


def down_time(conf) -> int:
    return servicegroup.effective_down_time(conf.report_interval, conf.service_down_time)


def nova_services(s: Session, conf, host: str | None = None,
                  binary: str | None = None) -> list[ServiceZone]:
    q = select(Service).where(Service.project == "nova").order_by(Service.id)
    if host is not None:
        q = q.where(Service.host == host)
    if binary is not None:
        q = q.where(Service.binary == binary)
    rows = s.scalars(q).all()
    zones = host_zones(s)
    now = utcnow()
    limit = down_time(conf)
    return [ServiceZone(
        id=r.id, uuid=r.uuid, host=r.host, binary=r.binary,
        zone=service_zone(r.binary, r.host, zones, conf.default_availability_zone,
                          conf.internal_service_availability_zone),
        disabled=r.disabled, disabled_reason=r.disabled_reason, forced_down=r.forced_down,
        up=servicegroup.is_up(r, limit, now), updated_at=r.updated_at or r.created_at)
        for r in rows]


def available_zones(s: Session, conf) -> list[str]:
    """Zones with at least one enabled service (``internal`` included), as API.create uses."""
    return split_zones(nova_services(s, conf))[0]


def aggregate_zones(s: Session) -> set[str]:
    return set(s.scalars(select(AggregateMetadata.value)
                         .where(AggregateMetadata.key == "availability_zone")))
