"""Nova availability zones: derived from services and aggregates (reference 3.2, 3.3).

A compute host's zone is the ``availability_zone`` metadata of its aggregates (distinct
values joined with ``,``), else ``default_availability_zone``; every other service is in
``internal_service_availability_zone``. Zones exist only through services.
"""

from __future__ import annotations

from collections.abc import Iterable

from stackling.compute.api import common
from stackling.compute.objects import zones
from stackling.web.app import Request, json_response

# -- pure derivation -------------------------------------------------------------------



def index_view(services: Iterable[zones.ServiceZone], internal_zone: str) -> list[dict]:
    available, unavailable = zones.split_zones(services)
    return ([{"zoneName": z, "zoneState": {"available": True}, "hosts": None}
             for z in available if z != internal_zone]
            + [{"zoneName": z, "zoneState": {"available": False}, "hosts": None}
               for z in unavailable if z != internal_zone])


def detail_view(services: Iterable[zones.ServiceZone]) -> list[dict]:
    services = [s for s in services if s.binary not in zones.API_SERVICES]
    available, unavailable = zones.split_zones(services)
    hosts: dict[str, dict[str, dict]] = {}
    for s in services:
        if s.disabled:
            continue
        entry = hosts.setdefault(s.zone, {}).setdefault(s.host, {})
        entry[s.binary] = {"available": s.up, "active": not s.disabled,
                           "updated_at": common.isotime(s.updated_at)}
    return ([{"zoneName": z, "zoneState": {"available": True}, "hosts": hosts.get(z, {})}
             for z in available]
            + [{"zoneName": z, "zoneState": {"available": False}, "hosts": None}
               for z in unavailable])


# -- reading the database --------------------------------------------------------------



# -- handlers --------------------------------------------------------------------------


def list_zones(req: Request):
    """200: zones without hosts, internal hidden; available first."""
    common.authorize(req, "os_compute_api:os-availability-zone:list")
    conf = common.conf(req)
    with req.app.cloud.db.reader() as s:
        services = zones.nova_services(s, conf)
    return json_response({"availabilityZoneInfo": index_view(
        services, conf.internal_service_availability_zone)})


def list_zones_detail(req: Request):
    """200: every zone (internal too) with hosts → services → available/active/updated_at."""
    common.authorize(req, "os_compute_api:os-availability-zone:detail")
    conf = common.conf(req)
    with req.app.cloud.db.reader() as s:
        services = zones.nova_services(s, conf)
    return json_response({"availabilityZoneInfo": detail_view(services)})
