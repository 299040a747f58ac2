"""`stackling wait/status/stop/explain` find a cloud from its data dir alone, and stop fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import LiveCloud, _ports_free


def _cli(*args: str, env: dict | None = None, timeout: float = 60):
    return subprocess.run([sys.executable, "-m", "stackling", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})},
                          check=False)


@pytest.fixture
def two_clouds(tmp_path):
    a, b = LiveCloud(tmp_path / "a"), LiveCloud(tmp_path / "b")
    a.start()
    try:
        b.offset = a.offset + 100
        while not _ports_free(b.offset):
            b.offset += 100
        b.start()
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def test_commands_find_the_cloud_of_a_data_dir(two_clouds):
    a, b = two_clouds
    for cloud in (a, b):
        only = ["--data-dir", str(cloud.data_dir)]
        assert _cli("wait", "-t", "10", *only).returncode == 0
        status = _cli("status", "--format", "json", *only)
        assert status.returncode == 0, status.stdout
        body = json.loads(status.stdout)
        assert body["ready"] and body["running"]
        assert body["apis"]["compute"]["url"] == cloud.url("compute")
        assert body["apis"]["identity"]["status"] == 300  # Keystone's version list
        # explain logs in with this cloud's config dir and asks this cloud's identity port:
        # the answer is Nova's own 404 for a server that does not exist.
        explained = _cli("explain", "server", "no-such-server", *only)
        assert explained.returncode == 1
        assert "cannot explain server no-such-server" in explained.stderr, explained.stderr


def test_a_stopped_cloud_is_not_ready_while_another_holds_the_ports(two_clouds):
    a, b = two_clouds
    t0 = time.monotonic()
    stopped = _cli("stop", "--data-dir", str(a.data_dir))
    took = time.monotonic() - t0
    assert stopped.stdout.strip() == "stackling stopped"
    assert took < 2.0, f"stop took {took:.2f}s"
    # The ports a bare command would probe (environment offset) belong to the other cloud.
    env = {"STACKLING_PORT_OFFSET": str(b.offset)}
    waited = _cli("wait", "-t", "1", "--data-dir", str(a.data_dir), env=env)
    assert waited.returncode == 1
    assert "no cloud was started" in waited.stderr
    status = _cli("status", "--format", "json", "--data-dir", str(a.data_dir), env=env)
    assert status.returncode == 3
    assert json.loads(status.stdout)["running"] is False
    assert _cli("wait", "-t", "10", "--data-dir", str(b.data_dir), env=env).returncode == 0


def test_wait_reports_a_start_that_died(tmp_path):
    cloud = LiveCloud(tmp_path)
    blocker = LiveCloud(tmp_path / "blocker")
    blocker.offset = cloud.offset
    blocker.start()
    try:
        # Same ports as a running cloud: the second start cannot listen and exits.
        assert cloud.stackling("start", "-d").returncode == 0
        waited = _cli("wait", "-t", "30", "--data-dir", str(cloud.data_dir))
        assert waited.returncode == 1
        assert "stackling exited" in waited.stderr
    finally:
        cloud.stop()  # a no-op when it exited, as it must
        blocker.stop()


def test_stop_is_quick_after_a_volume_was_created(tmp_path):
    import urllib.request

    from stackling.cli import admin_token
    from stackling.settings import Settings

    cloud = LiveCloud(tmp_path)
    cloud.start()
    try:
        settings = Settings(data_dir=cloud.data_dir, config_dir=cloud.config_dir,
                            port_offset=cloud.offset)
        token = admin_token(settings)
        req = urllib.request.Request(
            f"{cloud.url('identity')}/v3/auth/tokens", headers={
                "X-Auth-Token": token, "X-Subject-Token": token})
        with urllib.request.urlopen(req, timeout=30) as resp:
            project = json.loads(resp.read())["token"]["project"]["id"]
        # The first volume loads taskflow (in an API worker thread); that must not keep
        # the web server from stopping.
        req = urllib.request.Request(
            f"{cloud.url('volume')}/v3/{project}/volumes", method="POST",
            data=json.dumps({"volume": {"size": 1}}).encode(),
            headers={"X-Auth-Token": token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 202
    finally:
        t0 = time.monotonic()
        stopped = _cli("stop", "--timeout", "10", "--data-dir", str(cloud.data_dir))
        took = time.monotonic() - t0
    assert stopped.stdout.strip() == "stackling stopped", stopped.stdout
    assert took < 2.0, f"stop took {took:.2f}s"


def _login(cloud: LiveCloud, user: str, password: str) -> int:
    import urllib.error
    import urllib.request

    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}})
    req = urllib.request.Request(f"{cloud.url('identity')}/v3/auth/tokens", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _hashes(cloud: LiveCloud) -> dict[str, str]:
    import sqlite3

    conn = sqlite3.connect(cloud.data_dir / "stackling.db")
    try:
        return dict(conn.execute("SELECT name, password_hash FROM identity_user"))
    finally:
        conn.close()


def test_default_password_hashes_are_reused_and_others_never_cached(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("STACKLING_CACHE_DIR", str(cache))
    clouds = {"first": LiveCloud(tmp_path / "first"), "second": LiveCloud(tmp_path / "second"),
              "custom": LiveCloud(tmp_path / "custom",
                                  stackling="[bootstrap]\nadmin_password = s3cr3t\n")}
    hashes = {}
    for name, cloud in clouds.items():
        cloud.start()
        try:
            admin_password = "s3cr3t" if name == "custom" else "secret"
            assert _login(cloud, "admin", admin_password) == 201
            assert _login(cloud, "demo", "secret") == 201
            if name == "custom":
                assert _login(cloud, "admin", "secret") == 401
            hashes[name] = _hashes(cloud)
        finally:
            cloud.stop()
        assert hashes[name]["admin"] != hashes[name]["demo"]  # each user its own salt
        assert all(h.startswith("$2b$12$") for h in hashes[name].values())
    # The second fresh cloud reused the first one's hashes of the published default.
    assert hashes["second"] == hashes["first"]
    cached = (cache / "default-password-hashes.json").read_text()
    assert sorted(json.loads(cached).values()) == sorted(hashes["first"].values())
    # A password of one's own is hashed afresh and never cached.
    assert hashes["custom"]["admin"] not in cached
    assert hashes["custom"]["demo"] == hashes["first"]["demo"]
