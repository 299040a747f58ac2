"""Microversion parsing, routing and policy: the pure pieces of the HTTP layer."""

from __future__ import annotations

import pytest

from stackling import exception, policy
from stackling.context import RequestContext
from stackling.web import faults
from stackling.web.microversion import Version, VersionSpec
from stackling.web.router import Router

NOVA = VersionSpec("compute", Version(2, 1), Version(2, 96),
                   legacy_header="X-OpenStack-Nova-API-Version")


def test_absent_header_is_minimum_and_latest_is_maximum():
    assert NOVA.from_headers({}) == Version(2, 1)
    assert NOVA.from_headers({"OpenStack-API-Version": "compute latest"}) == Version(2, 96)


def test_header_for_another_service_is_ignored_and_legacy_header_counts():
    assert NOVA.from_headers({"OpenStack-API-Version": "volume 3.50"}) == Version(2, 1)
    assert NOVA.from_headers({"OpenStack-API-Version": "volume 3.5, compute 2.53"}) == \
        Version(2, 53)
    assert NOVA.from_headers({"X-OpenStack-Nova-API-Version": "2.37"}) == Version(2, 37)


def test_out_of_range_is_406_with_nova_text():
    with pytest.raises(exception.NotAcceptable) as err:
        NOVA.from_headers({"OpenStack-API-Version": "compute 2.200"})
    assert err.value.code == 406
    assert err.value.message == ("Version 2.200 is not supported by the API. Minimum is 2.1 "
                                 "and maximum is 2.96.")


@pytest.mark.parametrize("bad", ["2", "2.x", "abc", "2.1.1", "02.1"])
def test_malformed_is_400(bad):
    with pytest.raises(exception.BadRequest) as err:
        NOVA.from_headers({"OpenStack-API-Version": f"compute {bad}"})
    assert err.value.message == (f"API Version String {bad} is of invalid format. Must be of "
                                 "format MajorNum.MinorNum.")


def test_version_ordering_is_numeric():
    assert Version.parse("2.10") > Version.parse("2.9")
    assert Version(2, 47).matches("2.47") and not Version(2, 46).matches("2.47")
    assert Version(2, 50).matches("2.1", "2.52") and not Version(2, 53).matches(None, "2.52")


def test_response_headers_nova_and_cinder():
    assert dict(NOVA.response_headers(Version(2, 5))) == {
        "OpenStack-API-Version": "compute 2.5", "X-OpenStack-Nova-API-Version": "2.5",
        "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
    cinder = VersionSpec("volume", Version(3, 0), Version(3, 71))
    assert dict(cinder.response_headers(Version(3, 44))) == {
        "OpenStack-API-Version": "volume 3.44", "Vary": "OpenStack-API-Version"}


def _h(req, **kw):
    return kw


def test_router_optional_project_and_405():
    router = Router([("/v2.1/servers", {"GET": _h, "POST": _h}),
                     ("/v2.1/servers/{server_id}", {"GET": _h})], project_prefix="/v2.1")
    _, _, params = router.match("GET", "/v2.1/servers/abc")
    assert params == {"server_id": "abc"}
    _, _, params = router.match("GET", "/v2.1/p1/servers/abc")
    assert params == {"project_id": "p1", "server_id": "abc"}
    _, handler, _ = router.match("HEAD", "/v2.1/servers/")
    assert handler is _h
    with pytest.raises(exception.MethodNotAllowed) as err:
        router.match("DELETE", "/v2.1/servers")
    assert err.value.headers["Allow"] == "GET, POST"
    with pytest.raises(exception.NotFound):
        router.match("GET", "/v2.1/nothing/here/at/all")


def test_strict_router_refuses_a_trailing_slash_except_on_public_routes():
    router = Router([("/v2.1", {"GET": _h}), ("/v2.1/servers", {"GET": _h}),
                     ("/v2.1/servers/{server_id}", {"GET": _h})], project_prefix="/v2.1",
                    public={"/v2.1"}, strict_slashes=True)
    for path in ("/v2.1/servers/", "/v2.1/p1/servers/", "/v2.1/servers/abc/"):
        with pytest.raises(exception.NotFound):
            router.match("GET", path)
    assert router.match("GET", "/v2.1/")[1] is _h
    assert router.match("GET", "/v2.1/p1/servers/abc")[2] == {"project_id": "p1",
                                                             "server_id": "abc"}


def _linear(router, method, path):
    """The route table read top to bottom: what the shape index must answer."""
    allowed = set()
    for route in router.routes:
        m = route.regex.match(path)
        if m:
            handler = route.methods.get(method) or \
                (route.methods.get("GET") if method == "HEAD" else None)
            if handler is not None:
                return route.template, handler, m.groupdict()
            allowed.update(route.methods)
    return ("405", ", ".join(sorted(allowed))) if allowed else ("404",)


def _indexed(router, method, path):
    try:
        route, handler, params = router.match(method, path)
    except exception.MethodNotAllowed as err:
        return ("405", err.headers["Allow"])
    except exception.NotFound:
        return ("404",)
    return route.template, handler, params


def test_the_shape_index_answers_as_the_whole_table_read_in_order():
    """Every route of every service, filled in with ids and with other routes' words,
    with and without a trailing slash and a project id, under every method."""
    from stackling.compute.api.routes import P, PUBLIC as CP, ROUTES as COMPUTE
    from stackling.identity.routes import PUBLIC as IP, ROUTES as IDENTITY
    from stackling.image.api import PUBLIC as GP, ROUTES as IMAGE
    from stackling.network.api.routes import ROUTES as NETWORK, NeutronRouter
    from stackling.volume.api.routes import PUBLIC as VP, ROUTES as VOLUME

    routers = [Router(COMPUTE, project_prefix=P, public=CP, strict_slashes=True),
               Router(VOLUME, project_prefix="/v3", public=VP), Router(IDENTITY, public=IP),
               Router(IMAGE, public=GP), NeutronRouter(NETWORK, public=("/",))]
    checked = 0
    for router in routers:
        words = sorted({seg for r in router.routes for seg in r.template.split("/")
                        if seg and "{" not in seg})[:12] + ["x1", "detail", "action"]
        for route in router.routes:
            base = route.template.replace("{project_id}", "p1")
            paths = {base.replace("{", "").replace("}", ""), base + "/",
                     "/".join(["x1" if "{" in seg else seg for seg in base.split("/")])}
            paths |= {base.rsplit("/", 1)[0] + "/" + w for w in words}
            for path in paths:
                for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
                    assert _indexed(router, method, path) == _linear(router, method, path), \
                        (method, path)
                    checked += 1
    assert checked > 20_000


def test_policy_roles_implied_and_owner():
    policy.register({"test:admin": policy.ADMIN, "test:own": policy.ADMIN_OR_OWNER_MEMBER,
                     "test:read": policy.READER})
    admin = RequestContext(cloud=None, project_id="p", roles=["admin"])
    member = RequestContext(cloud=None, project_id="p", roles=["member"])
    reader = RequestContext(cloud=None, project_id="p", roles=["reader"])
    assert policy.check(admin, "test:admin") and not policy.check(member, "test:admin")
    assert policy.check(member, "test:read") and policy.check(admin, "test:read")
    assert policy.check(member, "test:own", {"project_id": "p"})
    assert not policy.check(member, "test:own", {"project_id": "other"})
    assert not policy.check(reader, "test:own", {"project_id": "p"})
    with pytest.raises(exception.PolicyNotAuthorized) as err:
        policy.authorize(member, "test:admin")
    assert err.value.message == "Policy doesn't allow test:admin to be performed."


def test_fault_bodies_per_service():
    import json

    nova = faults.compute_fault(413, "Quota exceeded", {"Retry-After": "0"})
    assert json.loads(nova.body) == {"overLimit": {"code": 413, "message": "Quota exceeded",
                                                   "retryAfter": "0"}}
    assert json.loads(faults.compute_fault(500, "boom").body) == {
        "computeFault": {"code": 500, "message": "boom"}}
    ks = faults.keystone_fault(404, "Could not find user: x.")
    assert json.loads(ks.body) == {"error": {"code": 404, "title": "Not Found",
                                             "message": "Could not find user: x."}}
    import webob

    req = webob.Request.blank("/", headers={"Accept": "application/json"})
    glance = json.loads(faults.glance_fault(404, "No image found with ID x", request=req).body)
    assert glance["code"] == "404 Not Found" and glance["title"] == "Not Found"
    assert glance["message"].startswith("No image found with ID x")
