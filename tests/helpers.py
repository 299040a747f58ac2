"""Test helpers: an in-process API client and cloud factory, and a live-cloud launcher."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
import webob

from stackling.cloud import Cloud
from stackling.compute.consoles import LISTENING as CONSOLE_LISTENING
from stackling.compute.consoles import PORTS as CONSOLE_PORTS
from stackling.settings import DEFAULT_PORTS, Settings

PASSWORD = "secret"


def two_per_zone(hosts: tuple[str, ...] = ("c1a", "c1b", "c2a", "c2b", "c3"),
                 vcpus: int = 16, memory_mb: int = 32768, local_gb: int = 500,
                 capacity_gb: int | None = None, region: str | None = None) -> str:
    """Issue 13's topology: two compute hosts in each of ag1 and ag2 (``hosts[0:2]``,
    ``hosts[2:4]``) and the controller ``hosts[4]`` in nova, with the volume backend."""
    size = f"vcpus: {vcpus}, memory_mb: {memory_mb}, local_gb: {local_gb}"
    capacity = f", capacity_gb: {capacity_gb}" if capacity_gb is not None else ""
    return "".join((
        f"region: {region}\n" if region else "",
        f"controller: {hosts[4]}\ncompute_hosts:\n",
        "".join(f"  - {{name: {h}, {size}}}\n" for h in hosts),
        "aggregates:\n",
        f"  - {{name: ag1, availability_zone: ag1, hosts: [{hosts[0]}, {hosts[1]}]}}\n",
        f"  - {{name: ag2, availability_zone: ag2, hosts: [{hosts[2]}, {hosts[3]}]}}\n",
        "volume_backends:\n",
        f"  - {{host: {hosts[4]}, backend: file, availability_zone: nova{capacity}}}\n"))


TWO_PER_ZONE = two_per_zone()

# CI sets CI=true: there a missing database server or command is a failure, not a skip.
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip with the reason outside CI; fail with it in CI (nothing skips silently there)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required in CI)", pytrace=False)
    pytest.skip(reason)


def write_config(config_dir: Path, nova: str = "", cinder: str = "", stackling: str = "",
                 fast_hash: bool = True, glance: str | None = None) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nova.conf").write_text(nova)
    (config_dir / "cinder.conf").write_text(cinder)
    if glance is not None:
        (config_dir / "glance-api.conf").write_text(glance)
    extra = "\n[identity]\npassword_hash_rounds = 4\n" if fast_hash and \
        "password_hash_rounds" not in stackling else ""
    (config_dir / "stackling.conf").write_text(stackling + extra)


def make_cloud(base: Path, nova: str = "", cinder: str = "", stackling: str = "",
               topology: str | None = None, database_url: str | None = None,
               glance: str | None = None) -> Cloud:
    """A started in-process cloud (no ports bound): call its apps through ApiClient."""
    config_dir = base / "etc"
    write_config(config_dir, nova, cinder, stackling, glance=glance)
    topology_file = None
    if topology is not None:
        topology_file = base / "topology.yaml"
        topology_file.write_text(topology)
    settings = Settings(data_dir=base / "data", config_dir=config_dir,
                        topology_file=topology_file, database_url=database_url)
    cloud = Cloud(settings)
    cloud.setup()
    cloud.start()
    return cloud


class Response:
    """What a test needs of an answer: status, headers, parsed JSON body."""

    def __init__(self, resp: webob.Response) -> None:
        self.raw = resp
        self.status = resp.status_int
        self.headers = resp.headers
        self.body = resp.body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class ApiClient:
    """Calls a cloud's WSGI apps in-process, logged in as one user."""

    def __init__(self, cloud: Cloud, user: str = "admin", project: str = "admin",
                 password: str = PASSWORD) -> None:
        self.cloud = cloud
        self.user, self.project, self.password = user, project, password
        self._token: str | None = None
        self.project_id: str | None = None
        self.user_id: str | None = None

    def login(self) -> str:
        resp = self.request("identity", "POST", "/v3/auth/tokens", {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": {"name": "Default"}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"name": "Default"}}}}},
            token=None)
        assert resp.status == 201, resp
        body = resp.json["token"]
        self.project_id = body["project"]["id"]
        self.user_id = body["user"]["id"]
        return resp.headers["X-Subject-Token"]

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.login()
        return self._token

    def request(self, service: str, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, token: str | None | bool = True,
                raw: bytes | None = None) -> Response:
        req = webob.Request.blank(path, method=method)
        req.headers["Accept"] = "application/json"
        if body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = "application/json"
        if raw is not None:
            req.body = raw
        if token is True:
            token = self.token
        if token:
            req.headers["X-Auth-Token"] = token
        for k, v in (headers or {}).items():
            req.headers[k] = v
        return Response(req.get_response(self.cloud.apps[service]))

    def get(self, service: str, path: str, **kw: Any) -> Response:
        return self.request(service, "GET", path, **kw)

    def post(self, service: str, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request(service, "POST", path, body, **kw)

    def put(self, service: str, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request(service, "PUT", path, body, **kw)

    def patch(self, service: str, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request(service, "PATCH", path, body, **kw)

    def delete(self, service: str, path: str, **kw: Any) -> Response:
        return self.request(service, "DELETE", path, **kw)

    def as_user(self, user: str, project: str, password: str = PASSWORD) -> ApiClient:
        return ApiClient(self.cloud, user, project, password)


# -- live clouds -----------------------------------------------------------------------


# The APIs' ports and the console endpoints' (nova-novncproxy, the fake guests' VNC/SPICE).
ALL_PORTS = (*DEFAULT_PORTS.values(), *(CONSOLE_PORTS[name] for name in CONSOLE_LISTENING))
# Linux hands out ephemeral ports from 32768 up (ip_local_port_range): a cloud listening
# there can find its port taken by any outgoing connection, e.g. when it restarts.
EPHEMERAL_START = 32768


def _ports_free(offset: int) -> bool:
    for port in ALL_PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + offset))
            except OSError:
                return False
    return True


def free_port_offset(start: int = 1000) -> int:
    """A port offset whose ports are all free (tests run clouds side by side), all below
    the ephemeral range; each process starts looking at its own place in it."""
    offsets = list(range(start, EPHEMERAL_START - max(ALL_PORTS), 100)) or [start]
    first = (os.getpid() * 7) % len(offsets)
    for offset in offsets[first:] + offsets[:first]:
        if _ports_free(offset):
            return offset
    raise RuntimeError("no free port offset")


class LiveCloud:
    """A cloud started with the real `stackling start -d`, for the CLI and SDK tests."""

    def __init__(self, base: Path, database_url: str | None = None, nova: str = "",
                 cinder: str = "", stackling: str = "", topology: str | None = None) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.config_dir = base / "etc"
        write_config(self.config_dir, nova, cinder, stackling, fast_hash=False)
        self.topology = None
        if topology is not None:
            self.topology = base / "topology.yaml"
            self.topology.write_text(topology)
        self.offset = free_port_offset()
        self.database_url = database_url

    @property
    def args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir), "--config-dir", str(self.config_dir),
                "--port-offset", str(self.offset)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.topology:
            args += ["--topology", str(self.topology)]
        return args

    def stackling(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "stackling", *cmd, *self.args],
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        r = self.stackling("start", "-d")
        assert r.returncode == 0, r.stderr
        w = self.stackling("wait", "--timeout", "30")
        if w.returncode != 0:
            log = self.log()
            self.stop()   # no fixture teardown follows a failed start: stop it here
            raise AssertionError((w.stderr, log))

    def stop(self) -> None:
        self.stackling("stop")

    def log(self) -> str:
        path = self.data_dir / "logs" / "stackling.log"
        return path.read_text() if path.exists() else ""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{DEFAULT_PORTS[service] + self.offset}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.data_dir / "clouds.yaml")
        env["OS_CLOUD"] = "stackling"
        return env

    def openstack(self, *args: str, cloud: str = "stackling", timeout: float = 120
                  ) -> subprocess.CompletedProcess:
        """Run the real `openstack` CLI against this cloud."""
        env = self.env
        env["OS_CLOUD"] = cloud
        return subprocess.run(["openstack", *args], capture_output=True, text=True, env=env,
                              timeout=timeout)

    def openstack_json(self, *args: str, cloud: str = "stackling") -> Any:
        r = self.openstack(*args, "-f", "json", cloud=cloud)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def connect(self, cloud: str = "stackling"):
        """An openstacksdk Connection to this cloud."""
        import openstack

        config = openstack.config.OpenStackConfig(
            config_files=[str(self.data_dir / "clouds.yaml")])
        return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll until predicate() returns a truthy value; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def settle(cloud: Cloud, timeout: float = 30.0) -> None:
    """Drain RPC casts until none is pending (casts that cast again included)."""
    deadline = time.monotonic() + timeout
    while True:
        cloud.rpc.drain(timeout=timeout)
        with cloud.rpc._lock:
            if not cloud.rpc._pending:
                return
        if time.monotonic() > deadline:
            raise AssertionError("RPC casts still pending")
