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


def test_patch_accepts_both_json_patch_drafts(api):
    image = _create(api, protected=True)
    v20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}
    resp = api.patch("image", f"/v2/images/{image['id']}",
                     [{"replace": "/name", "value": "draft4"},
                      {"add": "/hw_rng", "value": "yes"}], headers=v20)
    assert resp.status == 200, resp
    assert resp.json["name"] == "draft4" and resp.json["hw_rng"] == "yes"
    both = api.patch("image", f"/v2/images/{image['id']}",
                     [{"add": "/a", "replace": "/b", "value": "x"}], headers=PATCH)
    assert both.status == 400 and "only one member" in both.json["message"]
    assert api.delete("image", f"/v2/images/{image['id']}").status == 403
    api.patch("image", f"/v2/images/{image['id']}",
              [{"replace": "/protected", "value": False}], headers=PATCH)
    assert api.delete("image", f"/v2/images/{image['id']}").status == 204


def test_empty_image_id_is_404(api):
    _create(api)
    assert api.get("image", "/v2/images/").status == 404
    assert api.delete("image", "/v2/images/").status == 404
    assert api.delete("image", "/v2/images").status == 405


def test_owner_member_deactivates_and_reactivates(cloud):
    demo = ApiClient(cloud, "demo", "demo")
    image = _create(demo, visibility="private")
    demo.put("image", f"/v2/images/{image['id']}/file", raw=b"data", headers=OCTET)
    assert demo.post("image", f"/v2/images/{image['id']}/actions/deactivate").status == 204
    assert demo.get("image", f"/v2/images/{image['id']}").json["status"] == "deactivated"
    assert demo.get("image", f"/v2/images/{image['id']}/file").status == 403
    assert demo.post("image", f"/v2/images/{image['id']}/actions/reactivate").status == 204
    assert demo.get("image", f"/v2/images/{image['id']}/file").body == b"data"
    other = _create(ApiClient(cloud), visibility="public")
    assert demo.post("image", f"/v2/images/{other['id']}/actions/deactivate").status == 403


def test_image_members_share_accept_reject(cloud, api):
    demo = ApiClient(cloud, "demo", "demo")
    demo.token
    image = _create(api)  # visibility shared by default
    base = f"/v2/images/{image['id']}/members"
    created = api.post("image", base, {"member": demo.project_id})
    assert created.status == 200, created
    assert created.json["status"] == "pending" and created.json["image_id"] == image["id"]
    assert created.json["schema"] == "/v2/schemas/member"
    assert api.post("image", base, {"member": demo.project_id}).status == 409
    # pending: visible by id, not listed unless asked by member_status
    assert demo.get("image", f"/v2/images/{image['id']}").status == 200
    assert image["id"] not in [i["id"] for i in demo.get("image", "/v2/images").json["images"]]
    pending = demo.get("image", "/v2/images?member_status=pending&visibility=shared").json
    assert [i["id"] for i in pending["images"]] == [image["id"]]
    # the owner cannot accept for the member; a bad status is a 400
    assert api.put("image", f"{base}/{demo.project_id}", {"status": "accepted"}).status == 403
    assert demo.put("image", f"{base}/{demo.project_id}", {"status": "maybe"}).status == 400
    accepted = demo.put("image", f"{base}/{demo.project_id}", {"status": "accepted"})
    assert accepted.status == 200 and accepted.json["status"] == "accepted"
    assert image["id"] in [i["id"] for i in demo.get("image", "/v2/images").json["images"]]
    listing = api.get("image", base).json
    assert listing["schema"] == "/v2/schemas/members"
    assert [(m["member_id"], m["status"]) for m in listing["members"]] == \
        [(demo.project_id, "accepted")]
    assert demo.get("image", f"{base}/{demo.project_id}").json["status"] == "accepted"
    demo.put("image", f"{base}/{demo.project_id}", {"status": "rejected"})
    assert image["id"] not in [i["id"] for i in demo.get("image", "/v2/images").json["images"]]
    # only the owner removes members; afterwards the image is gone for the member
    assert demo.delete("image", f"{base}/{demo.project_id}").status == 403
    assert api.delete("image", f"{base}/{demo.project_id}").status == 204
    assert demo.get("image", f"/v2/images/{image['id']}").status == 404
    assert api.get("image", f"{base}/{demo.project_id}").status == 404
    private = _create(api, visibility="private")
    resp = api.post("image", f"/v2/images/{private['id']}/members", {"member": "x"})
    assert resp.status == 403 and "Only shared images have members." in resp.json["message"]


def test_member_and_metadefs_schemas(api):
    assert api.get("image", "/v2/schemas/member").json["name"] == "member"
    assert api.get("image", "/v2/schemas/members").json["name"] == "members"
    names = {"namespace": "namespace", "namespaces": "namespaces",
             "resource_type": "resource_type_association",
             "resource_types": "resource_type_associations", "object": "object",
             "objects": "objects", "property": "property", "properties": "properties",
             "tag": "tag", "tags": "tags"}
    for path, name in names.items():
        doc = api.get("image", f"/v2/schemas/metadefs/{path}")
        assert doc.status == 200 and doc.json["name"] == name, path
    assert "namespace" in api.get("image", "/v2/schemas/metadefs/namespace").json[
        "properties"]


def test_metadefs_namespace_objects_properties_tags_resource_types(cloud, api):
    demo = ApiClient(cloud, "demo", "demo")
    types = api.get("image", "/v2/metadefs/resource_types").json["resource_types"]
    rtype = types[0]["name"]
    assert rtype == "OS::Cinder::Volume"
    body = {"namespace": "ns1", "display_name": "NS 1", "description": "d",
            "visibility": "public", "protected": True,
            "resource_type_associations": [{"name": rtype}]}
    assert demo.post("image", "/v2/metadefs/namespaces", body).status == 403
    created = api.post("image", "/v2/metadefs/namespaces", body)
    assert created.status == 201, created
    assert created.json["self"] == "/v2/metadefs/namespaces/ns1"
    assert api.post("image", "/v2/metadefs/namespaces", body).status == 409
    listed = demo.get("image", "/v2/metadefs/namespaces").json
    assert [n["namespace"] for n in listed["namespaces"]] == ["ns1"]
    assert api.delete("image", "/v2/metadefs/namespaces/ns1").status == 403  # protected
    ns = "/v2/metadefs/namespaces/ns1"
    # objects
    obj = api.post("image", f"{ns}/objects", {"name": "o1", "description": "x"})
    assert obj.status == 201 and obj.json["self"] == f"{ns}/objects/o1"
    renamed = api.put("image", f"{ns}/objects/o1", {"name": "o2"})
    assert renamed.status == 200 and renamed.json["name"] == "o2"
    assert api.get("image", f"{ns}/objects/o1").status == 404
    assert [o["name"] for o in api.get("image", f"{ns}/objects").json["objects"]] == ["o2"]
    assert api.delete("image", f"{ns}/objects/o2").status == 204
    # properties
    prop = {"name": "hypervisor", "title": "Hypervisor", "type": "string",
            "enum": ["kvm", "qemu"]}
    assert api.post("image", f"{ns}/properties", prop).json["title"] == "Hypervisor"
    assert api.get("image", f"{ns}/properties/hypervisor").json["enum"] == ["kvm", "qemu"]
    upd = api.put("image", f"{ns}/properties/hypervisor", {**prop, "title": "HV"})
    assert upd.json["title"] == "HV"
    assert list(api.get("image", f"{ns}/properties").json["properties"]) == ["hypervisor"]
    assert api.delete("image", f"{ns}/properties/hypervisor").status == 204
    assert api.get("image", f"{ns}/properties").json["properties"] == {}
    # tags
    tags = api.post("image", f"{ns}/tags", {"tags": [{"name": "a"}, {"name": "b"}]})
    assert tags.status == 201
    assert api.post("image", f"{ns}/tags/c").status == 201
    assert api.put("image", f"{ns}/tags/c", {"name": "d"}).json["name"] == "d"
    assert [t["name"] for t in api.get("image", f"{ns}/tags").json["tags"]] == ["a", "b", "d"]
    assert api.delete("image", f"{ns}/tags/d").status == 204
    assert api.delete("image", f"{ns}/tags").status == 204
    assert api.get("image", f"{ns}/tags").json["tags"] == []
    # resource type associations
    assoc = api.get("image", f"{ns}/resource_types").json["resource_type_associations"]
    assert [a["name"] for a in assoc] == [rtype]
    assert api.post("image", f"{ns}/resource_types", {"name": "OS::Nova::Flavor",
                                                      "prefix": "hw:"}).status == 201
    assert api.delete("image", f"{ns}/resource_types/{rtype}").status == 204
    assoc = api.get("image", f"{ns}/resource_types").json["resource_type_associations"]
    assert [(a["name"], a["prefix"]) for a in assoc] == [("OS::Nova::Flavor", "hw:")]
    # unprotect, make private (the demo project no longer sees it), delete
    upd = api.put("image", ns, {"namespace": "ns1", "visibility": "private",
                                "protected": False})
    assert upd.json["visibility"] == "private" and upd.json["protected"] is False
    assert demo.get("image", ns).status == 404
    assert api.delete("image", ns).status == 204
    assert api.get("image", ns).status == 404
