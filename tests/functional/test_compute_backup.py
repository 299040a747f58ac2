"""createBackup (nova/api/openstack/compute/create_backup.py and the compute manager's
``_rotate_backups``) and injectNetworkInfo, over HTTP in-process."""

from __future__ import annotations

from tests.functional.test_bfv import bfv, image_bdm, make, server, upload_image, v
from tests.functional.test_compute_snapshots import _boot_image_backed, task_states  # noqa: F401
from tests.helpers import settle


def _backup(api, sid, name, rotation=2, version="2.100", **extra):
    body = {"createBackup": {"name": name, "backup_type": "daily", "rotation": rotation,
                             **extra}}
    return api.post("compute", f"/v2.1/servers/{sid}/action", body, headers=v(version))


def _backups(api, sid):
    """The names of the server's daily backups, oldest first (tempest's listing)."""
    query = (f"/v2/images?image_type=backup&backup_type=daily&instance_uuid={sid}"
             "&sort_key=created_at&sort_dir=asc")
    return [i["name"] for i in api.get("image", query).json["images"]]


def test_backups_rotate_out_the_oldest(cloud_factory, task_states):  # noqa: F811
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api))
    task_states.clear()
    first = _backup(api, sid, "backup-1")
    assert first.status == 202 and set(first.json) == {"image_id"}
    settle(cloud)
    # No image_snapshot step: a backup stays image_backup until the upload.
    assert task_states == ["image_pending_upload", "image_uploading", None]
    image = api.get("image", f"/v2/images/{first.json['image_id']}").json
    assert image["status"] == "active" and image["image_type"] == "backup"
    assert image["backup_type"] == "daily" and image["instance_uuid"] == sid
    for name in ("backup-2", "backup-3"):
        assert _backup(api, sid, name).status == 202
        settle(cloud)
    assert _backups(api, sid) == ["backup-2", "backup-3"]
    assert api.get("image", f"/v2/images/{first.json['image_id']}").status == 404
    # rotation 0 keeps none, this one included (Nova deletes every backup beyond 0).
    assert _backup(api, sid, "backup-4", rotation="0").status == 202
    settle(cloud)
    assert _backups(api, sid) == []
    actions = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions",
                      headers=v("2.100")).json["instanceActions"]
    assert [a["action"] for a in actions].count("createBackup") == 4


def test_before_245_a_location_only_with_a_rotation(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api))
    resp = _backup(api, sid, "old", rotation=1, version="2.44")
    assert resp.status == 202 and not resp.body
    image_id = resp.headers["Location"].rsplit("/", 1)[-1]
    assert resp.headers["Location"].endswith(f"/v2.1/images/{image_id}")
    settle(cloud)
    assert api.get("image", f"/v2/images/{image_id}").json["status"] == "active"
    none = _backup(api, sid, "zero", rotation=0, version="2.44")
    assert none.status == 202 and "Location" not in none.headers
    settle(cloud)


def test_backup_refusals(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api))
    missing = api.post("compute", f"/v2.1/servers/{sid}/action",
                       {"createBackup": {"name": "b", "backup_type": "daily"}},
                       headers=v("2.100"))
    assert missing.status == 400
    assert "'rotation' is a required property" in missing.json["badRequest"]["message"]
    negative = _backup(api, sid, "b", rotation=-1)
    assert negative.status == 400
    assert "-1 is less than the minimum of 0" in negative.json["badRequest"]["message"]
    word = _backup(api, sid, "b", rotation="two")
    assert word.status == 400 and "does not match" in word.json["badRequest"]["message"]
    extra = _backup(api, sid, "b", colour="red")
    assert extra.status == 400 and "'colour' was unexpected" in (
        extra.json["badRequest"]["message"])
    gone = _backup(api, "5f9a0b43-0000-4000-8000-000000000000", "b")
    assert gone.status == 404
    api.post("compute", f"/v2.1/servers/{sid}/action", {"os-resetState": {"state": "error"}})
    state = _backup(api, sid, "b")
    assert state.status == 409 and state.json["conflictingRequest"]["message"] == (
        f"Cannot 'createBackup' instance {sid} while it is in vm_state error")


def test_volume_backed_servers_cannot_be_backed_up(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = bfv(api, [image_bdm(upload_image(api))]).json["server"]["id"]
    settle(cloud)
    assert server(api, sid)["status"] == "ACTIVE"
    resp = _backup(api, sid, "b")
    assert resp.status == 400 and resp.json["badRequest"]["message"] == (
        "Backup is not supported for volume-backed instances.")


def test_inject_network_info_is_admin_only_and_needs_no_state(cloud_factory):
    cloud, api = make(cloud_factory)
    sid = _boot_image_backed(cloud, api, upload_image(api))
    url = f"/v2.1/servers/{sid}/action"
    assert api.post("compute", url, {"injectNetworkInfo": None}).status == 202
    api.post("compute", url, {"os-stop": None})
    settle(cloud)
    assert api.post("compute", url, {"injectNetworkInfo": None}).status == 202
    bad = api.post("compute", url, {"injectNetworkInfo": {"x": 1}})
    assert bad.status == 400
    missing = api.post("compute", "/v2.1/servers/5f9a0b43-0000-4000-8000-000000000000/action",
                       {"injectNetworkInfo": None})
    assert missing.status == 404
