"""The explain endpoint: admin only, outside OpenStack's paths, decisions in order."""

from __future__ import annotations

from stackling import decisions, explain


def test_explain_is_admin_only_and_reads_recorded_decisions(cloud, api, demo):
    assert demo.get("identity", "/_stackling/explain/servers/x").status == 403
    explain.RESOLVERS["servers"], saved = (
        lambda cloud, ident: (ident, {"name": "vm", "status": "ERROR"}),
        explain.RESOLVERS.get("servers"))
    try:
        decisions.record(cloud, resource_type="volume", resource_id=None,
                         service="cinder-api", step="availability zone", outcome="failed",
                         summary="ag1 is not a Cinder zone", request_id="req-1")
        decisions.record(cloud, resource_type="server", resource_id="s1",
                         service="nova-compute", step="volume create", outcome="failed",
                         summary="Cinder refused the zone", caused_by="req-1")
        resp = api.get("identity", "/_stackling/explain/servers/s1")
        assert resp.status == 200
        chain = resp.json["chain"]
        assert [d["step"] for d in chain] == ["availability zone", "volume create"]
        text = api.get("identity", "/_stackling/explain/servers/s1?format=text").body.decode()
        assert "[cinder-api] availability zone: FAILED" in text
        assert "ag1 is not a Cinder zone" in text
    finally:
        if saved is None:
            explain.RESOLVERS.pop("servers")
        else:
            explain.RESOLVERS["servers"] = saved
    assert api.get("identity", "/_stackling/explain/networks/x").status == 404
