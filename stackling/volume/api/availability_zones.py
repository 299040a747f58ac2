"""GET /os-availability-zone: Cinder's zones, uncached, without a ``hosts`` key."""

from __future__ import annotations

from stackling.volume.objects import backends
from stackling.web.app import Request, json_response


def list_zones(req: Request):
    zones = backends.list_availability_zones(req.app.cloud)
    return json_response({"availabilityZoneInfo": [
        {"zoneName": z["name"], "zoneState": {"available": z["available"]}} for z in zones]})
