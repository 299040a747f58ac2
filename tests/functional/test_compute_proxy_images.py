"""/images and /images/{id}/metadata: Nova's proxies to Glance (404 from 2.36 / 2.39),
shapes and texts from nova's api/openstack/compute/images.py, image_metadata.py and
views/images.py."""

from __future__ import annotations

OLD = {"OpenStack-API-Version": "compute 2.35"}
MISSING = "5f9a0b43-0000-4000-8000-000000000000"


def _image(client, name="cirros", upload=True, **extra):
    resp = client.post("image", "/v2/images", {"name": name, "disk_format": "qcow2",
                                               "container_format": "bare", **extra})
    assert resp.status == 201, resp
    image_id = resp.json["id"]
    if upload:
        up = client.request("image", "PUT", f"/v2/images/{image_id}/file", raw=b"\0" * 512,
                            headers={"Content-Type": "application/octet-stream"})
        assert up.status == 204, up
    return image_id


def test_image_views(cloud, demo):
    active = _image(demo, min_ram=64, min_disk=1, hw_disk_bus="virtio",
                    instance_uuid=MISSING, auto_disk_config="true")
    queued = _image(demo, name="empty", upload=False)
    listed = demo.get("compute", "/v2.1/images", headers=OLD)
    assert listed.status == 200, listed
    by_id = {i["id"]: i for i in listed.json["images"]}
    assert set(by_id) == {active, queued}
    compute = cloud.public_url("compute")
    project = demo.project_id
    assert by_id[active] == {"id": active, "name": "cirros", "links": [
        {"rel": "self", "href": f"{compute}/v2.1/{project}/images/{active}"},
        {"rel": "bookmark", "href": f"{compute}/{project}/images/{active}"},
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": f"{cloud.public_url('image')}/images/{active}"}]}
    shown = demo.get("compute", f"/v2.1/images/{active}", headers=OLD).json["image"]
    assert set(shown) == {"id", "name", "minRam", "minDisk", "metadata", "created",
                          "updated", "status", "progress", "OS-EXT-IMG-SIZE:size", "links",
                          "server", "OS-DCF:diskConfig"}
    assert (shown["status"], shown["progress"], shown["minRam"], shown["minDisk"]) == (
        "ACTIVE", 100, 64, 1)
    assert shown["OS-EXT-IMG-SIZE:size"] == 512
    assert shown["metadata"] == {"hw_disk_bus": "virtio", "instance_uuid": MISSING,
                                 "auto_disk_config": "true"}
    assert shown["server"]["id"] == MISSING
    assert shown["OS-DCF:diskConfig"] == "AUTO"
    assert shown["created"].endswith("Z") and shown["links"] == by_id[active]["links"]
    empty = demo.get("compute", f"/v2.1/images/{queued}", headers=OLD).json["image"]
    assert (empty["status"], empty["progress"], empty["metadata"]) == ("SAVING", 25, {})
    assert "server" not in empty and "OS-DCF:diskConfig" not in empty
    detail = demo.get("compute", "/v2.1/images/detail?status=ACTIVE", headers=OLD).json
    assert [i["id"] for i in detail["images"]] == [active]
    named = demo.get("compute", "/v2.1/images?name=empty", headers=OLD).json["images"]
    assert [i["id"] for i in named] == [queued]
    since = demo.get("compute", "/v2.1/images?changes-since=2000-01-01T00:00:00Z",
                     headers=OLD).json["images"]
    assert {i["id"] for i in since} == {active, queued}
    assert demo.get("compute", "/v2.1/images?changes-since=2999-01-01T00:00:00Z",
                    headers=OLD).json["images"] == []
    page = demo.get("compute", "/v2.1/images?limit=1", headers=OLD).json
    assert len(page["images"]) == 1 and page["images_links"][0]["rel"] == "next"
    assert f"marker={page['images'][0]['id']}" in page["images_links"][0]["href"]


def test_image_errors_delete_and_removal(demo):
    image = _image(demo)
    missing = demo.get("compute", f"/v2.1/images/{MISSING}", headers=OLD)
    assert missing.status == 404
    assert missing.json == {"itemNotFound": {"code": 404, "message": "Image not found."}}
    gone = demo.get("compute", "/v2.1/images", headers={"OpenStack-API-Version":
                                                        "compute 2.36"})
    assert gone.status == 404
    assert demo.get("compute", f"/v2.1/images/{image}",
                    headers={"OpenStack-API-Version": "compute 2.36"}).status == 404
    # tempest test_delete_image_blank_id / _with_negative_id: 404
    assert demo.delete("compute", "/v2.1/images/", headers=OLD).status == 404
    assert demo.get("compute", "/v2.1/images/", headers=OLD).status == 404
    assert demo.delete("compute", "/v2.1/images/-1", headers=OLD).status == 404
    assert demo.delete("compute", f"/v2.1/images/{image}", headers=OLD).status == 204
    assert demo.get("image", f"/v2/images/{image}").status == 404
    again = demo.delete("compute", f"/v2.1/images/{image}", headers=OLD)
    assert again.status == 404 and again.json["itemNotFound"]["message"] == "Image not found."


def test_someone_elses_image_cannot_be_deleted(api, demo):
    image = _image(api, visibility="public")
    resp = demo.delete("compute", f"/v2.1/images/{image}", headers=OLD)
    assert resp.status == 403, resp
    assert resp.json == {"forbidden": {"code": 403,
                                       "message": "You are not allowed to delete the image."}}


def test_image_metadata(demo):
    image = _image(demo, os_distro="cirros")
    path = f"/v2.1/images/{image}/metadata"
    assert demo.get("compute", path).json == {"metadata": {"os_distro": "cirros"}}
    added = demo.post("compute", path, {"metadata": {"a": "1"}})
    assert added.status == 200, added
    assert added.json == {"metadata": {"os_distro": "cirros", "a": "1"}}
    assert demo.get("image", f"/v2/images/{image}").json["a"] == "1"
    item = demo.put("compute", f"{path}/b", {"meta": {"b": "2"}})
    assert item.status == 200 and item.json == {"meta": {"b": "2"}}
    assert demo.get("compute", f"{path}/b").json == {"meta": {"b": "2"}}
    mismatch = demo.put("compute", f"{path}/c", {"meta": {"b": "2"}})
    assert mismatch.status == 400
    assert mismatch.json["badRequest"]["message"] == "Request body and URI mismatch"
    replaced = demo.put("compute", path, {"metadata": {"only": "x"}})
    assert replaced.json == {"metadata": {"only": "x"}}
    assert demo.get("compute", path).json == {"metadata": {"only": "x"}}
    assert demo.delete("compute", f"{path}/only").status == 204
    absent = demo.delete("compute", f"{path}/only")
    assert absent.status == 404
    assert absent.json["itemNotFound"]["message"] == "Invalid metadata key"
    assert demo.get("compute", f"{path}/only").status == 404
    over = demo.post("compute", path, {"metadata": {f"k{i}": "v" for i in range(129)}})
    assert over.status == 403
    assert over.json["forbidden"]["message"] == "Image metadata limit exceeded"
    assert demo.get("compute", f"/v2.1/images/{MISSING}/metadata").status == 404
    # image metadata lives until 2.38, the images proxy until 2.35
    assert demo.get("compute", path, headers={"OpenStack-API-Version":
                                              "compute 2.38"}).status == 200
    assert demo.get("compute", path, headers={"OpenStack-API-Version":
                                              "compute 2.39"}).status == 404
