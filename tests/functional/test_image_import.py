"""Glance: os_glance_* names are reserved (glance/api/v2/images.py, 403 "Attribute '%s' is
reserved."), and /v2/info/import advertises only import methods that are served."""

from __future__ import annotations

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
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
