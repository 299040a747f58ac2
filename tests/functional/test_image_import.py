"""Glance: os_glance_* names are reserved (glance/api/v2/images.py, 403 "Attribute '%s' is
reserved."); /v2/info/import advertises only what is served: glance-direct, with its
stage, import, states and tasks (glance/api/v2/image_data.py, images.py import_image)."""

from __future__ import annotations

import hashlib

from tests.helpers import settle

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTET = {"Content-Type": "application/octet-stream"}
RESERVED = "Attribute 'os_glance_import_task' is reserved."


def _create(api, **body):
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **body}
    return api.post("image", "/v2/images", body)


def test_os_glance_properties_are_reserved_on_create_and_update(api):
    resp = _create(api, os_glance_import_task="x")
    assert resp.status == 403 and RESERVED in resp.body.decode()
    resp = _create(api, os_glance_foo="x")
    assert resp.status == 403 and "Attribute 'os_glance_foo' is reserved." in resp.body.decode()
    image = _create(api).json
    for op in (b'[{"op": "add", "path": "/os_glance_import_task", "value": "x"}]',
               b'[{"op": "replace", "path": "/os_glance_import_task", "value": "x"}]',
               b'[{"op": "remove", "path": "/os_glance_import_task"}]'):
        resp = api.patch("image", f"/v2/images/{image['id']}", raw=op, headers=PATCH)
        assert resp.status == 403, (op, resp)
        assert RESERVED in resp.body.decode()
    # the prefix alone is Glance's check (key.startswith('os_glance'))
    resp = api.patch("image", f"/v2/images/{image['id']}", headers=PATCH,
                     raw=b'[{"op": "add", "path": "/os_glancefoo", "value": "x"}]')
    assert resp.status == 403


def test_advertised_import_methods_are_served(api):
    methods = api.get("image", "/v2/info/import").json["import-methods"]
    assert methods["description"] == "Import methods available." and methods["type"] == "array"
    assert "web-download" not in methods["value"] and "copy-image" not in methods["value"]
    created = _create(api)
    header = created.headers.get("OpenStack-image-import-methods")
    assert header == (",".join(methods["value"]) if methods["value"] else None)


def test_glance_direct_stage_import_and_tasks(cloud, api):
    assert api.get("image", "/v2/info/import").json["import-methods"]["value"] == \
        ["glance-direct"]
    created = _create(api)
    assert created.headers["OpenStack-image-import-methods"] == "glance-direct"
    iid = created.json["id"]
    # import before staging: Glance's 409
    resp = api.post("image", f"/v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    assert resp.status == 409
    assert "Image needs to be staged before 'glance-direct' method can be used" in \
        resp.body.decode()
    data = bytes(range(256)) * 1000
    resp = api.put("image", f"/v2/images/{iid}/stage", raw=data, headers=OCTET)
    assert resp.status == 204, resp
    shown = api.get("image", f"/v2/images/{iid}").json
    assert shown["status"] == "uploading" and shown["size"] == len(data)
    # staging twice: the image is no longer queued
    again = api.put("image", f"/v2/images/{iid}/stage", raw=b"x", headers=OCTET)
    assert again.status == 409
    assert "Image status transition from uploading to uploading is not allowed" in \
        again.body.decode()
    resp = api.post("image", f"/v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    assert resp.status == 202 and resp.body == b""
    request_id = resp.headers["x-openstack-request-id"]
    settle(cloud)
    shown = api.get("image", f"/v2/images/{iid}").json
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert "os_glance_import_task" not in shown
    assert shown["os_glance_importing_to_stores"] == "" and shown["os_glance_failed_import"] == ""
    assert api.get("image", f"/v2/images/{iid}/file").body == data
    tasks = api.get("image", f"/v2/images/{iid}/tasks").json["tasks"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["status"] == "success" and task["type"] == "api_image_import"
    assert task["request_id"] == request_id and task["image_id"] == iid
    assert task["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert task["result"] == {"image_id": iid} and task["expires_at"]
    # active images are no import target
    resp = api.post("image", f"/v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    assert resp.status == 409
    assert "Image with status active cannot be target for import" in resp.body.decode()


def test_import_body_and_method_errors(api, demo):
    iid = _create(api).json["id"]
    for body, text in (({}, "Import request requires a 'method' field."),
                       ({"method": {}}, "Import request requires a 'name' field."),
                       ({"method": {"name": "web-download", "uri": "http://x/"}},
                        "Unknown import method name 'web-download'."),
                       ({"method": {"name": "copy-image"}},
                        "Unknown import method name 'copy-image'."),
                       ({"method": {"name": "glance-direct"}, "all_stores": "yes"},
                        "'all_stores' must be boolean value only")):
        resp = api.post("image", f"/v2/images/{iid}/import", body)
        assert resp.status == 400, (body, resp)
        assert text in resp.body.decode()
    resp = api.put("image", f"/v2/images/{iid}/stage", raw=b"x",
                   headers={"Content-Type": "application/json"})
    assert resp.status == 415
    # another project's private image: not found, also for its tasks
    private = _create(api, visibility="private").json["id"]
    assert demo.put("image", f"/v2/images/{private}/stage", raw=b"x",
                    headers=OCTET).status == 404
    assert demo.get("image", f"/v2/images/{private}/tasks").status == 404
    assert api.get("image", f"/v2/images/{private}/tasks").json == {"tasks": []}


def test_import_states_and_failure_back_to_queued(cloud, api, monkeypatch):
    from stackling.image import images

    iid = _create(api).json["id"]
    assert api.put("image", f"/v2/images/{iid}/stage", raw=b"abc", headers=OCTET).status == 204
    seen = []
    real_write = images.store(cloud).write

    def failing_write(image_id, chunks, expected_size=None):
        seen.append(api.get("image", f"/v2/images/{iid}").json)
        raise OSError("disk full")

    monkeypatch.setattr(images.store(cloud), "write", failing_write)
    resp = api.post("image", f"/v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    assert resp.status == 202
    settle(cloud)
    # while the data moves: importing, locked by the task
    task_id = api.get("image", f"/v2/images/{iid}/tasks").json["tasks"][0]["id"]
    assert seen[0]["status"] == "importing" and seen[0]["os_glance_import_task"] == task_id
    shown = api.get("image", f"/v2/images/{iid}").json
    assert shown["status"] == "queued" and "os_glance_import_task" not in shown
    task = api.get("image", f"/v2/images/{iid}/tasks").json["tasks"][0]
    assert task["status"] == "failure" and "disk full" in task["message"]
    assert task["result"] is None
    monkeypatch.setattr(images.store(cloud), "write", real_write)
