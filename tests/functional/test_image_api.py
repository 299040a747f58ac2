"""Glance v2 over HTTP, in-process: create, upload, download (Range), list, patch, tags."""

from __future__ import annotations

import hashlib

from tests.helpers import ApiClient

OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _create(api, **body):
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **body}
    resp = api.post("image", "/v2/images", body)
    assert resp.status == 201, resp
    return resp.json


def test_create_upload_download_roundtrip(api):
    image = _create(api, min_disk=1, hw_disk_bus="scsi")
    assert image["status"] == "queued"
    assert image["size"] is None and image["checksum"] is None
    assert image["virtual_size"] is None and image["os_hash_value"] is None
    assert image["visibility"] == "shared" and image["hw_disk_bus"] == "scsi"
    assert image["min_disk"] == 1 and image["min_ram"] == 0
    assert image["self"] == f"/v2/images/{image['id']}"
    assert api.get("image", f"/v2/images/{image['id']}/file").status == 204
    data = bytes(range(256)) * 4096
    up = api.put("image", f"/v2/images/{image['id']}/file", raw=data, headers=OCTET)
    assert up.status == 204, up
    shown = api.get("image", f"/v2/images/{image['id']}").json
    assert shown["status"] == "active"
    assert shown["size"] == shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    down = api.get("image", f"/v2/images/{image['id']}/file")
    assert down.status == 200 and down.body == data
    assert down.headers["Content-MD5"] == shown["checksum"]
    part = api.get("image", f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    again = api.put("image", f"/v2/images/{image['id']}/file", raw=b"x", headers=OCTET)
    assert again.status == 409
    assert "Image status transition from active to saving is not allowed" in again.body.decode()


def test_upload_rules(api):
    image = api.post("image", "/v2/images", {"name": "noformat"}).json
    resp = api.put("image", f"/v2/images/{image['id']}/file", raw=b"abc", headers=OCTET)
    assert resp.status == 400
    assert "Properties disk_format, container_format must be set prior to saving data." in \
        resp.json["message"]
    resp = api.put("image", f"/v2/images/{image['id']}/file", raw=b"abc",
                   headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    bad = api.post("image", "/v2/images", {"name": "x", "disk_format": "floppy"})
    assert bad.status == 400 and "Provided object does not match schema 'image'" in \
        bad.json["message"]
    ro = api.post("image", "/v2/images", {"name": "x", "size": 3})
    assert ro.status == 403 and "Attribute 'size' is read-only." in ro.json["message"]


def test_qcow2_virtual_size(api, tmp_path):
    import subprocess

    path = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    image = _create(api, disk_format="qcow2")
    api.put("image", f"/v2/images/{image['id']}/file", raw=path.read_bytes(), headers=OCTET)
    shown = api.get("image", f"/v2/images/{image['id']}").json
    assert shown["virtual_size"] == 64 * 1024 * 1024
    assert shown["size"] == path.stat().st_size


def test_not_found_and_delete(api):
    missing = api.get("image", "/v2/images/4b3c6f5e-0000-4000-8000-000000000000")
    assert missing.status == 404
    assert "No image found with ID 4b3c6f5e-0000-4000-8000-000000000000" in \
        missing.json["message"]
    image = _create(api, protected=True)
    assert api.delete("image", f"/v2/images/{image['id']}").status == 403
    patched = api.patch("image", f"/v2/images/{image['id']}", raw=b'[{"op": "replace", '
                        b'"path": "/protected", "value": false}]', headers=PATCH)
    assert patched.status == 200 and patched.json["protected"] is False
    assert api.delete("image", f"/v2/images/{image['id']}").status == 204
    assert api.get("image", f"/v2/images/{image['id']}").status == 404


def test_patch_and_tags(api):
    image = _create(api)
    ops = b'[{"op": "replace", "path": "/name", "value": "new"}, ' \
          b'{"op": "add", "path": "/os_distro", "value": "cirros"}]'
    resp = api.patch("image", f"/v2/images/{image['id']}", raw=ops, headers=PATCH)
    assert resp.status == 200
    assert resp.json["name"] == "new" and resp.json["os_distro"] == "cirros"
    bad = api.patch("image", f"/v2/images/{image['id']}", raw=ops,
                    headers={"Content-Type": "application/json"})
    assert bad.status == 415
    rm = api.patch("image", f"/v2/images/{image['id']}",
                   raw=b'[{"op": "remove", "path": "/os_distro"}]', headers=PATCH)
    assert "os_distro" not in rm.json
    assert api.put("image", f"/v2/images/{image['id']}/tags/t1").status == 204
    assert api.get("image", f"/v2/images/{image['id']}").json["tags"] == ["t1"]
    assert api.get("image", "/v2/images?tag=t1").json["images"][0]["id"] == image["id"]
    assert api.delete("image", f"/v2/images/{image['id']}/tags/t1").status == 204
    assert api.delete("image", f"/v2/images/{image['id']}/tags/t1").status == 404


def test_list_pagination_filters_and_visibility(cloud, api):
    ids = [_create(api, name=f"p{i}")["id"] for i in range(3)]
    page = api.get("image", "/v2/images?limit=2").json
    assert len(page["images"]) == 2 and page["first"] == "/v2/images"
    assert "marker=" in page["next"]
    rest = api.get("image", page["next"]).json
    assert {i["id"] for i in page["images"] + rest["images"]} == set(ids)
    assert [i["name"] for i in api.get("image", "/v2/images?name=p1").json["images"]] == ["p1"]
    demo = ApiClient(cloud, "demo", "demo")
    assert demo.get("image", "/v2/images").json["images"] == []
    assert demo.get("image", f"/v2/images/{ids[0]}").status == 404
    pub = _create(api, name="pub", visibility="public")
    assert [i["id"] for i in demo.get("image", "/v2/images").json["images"]] == [pub["id"]]
    assert demo.post("image", "/v2/images", {"name": "x", "visibility": "public"}).status == 403
