"""os-volume_upload_image in-process: the volume becomes a new Glance image (queued, then
active with the volume's bytes), the volume goes back to available."""

from __future__ import annotations

import subprocess

from tests.helpers import settle

MV = {"OpenStack-API-Version": "volume 3.71"}
# An upload reads, hashes (md5 + sha512) and stores the whole GiB, as Cinder and Glance
# do: seconds on an idle machine, far more on a loaded CI runner.
UPLOAD_SECONDS = 300.0


def _volume(cloud, api, **extra):
    vol = api.post("volume", "/v3/volumes", {"volume": {"size": 1, **extra}},
                   headers=MV).json["volume"]
    settle(cloud)
    return vol


def _upload(api, vol_id, **params):
    return api.post("volume", f"/v3/volumes/{vol_id}/action",
                    {"os-volume_upload_image": params}, headers=MV)


def test_upload_raw_and_qcow2(cloud, api, tmp_path):
    vol = _volume(cloud, api, name="src", metadata={})
    path = cloud.rpc.endpoint("cinder-volume.controller2@file").driver.path(vol["id"])
    with path.open("r+b") as f:
        f.write(b"stackling volume bytes")
    resp = _upload(api, vol["id"], image_name="img-raw")
    assert resp.status == 202, resp
    body = resp.json["os-volume_upload_image"]
    assert (body["id"], body["status"], body["image_name"], body["disk_format"],
            body["container_format"], body["visibility"], body["protected"]) == \
        (vol["id"], "uploading", "img-raw", "raw", "bare", "private", False)
    assert body["volume_type"]["name"] == "__DEFAULT__" and body["size"] == 1
    settle(cloud, timeout=UPLOAD_SECONDS)
    image = api.get("image", f"/v2/images/{body['image_id']}").json
    assert (image["status"], image["name"], image["size"]) == ("active", "img-raw", 1024 ** 3)
    data = api.get("image", f"/v2/images/{body['image_id']}/file",
                   headers={"Range": "bytes=0-21"})
    assert data.body == b"stackling volume bytes"
    assert api.get("volume", f"/v3/volumes/{vol['id']}").json["volume"]["status"] == \
        "available"
    resp = _upload(api, vol["id"], image_name="img-qcow2", disk_format="qcow2")
    assert resp.status == 202, resp
    settle(cloud, timeout=UPLOAD_SECONDS)
    image_id = resp.json["os-volume_upload_image"]["image_id"]
    image = api.get("image", f"/v2/images/{image_id}").json
    assert (image["status"], image["disk_format"]) == ("active", "qcow2")
    out = tmp_path / "img.qcow2"
    out.write_bytes(api.get("image", f"/v2/images/{image_id}/file").body)
    info = subprocess.run(["qemu-img", "info", str(out)], capture_output=True, text=True,
                          check=True)
    assert "file format: qcow2" in info.stdout and "virtual size: 1 GiB" in info.stdout


def test_upload_refusals(cloud, api):
    vol = _volume(cloud, api)
    bad = _upload(api, vol["id"], image_name="x", disk_format="iso")
    assert bad.status == 400
    missing = _upload(api, vol["id"])
    assert missing.status == 400 and "'image_name' is a required property" in \
        missing.json["badRequest"]["message"]
    api.post("volume", f"/v3/volumes/{vol['id']}/action",
             {"os-reset_status": {"status": "in-use"}})
    # force is ignored unless enable_force_upload is set
    busy = _upload(api, vol["id"], image_name="x", force=True)
    assert busy.status == 400 and busy.json["badRequest"]["message"] == \
        f"Invalid volume: Volume {vol['id']} status must be available"
    assert api.get("image", "/v2/images").json["images"] == []


def test_start_up_repairs_an_interrupted_upload(cloud, api):
    from stackling.volume import recovery
    from stackling.volume.objects import volume as vol_obj

    vol = _volume(cloud, api)
    assert vol_obj.set_status(cloud, vol["id"], "available", status="uploading",
                              previous_status="available")
    mgr = cloud.rpc.endpoint("cinder-volume.controller2@file")
    assert recovery.init_host(cloud, mgr) == 1
    shown = api.get("volume", f"/v3/volumes/{vol['id']}").json["volume"]
    assert shown["status"] == "available"
