"""Glance's Tasks API (/v2/tasks, admin only): an ``import`` task makes the image from a
URL's bytes (success with result.image_id) or fails with the reason and no image left."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from tests.helpers import settle

DATA = bytes(range(256)) * 64


@pytest.fixture
def url():
    """An http server on loopback serving DATA at /disk.qcow2 (404 elsewhere)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/disk.qcow2":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _task(import_from, **props):
    return {"type": "import", "input": {
        "import_from": import_from, "import_from_format": "qcow2",
        "image_properties": {"name": "from-url", "disk_format": "qcow2",
                             "container_format": "bare", **props}}}


def test_import_task_makes_the_image_from_the_url(cloud, api, url):
    made = api.post("image", "/v2/tasks", _task(f"{url}/disk.qcow2", visibility="public"))
    assert made.status == 201, made
    assert made.json["status"] == "pending" and made.json["self"].startswith("/v2/tasks/")
    settle(cloud)
    task = api.get("image", f"/v2/tasks/{made.json['id']}").json
    assert task["status"] == "success", task
    image = api.get("image", f"/v2/images/{task['result']['image_id']}").json
    assert image["status"] == "active" and image["visibility"] == "public"
    assert image["size"] == len(DATA) and image["checksum"] == hashlib.md5(DATA).hexdigest()
    listed = api.get("image", "/v2/tasks").json["tasks"]
    assert listed[0]["id"] == task["id"] and "input" not in listed[0]


def test_a_url_that_fails_fails_the_task_and_leaves_no_image(cloud, api, url):
    before = len(api.get("image", "/v2/images").json["images"])
    ids = [api.post("image", "/v2/tasks", _task(where)).json["id"]
           for where in (f"{url}/missing.qcow2", "ftp://127.0.0.1/x.qcow2")]
    settle(cloud)
    tasks = [api.get("image", f"/v2/tasks/{i}").json for i in ids]
    assert [t["status"] for t in tasks] == ["failure", "failure"]
    assert "404" in tasks[0]["message"]
    assert "valid uri" in tasks[1]["message"] and tasks[1]["result"] is None
    assert len(api.get("image", "/v2/images").json["images"]) == before


def test_tasks_are_for_admins_and_checked(api, demo):
    refused = demo.post("image", "/v2/tasks", _task("http://127.0.0.1/x"))
    assert refused.status == 403
    assert b"You are not authorized to complete create_task action." in refused.body
    assert api.post("image", "/v2/tasks", {"type": "export", "input": {}}).status == 400
    assert api.post("image", "/v2/tasks", {"type": "import"}).status == 400
    assert api.get("image", "/v2/tasks/nope").status == 404


def test_malformed_import_input_fails_the_task_not_the_runner(cloud, api):
    """Input of the wrong shape ends the task in failure (never left ``processing``)."""
    bad = [{"import_from": 7, "import_from_format": "qcow2", "image_properties": {}},
           {"import_from": "http://127.0.0.1/x", "import_from_format": "qcow2",
            "image_properties": "x"},
           {"import_from": "http://127.0.0.1/x"}]
    ids = [api.post("image", "/v2/tasks", {"type": "import", "input": i}).json["id"]
           for i in bad]
    settle(cloud)
    tasks = [api.get("image", f"/v2/tasks/{i}").json for i in ids]
    assert [t["status"] for t in tasks] == ["failure"] * 3
    assert tasks[2]["message"] == "Input does not contain 'import_from_format' field"
