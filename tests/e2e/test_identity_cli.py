"""The real `openstack` CLI and openstacksdk log in to a cloud started with `stackling start -d`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.helpers import LiveCloud

pytestmark = pytest.mark.e2e


def test_token_issue(live_cloud):
    token = live_cloud.openstack_json("token", "issue")
    assert token["id"].startswith("gAAAAA")
    assert token["project_id"] and token["user_id"]


def test_catalog_list_shows_every_service(live_cloud):
    catalog = live_cloud.openstack_json("catalog", "list")
    types = {entry["Type"] for entry in catalog}
    assert types == {"identity", "compute", "image", "block-storage", "volumev3", "network"}
    compute = next(e for e in catalog if e["Type"] == "compute")
    assert f"{live_cloud.url('compute')}/v2.1" in json.dumps(compute["Endpoints"])


def test_project_and_user_list(live_cloud):
    projects = {p["Name"] for p in live_cloud.openstack_json("project", "list")}
    assert {"admin", "demo", "service"} <= projects
    users = {u["Name"] for u in live_cloud.openstack_json("user", "list")}
    assert {"admin", "demo"} <= users


def test_versions_show(live_cloud):
    versions = live_cloud.openstack_json("versions", "show")
    by_type = {}
    for v in versions:
        by_type.setdefault(v["Service Type"], []).append(v)
    assert by_type["identity"][0]["Version"] == "3.14"
    # Nova lists the deprecated v2.0 first, then v2.1, the current one.
    assert [v["Status"] for v in by_type["compute"]] == ["DEPRECATED", "CURRENT"]
    compute = by_type["compute"][1]
    assert compute["Version"] == "2.1" and compute["Min Microversion"] == "2.1"
    assert compute["Max Microversion"] == "2.101"
    assert any(v["Status"] == "CURRENT" for v in by_type["block-storage"])
    assert any(v["Status"] == "CURRENT" for v in by_type["image"])


def test_sdk_finds_every_endpoint(live_cloud):
    conn = live_cloud.connect()
    assert conn.compute.get_endpoint().startswith(live_cloud.url("compute") + "/v2.1")
    assert conn.block_storage.get_endpoint().startswith(live_cloud.url("volume") + "/v3/")
    assert conn.image.get_endpoint().startswith(live_cloud.url("image"))
    assert conn.current_project_id == conn.identity.get_project(
        conn.current_project_id).id


def test_demo_user_cannot_list_users(live_cloud):
    r = live_cloud.openstack("user", "list", cloud="stackling-demo")
    assert r.returncode != 0
    assert "403" in r.stderr
    assert "You are not authorized to perform the requested action: identity:list_users" \
        in r.stderr


def test_wrong_password_and_missing_token(live_cloud):
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "wrong"}}}}}).encode()
    req = urllib.request.Request(live_cloud.url("identity") + "/v3/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["error"]["title"] == "Unauthorized"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(live_cloud.url("compute") + "/v2.1/servers", timeout=10)
    assert err.value.code == 401
    assert err.value.headers["WWW-Authenticate"].startswith("Keystone uri=")


def _validate(cloud: LiveCloud, admin_token: str, subject: str) -> int:
    req = urllib.request.Request(cloud.url("identity") + "/v3/auth/tokens",
                                 headers={"X-Auth-Token": admin_token,
                                          "X-Subject-Token": subject})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_restart_keeps_users_projects_and_revocations(tmp_path):
    cloud = LiveCloud(tmp_path)
    cloud.start()
    try:
        cloud.openstack_json("project", "create", "keepme")
        cloud.openstack_json("user", "create", "--password", "pw", "--project", "keepme",
                             "keeper")
        revoked = cloud.openstack_json("token", "issue")["id"]
        kept = cloud.openstack_json("token", "issue")["id"]
        assert cloud.openstack("token", "revoke", revoked).returncode == 0
    finally:
        cloud.stop()
    assert cloud.stackling("status").returncode != 0
    cloud.start()
    try:
        assert "keepme" in {p["Name"] for p in cloud.openstack_json("project", "list")}
        assert "keeper" in {u["Name"] for u in cloud.openstack_json("user", "list")}
        assert _validate(cloud, kept, revoked) == 404
        assert _validate(cloud, kept, kept) == 200
    finally:
        cloud.stop()


def test_clouds_yaml_keeps_other_entries(tmp_path):
    cloud = LiveCloud(tmp_path)
    cloud.data_dir.mkdir(parents=True)
    (cloud.data_dir / "clouds.yaml").write_text(
        "clouds:\n  mine:\n    auth:\n      auth_url: http://example.invalid/v3\n")
    cloud.start()
    try:
        import yaml

        data = yaml.safe_load((cloud.data_dir / "clouds.yaml").read_text())
        assert set(data["clouds"]) == {"mine", "stackling", "stackling-demo"}
        printed = yaml.safe_load(cloud.stackling("clouds-yaml").stdout)
        assert printed["clouds"]["stackling"] == data["clouds"]["stackling"]
    finally:
        cloud.stop()
