"""The cloud: configuration, database, RPC, the four APIs and their workers, in one object.

``Cloud(settings)`` only builds; ``setup()`` migrates and bootstraps; ``start()`` starts
the services (registration, heartbeats, workers); ``serve()`` binds the four ports.
Tests use ``setup()`` + ``start()`` and call ``cloud.apps[...]`` in-process.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from stackling import conf, recovery, rpc, servicegroup
from stackling.db.api import Database
from stackling.notify import ChangeNotifier
from stackling.settings import Settings
from stackling.topology import Topology
from stackling.web.app import ApiApp

LOG = logging.getLogger(__name__)

# Each area module offers build_app(cloud) and start(cloud) (and may offer setup(cloud)).
AREAS = ("identity", "compute", "volume", "image")


class Cloud:
    def __init__(self, settings: Settings, config: conf.Config | None = None,
                 topology: Topology | None = None) -> None:
        self.settings = settings
        self.config = config or conf.load(settings.config_dir)
        self.topology = topology or Topology.load(settings.topology_file)
        url = (settings.database_url or self.config.stackling.database.connection
               or settings.sqlite_url())
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(url)
        self.rpc = rpc.InProcessTransport()
        self.notifier = ChangeNotifier()
        interval = min(self.config.nova.report_interval, self.config.cinder.report_interval)
        self.heartbeat = servicegroup.Heartbeat(self, interval)
        self.areas: dict[str, ModuleType] = {
            name: importlib.import_module(f"stackling.{name}") for name in AREAS}
        from stackling.identity.core import Identity

        self.identity = Identity(self)
        self.apps: dict[str, ApiApp] = {}
        self.servers: list = []

    # -- addresses ---------------------------------------------------------------------

    def public_url(self, service: str) -> str:
        return self.settings.url(service)

    @property
    def region(self) -> str:
        return self.topology.region

    # -- life cycle --------------------------------------------------------------------

    def setup(self) -> str:
        """Migrate the schema and seed what a fresh cloud needs; returns the migration result."""
        if self.db.is_fresh():
            # bcrypt runs outside the GIL: hash the bootstrap passwords while the schema
            # is being created.
            self.identity.prehash_bootstrap()
        result = self.db.migrate()
        for area in self.areas.values():
            if hasattr(area, "setup"):
                area.setup(self, fresh=result == "created")
        return result

    def start(self) -> None:
        """Build the apps and start every service this process runs."""
        for name, area in self.areas.items():
            self.apps[name] = area.build_app(self)
        for area in self.areas.values():
            if hasattr(area, "start"):
                area.start(self)
        # Repair what a hard stop left half-way, before the APIs serve (init_host).
        recovery.recover(self)
        self.heartbeat.start()

    def serve(self) -> None:
        from stackling.web.server import serve_all

        self.servers = serve_all(self)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.heartbeat.stop()
        for area in self.areas.values():
            if hasattr(area, "stop"):
                area.stop(self)
        self.rpc.stop()
        self.db.dispose()
