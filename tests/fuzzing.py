"""Fuzzing every route of the four APIs in-process: request strategies and the runner.

Every route × method of the routers' tables gets requests with real and hostile path
parameters, query strings and JSON bodies, as the admin, as a member of another project
and without a token. Used by tests/functional/test_fuzz.py (bounded, fixed seed) and by
bench/bench_fuzz.py (the long run).
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import hypothesis
import webob
from hypothesis import strategies as st

import stackling
from tests.helpers import ApiClient

_PARAM = re.compile(r"\{(\w+)\}")

# Field names the handlers read: every string key looked up in the code, so generated
# bodies reach real validation paths and not only the "missing key" check.
_KEY_RE = re.compile(r"""(?:\.get\(|\[|pop\(|in \(?|\{|, )["']([A-Za-z][\w:.-]{1,40})["']""")


def _keys(path: Path) -> set[str]:
    return set(_KEY_RE.findall(path.read_text()))


def _vocabulary() -> list[str]:
    keys: set[str] = set()
    for path in Path(stackling.__file__).parent.rglob("*.py"):
        if "migrations" not in path.parts:
            keys |= _keys(path)
    return sorted(keys)


VOCAB = _vocabulary()


def handler_vocabulary(handler) -> list[str]:
    """The keys the handler's own module reads: the fields its bodies are made of."""
    try:
        return sorted(_keys(Path(inspect.getsourcefile(inspect.unwrap(handler)))))
    except (TypeError, OSError):
        return VOCAB

HOSTILE_TEXT = ["%FF%FE", "\x00", "../../etc/passwd", "^(a+)+$", "' OR 1=1 --", "a" * 300,
                "é", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "*", "",
                "None", "true", "-1", "18446744073709551616", "1e400", "[]", "{}"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 63, 2 ** 64, -2 ** 63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(HOSTILE_TEXT))


def json_values(ids: list[str]) -> st.SearchStrategy:
    leaf = st.one_of(scalars, st.sampled_from(ids) if ids else st.nothing())
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(VOCAB), inner, max_size=3)), max_leaves=6)


# One valid body per create/update/action route: the fuzzer changes one field of it at a
# time, so hostile values reach the code behind the other checks. ``{name}`` is a real id.
SEEDS: dict[tuple[str, str], list[dict]] = {
    ("POST", "/v2.1/flavors"): [{"flavor": {"name": "f", "ram": 64, "vcpus": 1, "disk": 1,
                                            "rxtx_factor": 1.0, "swap": 0,
                                            "OS-FLV-EXT-DATA:ephemeral": 0}}],
    ("PUT", "/v2.1/flavors/{flavor_id}"): [{"flavor": {"description": "d"}}],
    ("POST", "/v2.1/flavors/{flavor_id}/action"): [
        {"addTenantAccess": {"tenant": "{target_id}"}}],
    ("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs"): [{"extra_specs": {"a": "b"}}],
    ("PUT", "/v2.1/os-quota-sets/{project_id_q}"): [{"quota_set": {"instances": 5,
                                                                    "cores": 5}}],
    ("PUT", "/v2.1/os-quota-class-sets/{quota_class}"): [{"quota_class_set": {"ram": 5}}],
    ("POST", "/v2.1/os-aggregates"): [{"aggregate": {"name": "a",
                                                     "availability_zone": "z"}}],
    ("PUT", "/v2.1/os-aggregates/{aggregate_id}"): [{"aggregate": {"name": "a2"}}],
    ("POST", "/v2.1/os-aggregates/{aggregate_id}/action"): [
        {"add_host": {"host": "controller"}}, {"set_metadata": {"metadata": {"k": "v"}}}],
    ("POST", "/v2.1/os-server-groups"): [{"server_group": {"name": "g",
                                                           "policy": "affinity"}}],
    ("POST", "/v2.1/servers"): [{"server": {"name": "s", "flavorRef": "42",
                                            "imageRef": "{image_id}", "networks": "none",
                                            "min_count": 1, "max_count": 1}}],
    ("PUT", "/v2.1/os-services/{service_id}"): [{"status": "disabled"}],
    ("PUT", "/v2.1/servers/{server_id}"): [{"server": {"name": "s2", "accessIPv4": "1.2.3.4"}}],
    ("POST", "/v2.1/servers/{server_id}/action"): [
        {"reboot": {"type": "SOFT"}}, {"os-stop": None}, {"os-start": None},
        {"createImage": {"name": "snap", "metadata": {"a": "b"}}},
        {"resize": {"flavorRef": "1"}}, {"os-resetState": {"state": "active"}},
        {"lock": {"locked_reason": "r"}}, {"rebuild": {"imageRef": "{image_id}"}},
        {"os-migrateLive": {"host": None, "block_migration": "auto"}},
        {"addSecurityGroup": {"name": "default"}}],
    ("POST", "/v2.1/servers/{server_id}/metadata"): [{"metadata": {"a": "b"}}],
    ("PUT", "/v2.1/servers/{server_id}/metadata"): [{"metadata": {"a": "b"}}],
    ("PUT", "/v2.1/servers/{server_id}/metadata/{key}"): [{"meta": {"hw:cpu_policy": "b"}}],
    ("POST", "/v2.1/servers/{server_id}/os-volume_attachments"): [
        {"volumeAttachment": {"volumeId": "{volume_id}", "device": "/dev/vdb",
                              "tag": "t", "delete_on_termination": False}}],
    ("POST", "/v2.1/os-volumes"): [{"volume": {"size": 1, "display_name": "v"}}],
    ("POST", "/v3/volumes"): [{"volume": {"size": 1, "name": "v", "metadata": {"a": "b"}}}],
    ("PUT", "/v3/volumes/{volume_id}"): [{"volume": {"name": "v2"}}],
    ("POST", "/v3/volumes/{volume_id}/action"): [
        {"os-reset_status": {"status": "available"}}, {"os-extend": {"new_size": 2}},
        {"os-set_bootable": {"bootable": True}}, {"os-retype": {"new_type": "fuzzt"}},
        {"os-update_readonly_flag": {"readonly": False}},
        {"os-set_image_metadata": {"metadata": {"a": "b"}}},
        {"os-attach": {"instance_uuid": "{volume_id}", "mountpoint": "/dev/vdb"}},
        {"os-initialize_connection": {"connector": {"host": "h"}}}],
    ("POST", "/v3/snapshots"): [{"snapshot": {"volume_id": "{volume_id}", "name": "s",
                                              "force": True}}],
    ("PUT", "/v3/snapshots/{snapshot_id}"): [{"snapshot": {"name": "s2"}}],
    ("POST", "/v3/snapshots/{snapshot_id}/action"): [
        {"os-reset_status": {"status": "available"}},
        {"os-update_snapshot_status": {"status": "available", "progress": "10%"}}],
    ("POST", "/v3/types"): [{"volume_type": {"name": "t", "description": "d",
                                             "extra_specs": {"a": "b"}}}],
    ("PUT", "/v3/types/{type_id}"): [{"volume_type": {"name": "t2", "is_public": True}}],
    ("POST", "/v3/types/{type_id}/extra_specs"): [{"extra_specs": {"a": "b"}}],
    ("POST", "/v3/types/{type_id}/encryption"): [{"encryption": {
        "provider": "luks", "control_location": "front-end", "cipher": "aes",
        "key_size": 256}}],
    ("POST", "/v3/attachments"): [{"attachment": {"volume_uuid": "{volume_id}",
                                                  "instance_uuid": "{volume_id}",
                                                  "connector": {"mountpoint": "/dev/vdb"}}}],
    ("PUT", "/v3/attachments/{attachment_id}"): [{"attachment": {"connector": {
        "host": "h", "mountpoint": "/dev/vdb", "initiator": "i"}}}],
    ("PUT", "/v3/os-quota-sets/{target_project}"): [{"quota_set": {"volumes": 5}}],
    ("POST", "/v3/os-volume-transfer"): [{"transfer": {"volume_id": "{volume_id}",
                                                       "name": "t"}}],
    ("POST", "/v3/auth/tokens"): [{"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "fuzzu", "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"project": {"id": "{target_id}"}}}}],
    ("POST", "/v3/users"): [{"user": {"name": "u", "password": "p", "enabled": True,
                                      "default_project_id": "{target_id}"}}],
    ("PATCH", "/v3/users/{entity_id}"): [{"user": {"description": "d", "email": "e"}}],
    ("POST", "/v3/users/{user_id}/password"): [{"user": {"original_password": "pw",
                                                         "password": "pw"}}],
    ("POST", "/v3/projects"): [{"project": {"name": "p", "tags": ["a"],
                                            "domain_id": "default"}}],
    ("POST", "/v3/regions"): [{"region": {"id": "r", "parent_region_id": "RegionOne",
                                          "description": "d"}}],
    ("PUT", "/v3/regions/{entity_id}"): [{"region": {"description": "d"}}],
    ("POST", "/v3/endpoints"): [{"endpoint": {"service_id": "{service_id}",
                                              "interface": "public", "url": "http://x",
                                              "region_id": "RegionOne"}}],
    ("POST", "/v3/services"): [{"service": {"type": "t", "name": "n", "enabled": True}}],
    ("POST", "/v3/roles"): [{"role": {"name": "r"}}],
    ("POST", "/v3/groups"): [{"group": {"name": "g"}}],
    ("POST", "/v3/domains"): [{"domain": {"name": "d", "enabled": True}}],
    ("POST", "/v3/credentials"): [{"credential": {"type": "ec2", "user_id": "{user_id}",
                                                  "project_id": "{target_id}",
                                                  "blob": "{\"access\": \"a\"}"}}],
    ("POST", "/v3/users/{user_id}/credentials/OS-EC2"): [{"tenant_id": "{target_id}"}],
    ("POST", "/v3/users/{user_id}/application_credentials"): [{"application_credential": {
        "name": "ac", "roles": [{"name": "fuzzr"}], "expires_at": None,
        "unrestricted": False}}],
    ("POST", "/v2/images"): [{"name": "i", "disk_format": "raw", "container_format": "bare",
                              "min_disk": 0, "min_ram": 0, "visibility": "private",
                              "tags": ["a"]}],
    ("POST", "/v2/images/{image_id}/members"): [{"member": "{target_id}"}],
    ("PUT", "/v2/images/{image_id}/members/{member_id}"): [{"status": "accepted"}],
}


def _seed_bodies(case: "RouteCase", ids: dict[str, list[str]]) -> list[dict]:
    text = json.dumps(SEEDS.get((case.method, case.template), []))
    for name, values in ids.items():
        text = text.replace("{" + name + "}", values[0])
    return json.loads(text)


def _changed(data: dict, key: str, value, drop: bool) -> dict:
    out = dict(data)
    if drop:
        out.pop(key, None)
    else:
        out[key] = value
    return out


def _mutate(seed: dict, values: st.SearchStrategy, vocab: list[str]) -> st.SearchStrategy:
    """The seed with one field (of its one top-level object) replaced, added or removed."""
    drop = st.sampled_from([False, False, False, True])
    top = next(iter(seed))
    if len(seed) > 1 or not isinstance(seed[top], dict):
        keys = st.sampled_from(sorted(seed)) | st.sampled_from(vocab)
        return st.builds(lambda k, v, d: _changed(seed, k, v, d), keys, values, drop)
    inner = seed[top]
    keys = st.sampled_from(sorted(inner) or vocab) | st.sampled_from(vocab)
    return st.builds(lambda k, v, d: {top: _changed(inner, k, v, d)}, keys, values, drop)


def _singular(segment: str) -> str:
    name = segment.removeprefix("os-").replace("-", "_")
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") else name


def body_keys(template: str) -> list[str]:
    """Plausible top-level body keys for a route: its resource nouns, singular."""
    literal = [seg for seg in template.split("/") if seg and "{" not in seg]
    keys = {_singular(seg) for seg in literal[-2:]}
    keys |= {"volume_type" if k == "type" else k for k in keys}
    return sorted(keys)


@dataclass
class RouteCase:
    service: str
    template: str
    method: str
    vocab: list[str] = field(default_factory=list)


@dataclass
class Target:
    """What the runner needs: the cloud, three callers and a pool of real ids per name."""

    clients: dict[str, ApiClient | None]
    ids: dict[str, list[str]]
    cases: list[RouteCase] = field(default_factory=list)


def all_cases(cloud) -> list[RouteCase]:
    cases = []
    for service, app in cloud.apps.items():
        seen = set()
        for route in app.router.routes:
            if "{project_id}" in route.template:
                continue  # the same handlers as the unprefixed routes
            for method in route.methods:
                if (route.template, method) not in seen:
                    seen.add((route.template, method))
                    cases.append(RouteCase(service, route.template, method,
                                           handler_vocabulary(route.methods[method])))
    return cases


_STRATEGIES: dict[tuple[int, str, str], st.SearchStrategy] = {}


def requests_for(case: RouteCase, target: Target) -> st.SearchStrategy:
    """A strategy of (caller, path, query, body) for one route (built once per route)."""
    key = (id(target), case.template, case.method)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _requests_for(case, target)
    return _STRATEGIES[key]


def _requests_for(case: RouteCase, target: Target) -> st.SearchStrategy:
    all_ids = sorted({i for v in target.ids.values() for i in v})
    params = _PARAM.findall(case.template)

    def segment(name: str) -> st.SearchStrategy:
        real = target.ids.get(name) or all_ids
        return st.one_of(st.sampled_from(real), st.sampled_from(HOSTILE_TEXT).map(
            lambda t: t if t.startswith("%") else quote(t, safe="")),
                         st.text(min_size=1, max_size=10).map(lambda t: quote(t, safe="")))

    path = st.fixed_dictionaries({p: segment(p) for p in params}).map(
        lambda values: _fill(case.template, values))
    query = st.lists(st.tuples(st.sampled_from(VOCAB + ["name", "limit", "marker",
                                                        "changes-before", "sort"]),
                               st.one_of(st.sampled_from(HOSTILE_TEXT + all_ids),
                                         st.text(max_size=8))),
                     max_size=3)
    values = json_values(all_ids)
    vocab = case.vocab or VOCAB
    keys = body_keys(case.template) + vocab
    fields = st.dictionaries(st.sampled_from(vocab), values, max_size=6)
    seeds = [_mutate(seed, values, vocab) for seed in _seed_bodies(case, target.ids)]
    if seeds:
        # Mostly one field off a valid body: that is where handlers trust their input.
        return st.tuples(st.sampled_from(sorted(target.clients)), path, query,
                         st.one_of(*seeds, *seeds, *seeds, st.one_of(
                             st.none(), values, fields,
                             st.builds(lambda k, v: {k: v}, st.sampled_from(keys), fields))))
    body = st.one_of(
        st.none(), values,
        st.dictionaries(st.sampled_from(keys), fields, min_size=1, max_size=2),
        st.builds(lambda k, v: {k: v}, st.sampled_from(keys), fields),
        st.builds(lambda k, v: {k: v}, st.sampled_from(keys), values),
        fields,
        st.just("deep").map(lambda _: "[" * 100_000 + "]" * 100_000),
        st.sampled_from(["1", "nul", "{", '"x"', "[1]"]))
    return st.tuples(st.sampled_from(sorted(target.clients)), path, query, body)


def _fill(template: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: values[m.group(1)], template)


def call(target: Target, case: RouteCase, caller: str, path: str, query, body) -> int:
    """One request; returns the status."""
    client = target.clients[caller]
    qs = "&".join(f"{quote(k)}={quote(v, safe='%')}" for k, v in query)
    req = webob.Request.blank(path + ("?" + qs if qs else ""), method=case.method)
    req.headers["Accept"] = "application/json"
    if case.service in ("compute", "volume"):
        req.headers["OpenStack-API-Version"] = f"{case.service} latest"
    if body is not None:
        req.body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req.content_type = ("application/openstack-images-v2.1-json-patch"
                            if case.method == "PATCH" and case.service == "image"
                            else "application/json")
    if client is not None:
        req.headers["X-Auth-Token"] = client.token
    cloud = next(c for c in target.clients.values() if c is not None).cloud
    return req.get_response(cloud.apps[case.service]).status_int


def _ok(resp, *codes) -> dict:
    assert resp.status in (codes or (200, 201, 202)), resp
    return resp.json if resp.body else {}


def make_target(cloud) -> Target:
    """Resources of every kind, owned by a fuzz project, so ids in paths are real."""
    admin = ApiClient(cloud)
    ids: dict[str, list[str]] = {}

    def add(name: str, value: str) -> str:
        ids.setdefault(name, []).append(value)
        return value

    def ident(path: str, key: str, body: dict) -> str:
        return _ok(admin.request("identity", "POST", path, {key: body}))[key]["id"]

    project = add("target_id", ident("/v3/projects", "project", {"name": "fuzzp"}))
    ids["project_id_q"] = ids["target_project"] = [project]
    user = add("user_id", ident("/v3/users", "user", {"name": "fuzzu", "password": "pw",
                                                      "default_project_id": project}))
    role = add("role_id", ident("/v3/roles", "role", {"name": "fuzzr"}))
    ids["prior_role_id"] = ids["implied_role_id"] = [role]
    add("group_id", ident("/v3/groups", "group", {"name": "fuzzg"}))
    service = add("service_id", ident("/v3/services", "service", {"type": "fuzz"}))
    ids["entity_id"] = [project, user, role, service, "RegionOne", "default"]
    cred = _ok(admin.request("identity", "POST", "/v3/credentials", {"credential": {
        "type": "ec2", "user_id": admin.user_id or admin.login() and admin.user_id,
        "project_id": admin.project_id, "blob": json.dumps({"access": "fa", "secret": "s"})}}))
    add("credential_id", cred["credential"]["id"])
    add("access", "fa")
    # compute
    add("flavor_id", "1")
    add("key", "hw:cpu_policy")
    agg = _ok(admin.request("compute", "POST", "/v2.1/os-aggregates",
                            {"aggregate": {"name": "fuzza", "availability_zone": "fz"}}))
    add("aggregate_id", str(agg["aggregate"]["id"]))
    group = _ok(admin.request("compute", "POST", "/v2.1/os-server-groups", {
        "server_group": {"name": "fuzzsg", "policies": ["affinity"]}}))
    add("group_id", group["server_group"]["id"])
    add("hypervisor_id", "1")
    add("pattern", "controller")
    add("quota_class", "default")
    # block storage
    vt = _ok(admin.request("volume", "POST", "/v3/types",
                           {"volume_type": {"name": "fuzzt", "os-volume-type-access:is_public":
                                            False}}))
    add("type_id", vt["volume_type"]["id"])
    vol = _ok(admin.request("volume", "POST", "/v3/volumes", {"volume": {"size": 1}}))
    volume_id = add("volume_id", vol["volume"]["id"])
    _wait(admin, "volume", f"/v3/volumes/{volume_id}", "volume", "available")
    vol2 = _ok(admin.request("volume", "POST", "/v3/volumes", {"volume": {"size": 1}}))
    _wait(admin, "volume", f"/v3/volumes/{vol2['volume']['id']}", "volume", "available")
    att = _ok(admin.request("volume", "POST", "/v3/attachments", {"attachment": {
        "volume_uuid": vol2["volume"]["id"], "instance_uuid": volume_id}},
        headers={"OpenStack-API-Version": "volume 3.27"}))
    add("attachment_id", att["attachment"]["id"])
    snap = _ok(admin.request("volume", "POST", "/v3/snapshots",
                             {"snapshot": {"volume_id": volume_id}}))
    add("snapshot_id", snap["snapshot"]["id"])
    add("action", "disable")
    add("kind", "projects")
    # image
    img = _ok(admin.request("image", "POST", "/v2/images",
                            {"name": "fuzzi", "disk_format": "raw", "container_format": "bare"}))
    add("image_id", img["id"])
    up = admin.request("image", "PUT", f"/v2/images/{img['id']}/file", raw=b"\0" * 512,
                       headers={"Content-Type": "application/octet-stream"})
    assert up.status == 204, up
    server = _ok(admin.request("compute", "POST", "/v2.1/servers", {"server": {
        "name": "fuzzs", "imageRef": img["id"], "flavorRef": "1", "networks": "none"}},
        headers={"OpenStack-API-Version": "compute 2.37"}))
    add("server_id", server["server"]["id"])
    _wait(admin, "compute", f"/v2.1/servers/{server['server']['id']}", "server", "ACTIVE")
    add("member_id", project)
    add("tag", "t1")
    add("namespace", "OS::Compute::Libvirt")
    demo = ApiClient(cloud, "demo", "demo")
    demo.login()
    return Target(clients={"admin": admin, "member": demo, "anonymous": None}, ids=ids,
                  cases=all_cases(cloud))


def _wait(client: ApiClient, service: str, path: str, key: str, status: str) -> None:
    import time
    for _ in range(200):
        if client.get(service, path).json[key]["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never became {status}")


def run_case(target: Target, case: RouteCase, examples: int, seed: int = 0) -> list[tuple]:
    """``examples`` generated requests to one route (fixed seed); returns the 5xx answers."""
    failures: list[tuple] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                         phases=[hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(requests_for(case, target))
    def one(request):
        caller, path, query, body = request
        status = call(target, case, caller, path, query, body)
        if status >= 500:
            failures.append((status, case.service, case.method, case.template,
                             caller, path, query, str(body)[:300]))

    one()
    return failures
