"""The seams between services (RPC, service client, tokens, image data) and ``--only``."""

from __future__ import annotations

from dataclasses import dataclass

# The services of `stackling start --only`, as the real binaries are named.
SERVICES = ("keystone", "nova-api", "nova-scheduler", "nova-conductor", "nova-compute",
            "nova-novncproxy", "cinder-api", "cinder-scheduler", "cinder-volume",
            "glance-api", "neutron-server")
# Services that need only the database: no RPC, no service row (the console proxy).
DATABASE_ONLY = ("nova-novncproxy",)
# The API each HTTP-serving service answers (the area that builds its app).
API_AREAS = {"keystone": "identity", "nova-api": "compute", "cinder-api": "volume",
             "glance-api": "image", "neutron-server": "network"}


class SelectionError(ValueError):
    """An --only value that names no service, or a host where none is taken."""


@dataclass(frozen=True)
class Selection:
    """Which services this process runs; hosts of nova-compute / cinder-volume when given."""

    names: frozenset[str] = frozenset(SERVICES)
    compute_hosts: frozenset[str] | None = None      # None: every host of the topology
    volume_backends: frozenset[str] | None = None    # None: every backend (host@backend)

    @property
    def partial(self) -> bool:
        return self.names != frozenset(SERVICES) or self.compute_hosts is not None \
            or self.volume_backends is not None

    def runs(self, service: str) -> bool:
        return service in self.names

    def runs_host(self, host: str) -> bool:
        return self.runs("nova-compute") and (self.compute_hosts is None
                                              or host in self.compute_hosts)

    def runs_backend(self, name: str) -> bool:
        return self.runs("cinder-volume") and (self.volume_backends is None
                                               or name in self.volume_backends)

    def runs_any(self, project: str) -> bool:
        """A service of ``project`` that talks over RPC runs here."""
        return any(n.startswith(project + "-") and n not in DATABASE_ONLY for n in self.names)

    @property
    def areas(self) -> set[str]:
        return {API_AREAS[n] for n in self.names if n in API_AREAS}


def _hosts(text: str) -> list[str]:
    """One host, or a range of them (``controller[1-500]``: many hosts in one process)."""
    from stackling import hostrange

    try:
        return hostrange.expand(text)
    except hostrange.HostRangeError as exc:
        raise SelectionError(str(exc)) from None


def parse_only(text: str | None) -> Selection:
    """``keystone,nova-compute=controller[1-3],cinder-volume=controller2@file`` → Selection."""
    if not text:
        return Selection()
    names: set[str] = set()
    hosts: dict[str, set[str]] = {"nova-compute": set(), "cinder-volume": set()}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, host = item.partition("=")
        if name not in SERVICES:
            raise SelectionError(f"unknown service {name!r} (one of {', '.join(SERVICES)})")
        if host and name not in hosts:
            raise SelectionError(f"{name} takes no host ({item!r})")
        if name == "cinder-volume" and host and "@" not in host:
            raise SelectionError(f"cinder-volume takes HOST@BACKEND ({item!r})")
        names.add(name)
        if host:
            hosts[name].update(_hosts(host))
    if not names:
        raise SelectionError("--only names no service")
    return Selection(frozenset(names), frozenset(hosts["nova-compute"]) or None,
                     frozenset(hosts["cinder-volume"]) or None)
