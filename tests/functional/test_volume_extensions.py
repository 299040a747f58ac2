"""GET /v3/{project}/extensions: Cinder's extension list, for any authenticated user."""

from __future__ import annotations


def test_extensions_list_what_is_served(api, demo):
    resp = demo.get("volume", "/v3/extensions")
    assert resp.status == 200, resp
    exts = {e["alias"]: e for e in resp.json["extensions"]}
    assert exts["os-hosts"] == {"name": "Hosts", "alias": "os-hosts",
                                "description": "Admin-only host administration.",
                                "updated": "2011-06-29T00:00:00+00:00", "links": []}
    assert {"qos-specs", "scheduler-stats", "capabilities", "os-volume-transfer"} <= set(exts)
    # backups are not served, so not listed: the list says what answers
    assert "backups" not in exts
    assert api.get("volume", "/v3/backups").status == 404
