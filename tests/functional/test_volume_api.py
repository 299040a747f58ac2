"""Cinder v3 over HTTP, in-process: the create flow, zones, scheduler, quotas, snapshots."""

from __future__ import annotations

import logging
import subprocess

from sqlalchemy import select

from stackling import servicegroup
from stackling.db.models_volume import QuotaUsage, Reservation, Volume
from stackling.image import images
from tests.helpers import ApiClient, settle

MV = {"OpenStack-API-Version": "volume 3.71"}
SECOND_BACKEND = """[DEFAULT]
enabled_backends = file2
[file2]
volume_backend_name = file2
backend_availability_zone = ag1
"""


def create(api, **volume):
    return api.post("volume", "/v3/volumes", {"volume": {"size": 1, **volume}}, headers=MV)


def show(api, vid):
    return api.get("volume", f"/v3/volumes/{vid}", headers=MV).json["volume"]


def usage(cloud, project_id):
    with cloud.db.reader() as s:
        return {u.resource: (u.in_use, u.reserved) for u in s.scalars(
            select(QuotaUsage).where(QuotaUsage.project_id == project_id))}


def test_blank_volume_is_202_creating_then_available(cloud, api):
    resp = create(api, name="v1")
    assert resp.status == 202, resp
    vol = resp.json["volume"]
    assert vol["status"] == "creating" and vol["volume_type"] == "__DEFAULT__"
    assert vol["consumes_quota"] is True and vol["attachments"] == []
    settle(cloud)
    vol = show(api, vol["id"])
    assert vol["status"] == "available"
    assert vol["availability_zone"] == "nova"
    assert vol["os-vol-host-attr:host"] == "controller2@file#file"
    path = cloud.rpc.endpoint("cinder-volume.controller2@file").driver.path(vol["id"])
    assert path.stat().st_size == 1024 ** 3 and path.stat().st_blocks == 0
    assert usage(cloud, api.project_id)["gigabytes"] == (1, 0)
    assert api.delete("volume", f"/v3/volumes/{vol['id']}").status == 202
    settle(cloud)
    assert api.get("volume", f"/v3/volumes/{vol['id']}").status == 404
    assert not path.exists()
    assert usage(cloud, api.project_id)["volumes"] == (0, 0)


def test_invalid_zone_leaves_nothing_behind(cloud, api):
    api.token  # log in first so project_id is known
    before = usage(cloud, api.project_id)
    resp = create(api, availability_zone="ag1")
    assert resp.status == 400
    assert resp.json == {"badRequest": {"code": 400,
                                        "message": "Availability zone 'ag1' is invalid."}}
    assert resp.headers["OpenStack-API-Version"] == "volume 3.71"
    with cloud.db.reader() as s:
        assert s.scalars(select(Volume)).all() == []
        assert s.scalars(select(Reservation)).all() == []
    assert usage(cloud, api.project_id) == before


def test_fallback_zone_logs_warning(cloud_factory, caplog):
    from tests.helpers import ApiClient

    cloud = cloud_factory(cinder="[DEFAULT]\nallow_availability_zone_fallback = True\n")
    api = ApiClient(cloud)
    with caplog.at_level(logging.WARNING):
        resp = create(api, availability_zone="ag1")
    assert resp.status == 202
    assert "Availability zone 'ag1' not found, falling back to 'nova'." in caplog.text
    settle(cloud)
    vol = show(api, resp.json["volume"]["id"])
    assert vol["status"] == "available" and vol["availability_zone"] == "nova"


def test_second_backend_in_ag1(cloud_factory):
    from tests.helpers import ApiClient

    cloud = cloud_factory(cinder=SECOND_BACKEND)
    api = ApiClient(cloud)
    zones = api.get("volume", "/v3/os-availability-zone").json["availabilityZoneInfo"]
    assert sorted(z["zoneName"] for z in zones) == ["ag1", "nova"]
    services = api.get("volume", "/v3/os-services?binary=cinder-volume").json["services"]
    assert {(s["host"], s["zone"]) for s in services} == {("controller2@file", "nova"),
                                                          ("controller2@file2", "ag1")}
    resp = create(api, availability_zone="ag1")
    assert resp.status == 202
    settle(cloud)
    vol = show(api, resp.json["volume"]["id"])
    assert vol["availability_zone"] == "ag1"
    assert vol["os-vol-host-attr:host"] == "controller2@file2#file2"
    # A type bound to the first backend lands there, whatever the free space says.
    t = api.post("volume", "/v3/types", {"volume_type": {"name": "fast"}}).json["volume_type"]
    api.post("volume", f"/v3/types/{t['id']}/extra_specs",
             {"extra_specs": {"volume_backend_name": "file"}})
    resp = create(api, volume_type="fast")
    settle(cloud)
    assert show(api, resp.json["volume"]["id"])["os-vol-host-attr:host"] == \
        "controller2@file#file"


def test_zone_cache_is_refreshed_after_a_miss(cloud, api):
    assert create(api).status == 202       # loads the create path's cache
    sid = servicegroup.register(cloud, servicegroup.ServiceSpec(
        project="cinder", binary="cinder-volume", host="late@file", availability_zone="ag2"))
    assert sid
    zones = api.get("volume", "/v3/os-availability-zone").json["availabilityZoneInfo"]
    assert "ag2" in {z["zoneName"] for z in zones}          # uncached listing sees it
    assert create(api, availability_zone="ag2").status == 400  # cached create path does not
    assert create(api, availability_zone="ag2").status == 202  # refreshed after the miss
    settle(cloud)


def test_no_valid_backend_sets_error_and_message(cloud, api):
    t = api.post("volume", "/v3/types", {"volume_type": {
        "name": "nowhere", "extra_specs": {"volume_backend_name": "absent"}}}).json
    resp = create(api, volume_type=t["volume_type"]["name"])
    assert resp.status == 202
    settle(cloud)
    assert show(api, resp.json["volume"]["id"])["status"] == "error"
    msgs = api.get("volume", "/v3/messages", headers=MV).json["messages"]
    assert msgs[0]["event_id"] == "VOLUME_VOLUME_001_003"
    assert msgs[0]["user_message"] == \
        "schedule allocate volume:Could not find any available weighted backend."
    assert msgs[0]["resource_uuid"] == resp.json["volume"]["id"]
    old = api.get("volume", "/v3/messages", headers={"OpenStack-API-Version": "volume 3.0"})
    assert old.status == 404


def test_quota_exceeded_is_413_and_usage_unchanged(cloud, api):
    api.token
    api.put("volume", f"/v3/os-quota-sets/{api.project_id}", {"quota_set": {"volumes": 1}})
    assert create(api).status == 202
    before = usage(cloud, api.project_id)
    resp = create(api)
    assert resp.status == 413
    assert resp.json["overLimit"]["message"] == (
        "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota "
        "'volumes'.")
    assert resp.json["overLimit"]["retryAfter"] == "0"
    api.put("volume", f"/v3/os-quota-sets/{api.project_id}", {"quota_set": {"volumes": 10}})
    big = create(api, size=5000)
    assert big.status == 413
    assert big.json["overLimit"]["message"].startswith(
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
        "gigabytes quota. Requested 5000G, quota is 1000G and 1G has been consumed.")
    assert usage(cloud, api.project_id) == before
    q = api.get("volume", f"/v3/os-quota-sets/{api.project_id}?usage=True").json["quota_set"]
    assert q["volumes"] == {"limit": 10, "in_use": 1, "reserved": 0, "allocated": 0}
    lim = api.get("volume", "/v3/limits").json["limits"]["absolute"]
    assert lim["maxTotalVolumes"] == 10 and lim["totalVolumesUsed"] == 1
    settle(cloud)


def test_validation_messages(cloud, api):
    resp = create(api, size=0)
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1")
    resp = create(api, size="0")
    assert "Invalid volume size provided for create request: 0" in \
        resp.json["badRequest"]["message"]
    resp = create(api, volume_type="gold")
    assert resp.status == 404
    assert resp.json["itemNotFound"]["message"] == \
        "Volume type with name gold could not be found."
    resp = create(api, imageRef="nosuchimage")
    assert resp.json["badRequest"]["message"] == \
        "Invalid image identifier or unable to access requested image."
    resp = create(api, bogus=1)
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == \
        "Additional properties are not allowed ('bogus' was unexpected)"
    old = api.post("volume", "/v3/volumes", {"volume": {"size": 1, "bogus": 1}})
    assert old.status == 202  # tolerated before 3.53
    settle(cloud)


def _upload(api, tmp_path, fmt="qcow2", size="64M"):
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(1024 * 1024)
        f.seek(0)
        f.write(b"STACKLING-BOOT" * 100)
    src = raw
    if fmt == "qcow2":
        src = tmp_path / "disk.qcow2"
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw),
                        str(src)], check=True)
        if size:
            subprocess.run(["qemu-img", "resize", "-q", str(src), size], check=True)
    image = api.post("image", "/v2/images", {"name": f"img-{fmt}", "disk_format": fmt,
                                             "container_format": "bare",
                                             "os_distro": "cirros"}).json
    api.put("image", f"/v2/images/{image['id']}/file", raw=src.read_bytes(),
            headers={"Content-Type": "application/octet-stream"})
    return image, raw.read_bytes()


def test_volume_from_qcow2_image(cloud, api, tmp_path):
    image, raw = _upload(api, tmp_path)
    resp = create(api, imageRef=image["id"])
    assert resp.status == 202
    settle(cloud)
    vol = show(api, resp.json["volume"]["id"])
    assert vol["status"] == "available" and vol["bootable"] == "true"
    meta = vol["volume_image_metadata"]
    assert meta["image_id"] == image["id"] and meta["disk_format"] == "qcow2"
    assert meta["os_distro"] == "cirros"
    driver = cloud.rpc.endpoint("cinder-volume.controller2@file").driver
    with open(driver.path(vol["id"]), "rb") as f:
        assert f.read(len(raw)) == raw
    # by name too
    assert create(api, imageRef="img-qcow2").status == 202
    settle(cloud)


class _SeamCalls:
    """The cloud's image-data seam, recording which images it was asked for."""

    def __init__(self, seam) -> None:
        self.seam, self.asked = seam, []

    def local_file(self, image_id, scratch_dir):
        self.asked.append(image_id)
        return self.seam.local_file(image_id, scratch_dir)


DIRECT = {"cinder": "[DEFAULT]\nallowed_direct_url_schemes = file\n",
          "glance": "[DEFAULT]\nshow_image_direct_url = true\n"}


def test_volume_from_image_reads_the_direct_url_file(cloud_factory, tmp_path):
    """Glance shows the store location (show_image_direct_url) and cinder.conf allows the
    file scheme: cinder-volume reads that file, glance-api is not asked for the data."""
    cloud = cloud_factory(**DIRECT)
    api = ApiClient(cloud)
    image, raw = _upload(api, tmp_path, "raw")
    shown = api.get("image", f"/v2/images/{image['id']}").json
    location = images.store(cloud).path(image["id"]).absolute()
    assert shown["direct_url"] == location.as_uri() and location.read_bytes() == raw
    assert api.get("image", "/v2/images").json["images"][0]["direct_url"] == \
        location.as_uri()
    seam = cloud._image_data = _SeamCalls(cloud.image_data)
    vid = create(api, imageRef=image["id"]).json["volume"]["id"]
    settle(cloud)
    vol = show(api, vid)
    assert vol["status"] == "available" and seam.asked == []
    assert "direct_url" not in vol["volume_image_metadata"]
    with open(cloud.rpc.endpoint("cinder-volume.controller2@file").driver.path(vid),
              "rb") as f:
        assert f.read(len(raw)) == raw
    # an image without data has no location: no direct_url
    queued = api.post("image", "/v2/images", {"name": "empty", "disk_format": "raw",
                                              "container_format": "bare"}).json
    assert "direct_url" not in queued
    assert "direct_url" not in api.get("image", f"/v2/images/{queued['id']}").json


def test_volume_from_image_downloads_without_direct_url(cloud_factory, tmp_path):
    """Glance's default hides the location: the data comes through the image-data seam
    even where cinder.conf allows the file scheme."""
    cloud = cloud_factory(cinder=DIRECT["cinder"])
    api = ApiClient(cloud)
    image, _ = _upload(api, tmp_path, "raw")
    assert "direct_url" not in api.get("image", f"/v2/images/{image['id']}").json
    seam = cloud._image_data = _SeamCalls(cloud.image_data)
    vid = create(api, imageRef=image["id"]).json["volume"]["id"]
    settle(cloud)
    assert show(api, vid)["status"] == "available" and seam.asked == [image["id"]]


def test_image_bigger_than_volume(cloud, api, tmp_path):
    image, _ = _upload(api, tmp_path, size="3G")
    resp = create(api, imageRef=image["id"], size=1)
    assert resp.status == 400
    assert resp.json["badRequest"]["message"] == (
        f"Image {image['id']} is unacceptable: Image virtual size is 3GB and doesn't fit in "
        "a volume of size 1GB.")


def test_delete_refused_for_in_use(cloud, api):
    vid = create(api).json["volume"]["id"]
    settle(cloud)
    api.post("volume", f"/v3/volumes/{vid}/action",
             {"os-reset_status": {"status": "in-use", "attach_status": "attached"}})
    resp = api.delete("volume", f"/v3/volumes/{vid}")
    assert resp.status == 400
    assert resp.json["badRequest"]["message"].startswith(
        "Invalid volume: Volume status must be available or error or error_restoring or "
        "error_extending or error_managing and must not be migrating, attached, belong to a "
        "group, have snapshots, awaiting a transfer, or be disassociated from snapshots "
        "after volume transfer.")


def test_snapshot_clone_and_extend(cloud, api):
    vid = create(api, size=1).json["volume"]["id"]
    settle(cloud)
    driver = cloud.rpc.endpoint("cinder-volume.controller2@file").driver
    with open(driver.path(vid), "r+b") as f:
        f.write(b"hello")
    snap = api.post("volume", "/v3/snapshots", {"snapshot": {"volume_id": vid, "name": "s"}},
                    headers=MV)
    assert snap.status == 202 and snap.json["snapshot"]["status"] == "creating"
    settle(cloud)
    sid = snap.json["snapshot"]["id"]
    assert api.get("volume", f"/v3/snapshots/{sid}").json["snapshot"]["status"] == "available"
    small = create(api, snapshot_id=sid, size=None)
    assert small.status == 202 and small.json["volume"]["size"] == 1
    refused = create(api, snapshot_id=sid, availability_zone="nova", size=None)
    assert refused.status == 202
    clone = create(api, source_volid=vid, size=2)
    settle(cloud)
    for new in (small.json["volume"]["id"], clone.json["volume"]["id"]):
        assert show(api, new)["status"] == "available"
        with open(driver.path(new), "rb") as f:
            assert f.read(5) == b"hello"
    too_small = create(api, source_volid=clone.json["volume"]["id"], size=1)
    assert too_small.json["badRequest"]["message"] == (
        "Invalid input received: Volume size '1'GB cannot be smaller than original volume "
        "size  2GB. They must be >= original volume size.")
    has_snap = api.delete("volume", f"/v3/volumes/{vid}")
    assert has_snap.status == 400
    ext = api.post("volume", f"/v3/volumes/{vid}/action", {"os-extend": {"new_size": 3}})
    assert ext.status == 202
    settle(cloud)
    assert show(api, vid)["size"] == 3 and driver.path(vid).stat().st_size == 3 * 1024 ** 3
    same = api.post("volume", f"/v3/volumes/{vid}/action", {"os-extend": {"new_size": 3}})
    assert "New size for extend must be greater than current size." in \
        same.json["badRequest"]["message"]
    assert api.delete("volume", f"/v3/snapshots/{sid}").status == 202
    settle(cloud)
    assert api.get("volume", f"/v3/snapshots/{sid}").status == 404


def test_list_filters_and_pagination(cloud, api):
    ids = [create(api, name=f"n{i}", metadata={"k": str(i % 2)}).json["volume"]["id"]
           for i in range(3)]
    settle(cloud)
    page = api.get("volume", "/v3/volumes/detail?limit=2", headers=MV).json
    assert len(page["volumes"]) == 2 and page["volumes_links"][0]["rel"] == "next"
    assert [v["name"] for v in api.get("volume", "/v3/volumes?name=n1").json["volumes"]] == \
        ["n1"]
    md = api.get("volume", '/v3/volumes/detail?metadata={"k": "0"}').json["volumes"]
    assert sorted(v["name"] for v in md) == ["n0", "n2"]
    counted = api.get("volume", "/v3/volumes?with_count=true", headers=MV).json
    assert counted["count"] == 3
    asc = api.get("volume", "/v3/volumes/detail?sort=name:asc").json["volumes"]
    assert [v["name"] for v in asc] == ["n0", "n1", "n2"] and len(ids) == 3


def test_types_and_default(api):
    d = api.get("volume", "/v3/types/default").json["volume_type"]
    assert d["name"] == "__DEFAULT__"
    t = api.post("volume", "/v3/types", {"volume_type": {"name": "az-bound"}}).json
    tid = t["volume_type"]["id"]
    api.post("volume", f"/v3/types/{tid}/extra_specs",
             {"extra_specs": {"RESKEY:availability_zones": "ag9"}})
    resp = create(api, volume_type="az-bound")
    assert resp.json["badRequest"]["message"] == \
        "Volume type is only supported in these availability zones: ['ag9']"
    assert api.get("volume", f"/v3/types/{tid}/extra_specs").json["extra_specs"] == \
        {"RESKEY:availability_zones": "ag9"}
    # An empty value restricts the type to no zone (cinder volume_utils), it is not "unset".
    api.put("volume", f"/v3/types/{tid}/extra_specs/RESKEY:availability_zones",
            {"RESKEY:availability_zones": ""})
    resp = create(api, volume_type="az-bound")
    assert resp.status == 400 and resp.json["badRequest"]["message"] == \
        "Volume type is only supported in these availability zones: []"


def test_demo_cannot_list_services(cloud, demo):
    assert demo.get("volume", "/v3/os-services").status == 403


def _capture_notifications(cloud) -> list[tuple]:
    """Cinder's notifications as if cinder.conf turned them on: what would go over the
    broker (stackling.seams.messaging.OsloTransport.notify), captured."""
    sent: list[tuple] = []
    cloud.rpc.notifies = lambda project: project == "cinder"
    cloud.rpc.notify = lambda *args, priority="info": sent.append((*args, priority))
    return sent


def test_a_creation_notifies_its_start_and_end(cloud, api, tmp_path):
    """volume.create.start, then volume.create.end with the available volume's usage."""
    image, _ = _upload(api, tmp_path)
    sent = _capture_notifications(cloud)
    resp = create(api, imageRef=image["id"], name="noted")
    settle(cloud)
    vid = resp.json["volume"]["id"]
    assert [(p, pub, ev, prio) for p, pub, ev, _, prio in sent] == [
        ("cinder", "volume.controller2@file", "volume.create.start", "info"),
        ("cinder", "volume.controller2@file", "volume.create.end", "info")]
    start, end = sent[0][3], sent[1][3]
    assert start["volume_id"] == end["volume_id"] == vid
    assert start["status"] in ("creating", "downloading")
    assert end["status"] == "available" and end["display_name"] == "noted"
    assert end["tenant_id"] == api.project_id and end["size"] == 1
    assert end["host"].startswith("controller2@file") and end["volume_attachment"] == []
    assert {"volume_id": vid, "key": "image_id", "value": image["id"]} in \
        end["glance_metadata"]


def test_a_volume_no_backend_takes_is_a_scheduler_error_notification(cloud, api):
    t = api.post("volume", "/v3/types", {"volume_type": {
        "name": "nowhere", "extra_specs": {"volume_backend_name": "absent"}}}).json
    sent = _capture_notifications(cloud)
    vid = create(api, volume_type=t["volume_type"]["name"]).json["volume"]["id"]
    settle(cloud)
    [(project, publisher, event, payload, priority)] = sent
    assert (project, event, priority) == ("cinder", "scheduler.create_volume", "error")
    assert publisher.startswith("scheduler.")
    assert payload["volume_id"] == vid and payload["state"] == "error"
    assert payload["method"] == "create_volume"
    assert payload["reason"].startswith("No valid backend was found.")


def test_a_notification_that_cannot_be_read_does_not_fail_the_volume(cloud, api,
                                                                      monkeypatch):
    """volume_usage reads the volume for its payload; a database error there is logged
    and the creation goes on (no volume left ``creating``)."""
    from sqlalchemy import text

    from stackling.volume import notifications

    sent = _capture_notifications(cloud)
    monkeypatch.setattr(notifications, "_VOLUME", text("SELECT * FROM no_such_table"))
    vid = create(api, name="unread").json["volume"]["id"]
    settle(cloud)
    assert show(api, vid)["status"] == "available"
    assert sent == []


def test_scheduler_sums_sizes_from_the_host_size_index(cloud):
    """Every scheduling sums what each backend holds, and a claim sums its backend again
    under the backend's lock: both from the (host, size) index alone (SQLite's plan), so
    neither reads the volume rows, however many volumes there are."""
    from stackling.volume import scheduler

    with cloud.db.reader_connection() as c:
        for stmt, params in ((scheduler._SIZE_BY_HOST, {}), (scheduler._HELD, {
                "host": "controller2@file", "pools": "controller2@file#%"})):
            sql = str(stmt.compile(c, compile_kwargs={"render_postcompile": True}))
            plan = [row[-1] for row in c.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}", tuple(params.values())).all()]
            reads = [step for step in plan if step.startswith(("SCAN volume", "SEARCH volume"))]
            assert reads and all("USING COVERING INDEX ix_volume_host_size" in step
                                 for step in reads), plan
