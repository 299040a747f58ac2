"""The composition root: configuration, database, the services this process runs, and their seams.

``Cloud(settings)`` only builds; ``setup()`` migrates and bootstraps; ``start()`` starts
the services (registration, heartbeats, workers); ``serve()`` binds the API ports.
Tests use ``setup()`` + ``start()`` and call ``cloud.apps[...]`` in-process.

Services reach each other only through four seams the Cloud owns, each in-process by
default and networked by configuration (``doc/architecture.md``): ``rpc`` (``[DEFAULT]
transport_url``), ``sender(project)`` and ``image_data`` (``[keystone_authtoken]`` of
the caller's file: catalog + HTTP), ``validator(api)`` (``[keystone_authtoken]`` of the
API's file: ``GET /v3/auth/tokens``).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from stackling import conf, recovery, rpc, seams, servicegroup
from stackling.conf.services import SERVICE_USER_GROUPS, authtoken_configured
from stackling.db.api import Database
from stackling.notify import ChangeNotifier
from stackling.settings import Settings
from stackling.topology import Topology
from stackling.web.app import ApiApp

LOG = logging.getLogger(__name__)

# Each area module offers build_app(cloud) and start(cloud) (and may offer setup(cloud)).
AREAS = ("identity", "compute", "volume", "image", "network")
# The config file whose [keystone_authtoken] an API validates tokens with.
API_FILES = {"compute": "nova", "volume": "cinder", "image": "glance", "network": "neutron"}
# The service whose presence in this process runs an area's setup() (seeding, bootstrap).
SETUP_BY = {"identity": "keystone", "compute": "nova-api", "volume": "cinder-api",
            "image": "glance-api"}


class Cloud:
    def __init__(self, settings: Settings, config: conf.Config | None = None,
                 topology: Topology | None = None) -> None:
        self.settings = settings
        self.config = config or conf.load(settings.config_dir)
        self.topology = topology or Topology.load(settings.topology_file)
        self.only = seams.parse_only(settings.only)
        url = (settings.database_url or self.config.stackling.database.connection
               or settings.sqlite_url())
        # Database, volumes, keys and clouds.yaml live here: the owner's only (0700).
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.data_dir.chmod(0o700)
        dbconf = self.config.stackling.database
        self.db = Database(url, dbconf.max_pool_size, dbconf.max_overflow, dbconf.pool_timeout)
        self.rpc: rpc.Transport = self._transport()
        # In-process wake-ups only: across processes pollers keep their own interval.
        self.notifier = ChangeNotifier()
        interval = min(self.config.nova.report_interval, self.config.cinder.report_interval)
        self.heartbeat = servicegroup.Heartbeat(self, interval)
        self.areas: dict[str, ModuleType] = {
            name: importlib.import_module(f"stackling.{name}") for name in AREAS}
        self.identity = None
        if self.only.runs("keystone"):
            from stackling.identity.core import Identity

            self.identity = Identity(self)
        self.apps: dict[str, ApiApp] = {}
        self.servers: list = []
        self._sessions: dict[str, object] = {}
        self._senders: dict[str, object] = {}
        self._validators: dict[str, object] = {}
        self._image_data: object | None = None

    # -- addresses ---------------------------------------------------------------------

    def public_url(self, service: str) -> str:
        return self.settings.url(service)

    @property
    def region(self) -> str:
        return self.topology.region

    # -- seams -------------------------------------------------------------------------

    def _transport(self):
        """In-process unless nova.conf / cinder.conf name a broker in [DEFAULT] transport_url."""
        urls = {p: getattr(self.config, p).transport_url for p in ("nova", "cinder")}
        if self.only.partial:
            for project, url in urls.items():
                if self.only.runs_any(project) and not url:
                    raise seams.SelectionError(
                        f"{project} services split over processes need [DEFAULT] "
                        f"transport_url in {project}.conf")
        if not any(urls.values()):
            return rpc.InProcessTransport()
        from stackling.seams import messaging

        local = rpc.InProcessTransport()

        def make(project: str):
            if not urls[project]:
                return local
            path = self.settings.config_dir / f"{project}.conf"
            return messaging.OsloTransport(path, urls[project], self.topology.controller)

        return messaging.ProjectTransports(make("nova"), make("cinder"), local)

    def _session(self, project: str):
        if project not in self._sessions:
            from stackling.seams.keystone import service_session

            self._sessions[project] = service_session(getattr(self.config, project))
        return self._sessions[project]

    def service_user(self, project: str):
        """The keystoneauth1 session ``project`` calls another service's admin API with:
        nova.conf ``[neutron]`` (port binding), cinder.conf ``[nova]`` (external events).
        None in one process without it: the bootstrap admin stands in."""
        group = SERVICE_USER_GROUPS[project]
        key = f"{project}:{group}"
        if key not in self._sessions:
            from stackling.seams.keystone import service_session

            conf = getattr(self.config, project)
            if authtoken_configured(conf, group):
                self._sessions[key] = service_session(conf, group)
            elif self.only.partial:
                raise seams.SelectionError(
                    f"{project} services in their own process call {group} as a service "
                    f"user: set [{group}] auth_url, username, password and project_name "
                    f"in {project}.conf")
            else:
                self._sessions[key] = None
        return self._sessions[key]

    def validator(self, api: str):
        """Who checks the tokens an API receives: this process's Keystone, or Keystone over HTTP."""
        found = self._validators.get(api)
        if found is not None:
            return found
        project = API_FILES.get(api)
        if project and authtoken_configured(getattr(self.config, project)):
            from stackling.seams.keystone import RemoteTokens

            found = RemoteTokens(getattr(self.config, project))
        elif self.identity is not None:
            found = self.identity
        else:
            raise seams.SelectionError(
                f"the {api} API without keystone in this process needs "
                f"[keystone_authtoken] in {project}.conf")
        self._validators[api] = found
        return found

    def sender(self, project: str = "nova"):
        """How ``project`` (nova or cinder) sends requests to another service's API."""
        found = self._senders.get(project)
        if found is None:
            from stackling.seams import http

            if authtoken_configured(getattr(self.config, project)):
                found = http.HttpSender(self._session(project), self.region,
                                        retries=_retries(self.config, project))
            elif self.only.partial:
                raise seams.SelectionError(
                    f"{project} services in their own process reach other APIs over HTTP: "
                    f"set [keystone_authtoken] in {project}.conf")
            else:
                found = http.InProcessSender(self)
            self._senders[project] = found
        return found

    @property
    def image_data(self):
        """How cinder-volume reads an image's bytes: Glance's store, or GET .../file."""
        if self._image_data is None:
            from stackling.seams import http

            sender = self.sender("cinder")
            self._image_data = (http.HttpImageData(sender)
                                if isinstance(sender, http.HttpSender)
                                else http.StoreImageData(self.settings.data_dir / "images"))
        return self._image_data

    def _check_seams(self) -> None:
        """Build every seam this process's services use, so a missing option fails now."""
        for api in self.apps:
            self.validator(api)
        if self.only.runs("nova-api") or self.only.runs("nova-compute"):
            self.sender("nova")
        if self.only.runs("cinder-api") or self.only.runs("cinder-volume"):
            self.sender("cinder")

    # -- life cycle --------------------------------------------------------------------

    def setup(self) -> str:
        """Migrate the schema and seed what a fresh cloud needs; returns the migration result."""
        if self.db.is_fresh():
            if self.identity is None:
                # Seeding (flavors, aggregates, bootstrap) belongs to the API process.
                raise seams.SelectionError("the database is empty: start the process that "
                                           "runs keystone and the APIs first")
            # bcrypt runs outside the GIL: hash the bootstrap passwords while the schema
            # is being created.
            self.identity.prehash_bootstrap()
        result = self.db.migrate()
        self.db.make_private()
        for name, area in self.areas.items():
            if hasattr(area, "setup") and self.only.runs(SETUP_BY[name]):
                area.setup(self, fresh=result == "created")
        return result

    def start(self) -> None:
        """Build the apps and start every service this process runs."""
        for name, area in self.areas.items():
            if name in self.only.areas:
                self.apps[name] = area.build_app(self)
        self._check_seams()
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
        if self.servers:
            from stackling.web.server import stop_all

            stop_all(self.servers)
        self.heartbeat.stop()
        for area in self.areas.values():
            if hasattr(area, "stop"):
                area.stop(self)
        self.rpc.stop()
        self.db.dispose()


def _retries(config, project: str) -> dict:
    """How often ``project`` sends a call that got no answer again, by target API, with
    the services' own options: Nova's cinderclient and neutronclient (keystoneauth's
    ``connect_retries``), Nova's and Cinder's Glance clients (their own 1 s loop)."""
    from stackling.seams.http import Retries

    if project == "nova":
        nova = config.nova
        return {"volume": Retries(nova.cinder.http_retries),
                "network": Retries(nova.neutron.http_retries),
                "image": Retries(nova.glance.num_retries, first_wait=1.0, factor=1.0)}
    if project == "cinder":
        return {"image": Retries(config.cinder.glance_num_retries, first_wait=1.0,
                                 factor=1.0)}
    return {}
