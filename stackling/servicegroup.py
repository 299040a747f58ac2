"""Service registration and heartbeats, the same for every binary and transport.

Each service (``nova-compute`` on ``controller1``, ``cinder-volume`` on ``ctl@lvm``, ...)
has a row in the ``service`` table. One heartbeat thread bumps ``updated_at`` and
``report_count`` every ``report_interval``; a service is up while
``now - (updated_at or created_at) <= service_down_time`` and it is not forced down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sqlalchemy import select, update

from stackling.db.models import Service, utcnow

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


@dataclass
class ServiceSpec:
    project: str               # nova or cinder
    binary: str
    host: str
    topic: str | None = None
    availability_zone: str | None = None


def effective_down_time(report_interval: int, service_down_time: int) -> int:
    """Cinder and Nova raise service_down_time to 2.5 x report_interval when it is too small."""
    if service_down_time <= report_interval:
        return int(2.5 * report_interval)
    return service_down_time


def is_up(row: Service, service_down_time: int, now: dt.datetime | None = None) -> bool:
    if row.forced_down:
        return False
    last = row.updated_at or row.created_at
    now = now or utcnow()
    return abs((now - last).total_seconds()) <= service_down_time


def register(cloud: Cloud, spec: ServiceSpec) -> int:
    """Create or refresh the row for ``spec``; returns its id."""
    return register_many(cloud, [spec])[0][0]


def register_many(cloud: Cloud, specs: list[ServiceSpec]) -> list[tuple[int, bool]]:
    """Create or refresh the rows of ``specs`` in one transaction (a process serving 1,000
    hosts starts in one write, not 1,000); returns (id, existed before) per spec."""
    if not specs:
        return []
    with cloud.db.writer() as s:
        hosts = {spec.host for spec in specs}
        rows = {(r.project, r.binary, r.host): r for r in s.scalars(
            select(Service).where(Service.host.in_(hosts)))}
        now = utcnow()
        found = []
        for spec in specs:
            row = rows.get((spec.project, spec.binary, spec.host))
            found.append(row is not None)
            if row is None:
                row = Service(project=spec.project, host=spec.host, binary=spec.binary)
                s.add(row)
                rows[(spec.project, spec.binary, spec.host)] = row
            row.topic = spec.topic or spec.binary
            if spec.availability_zone is not None:
                row.availability_zone = spec.availability_zone
            row.updated_at = row.last_seen_up = now
        s.flush()
        return [(rows[(sp.project, sp.binary, sp.host)].id, existed)
                for sp, existed in zip(specs, found)]


class Heartbeat:
    """One thread that reports for every service this process runs: one timer and one
    UPDATE per interval (plus one per distinct Cinder zone), however many hosts it
    serves; 1,000 hosts cost what one does, not 1,000 threads."""

    def __init__(self, cloud: Cloud, interval: float) -> None:
        self.cloud = cloud
        self.interval = interval
        self.service_ids: list[int] = []
        self.zones: dict[int, str] = {}
        self.periodic: list[list] = []     # [spacing, next due, task]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, service_id: int, availability_zone: str | None = None) -> None:
        """``availability_zone`` is rewritten at each beat (Cinder does this)."""
        self.service_ids.append(service_id)
        if availability_zone is not None:
            self.zones[service_id] = availability_zone

    def beat(self) -> None:
        if not self.service_ids:
            return
        now = utcnow()
        with self.cloud.db.writer() as s:
            s.execute(update(Service).where(Service.id.in_(self.service_ids))
                      .values(updated_at=now, last_seen_up=now,
                              report_count=Service.report_count + 1))
            by_zone: dict[str, list[int]] = {}
            for sid, zone in self.zones.items():
                by_zone.setdefault(zone, []).append(sid)
            for zone, ids in by_zone.items():
                s.execute(update(Service).where(Service.id.in_(ids))
                          .values(availability_zone=zone))

    def every(self, spacing: float, task: Callable[[], None]) -> None:
        """Run ``task`` from this thread about every ``spacing`` seconds (a service's
        periodic task, e.g. cinder-volume's capacity report), checked at each beat."""
        self.periodic.append([spacing, time.monotonic() + spacing, task])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:
                LOG.exception("heartbeat failed")
            now = time.monotonic()
            for entry in self.periodic:
                spacing, due, task = entry
                if now >= due:
                    entry[1] = now + spacing
                    try:
                        task()
                    except Exception:
                        LOG.exception("periodic task %s failed", task)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
