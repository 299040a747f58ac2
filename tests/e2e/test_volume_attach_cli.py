"""Attach and detach through the real cinderclient and openstack CLIs on a started cloud."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
SERVER = "3b8b6631-1cf7-4fd7-9afb-c01e541a3450"


def cinder(cloud, *args: str) -> subprocess.CompletedProcess:
    auth = yaml.safe_load((cloud.data_dir / "clouds.yaml").read_text())[
        "clouds"]["stackling"]["auth"]
    env = cloud.env
    env.pop("OS_CLOUD")
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default")
    return subprocess.run(["cinder", "--os-volume-api-version", "3.54", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def table(stdout: str) -> dict[str, str]:
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in stdout.splitlines() if line.startswith("|")][1:]
    return {r[0]: r[1] for r in rows if len(r) >= 2}


def test_cinderclient_attachment_lifecycle_and_volume_show(live_cloud):
    vol = live_cloud.openstack_json("volume", "create", "--size", "1", "attach-me")
    wait_for(lambda: live_cloud.openstack_json("volume", "show", "attach-me")["status"]
             == "available", timeout=30, interval=0.1)
    r = cinder(live_cloud, "attachment-create", vol["id"], SERVER)
    assert r.returncode == 0, r.stderr
    att = table(r.stdout)
    assert att["status"] == "reserved" and att["instance"] == SERVER
    assert live_cloud.openstack_json("volume", "show", "attach-me")["status"] == "reserved"
    # deleting the volume now is refused with Cinder's text
    d = live_cloud.openstack("volume", "delete", "attach-me")
    assert d.returncode != 0 and "Volume status must be available or error" in d.stderr
    # connect (update with a connector) and complete
    r = cinder(live_cloud, "attachment-update", "--host", "controller3", "--mountpoint",
               "/dev/vdb", att["id"])
    assert r.returncode == 0, r.stderr
    assert live_cloud.openstack_json("volume", "show", "attach-me")["status"] == "attaching"
    r = cinder(live_cloud, "attachment-complete", att["id"])
    assert r.returncode == 0, r.stderr
    shown = live_cloud.openstack_json("volume", "show", "attach-me")
    assert shown["status"] == "in-use"
    [a] = shown["attachments"]
    assert a["server_id"] == SERVER and a["attachment_id"] == att["id"]
    assert a["device"] == "/dev/vdb" and a["host_name"] == "controller3"
    r = cinder(live_cloud, "attachment-list", "--volume-id", vol["id"])
    assert r.returncode == 0 and att["id"] in r.stdout and "attached" in r.stdout
    r = cinder(live_cloud, "attachment-delete", att["id"])
    assert r.returncode == 0, r.stderr
    assert live_cloud.openstack_json("volume", "show", "attach-me")["status"] == "available"
    assert live_cloud.openstack("volume", "delete", "attach-me").returncode == 0


def test_cinderclient_second_server_is_refused(live_cloud):
    vol = live_cloud.openstack_json("volume", "create", "--size", "1", "single")
    wait_for(lambda: live_cloud.openstack_json("volume", "show", "single")["status"]
             == "available", timeout=30, interval=0.1)
    assert cinder(live_cloud, "attachment-create", vol["id"], SERVER).returncode == 0
    r = cinder(live_cloud, "attachment-create", vol["id"],
               "9d1b4e6c-7c56-4f4a-a31c-2f1b7e0c8a11")
    assert r.returncode != 0
    assert (f"Invalid volume: Volume {vol['id']} status must be available or downloading "
            "to reserve, but the current status is reserved. (HTTP 400)") in r.stderr
