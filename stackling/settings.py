"""Where a cloud lives and listens: the options every ``stackling`` command shares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

# The real services' default ports; --port-offset is added to each.
DEFAULT_PORTS = {"identity": 5000, "compute": 8774, "volume": 8776, "image": 9292}


def default_data_dir() -> Path:
    return Path(os.environ.get("STACKLING_DATA_DIR")
                or platformdirs.user_data_dir("stackling", appauthor=False))


@dataclass
class Settings:
    data_dir: Path
    config_dir: Path | None = None
    topology_file: Path | None = None
    host: str = "127.0.0.1"
    port_offset: int = 0
    database_url: str | None = None
    only: str | None = None        # --only: the services this process runs (all if None)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if self.config_dir is None:
            self.config_dir = self.data_dir / "etc"
        self.config_dir = Path(self.config_dir).expanduser().resolve()
        if self.topology_file is not None:
            self.topology_file = Path(self.topology_file).expanduser().resolve()

    def port(self, service: str) -> int:
        return DEFAULT_PORTS[service] + self.port_offset

    def url(self, service: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port(service)}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "stackling.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "stackling.log"

    @property
    def console_file(self) -> Path:
        """stdout/stderr of a detached cloud: what did not go through logging."""
        return self.data_dir / "logs" / "console.log"

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    @property
    def sqlite_file(self) -> Path:
        return self.data_dir / "stackling.db"

    def sqlite_url(self) -> str:
        return f"sqlite:///{self.sqlite_file}"
