"""The rebuild answer at each microversion (nova's ``_action_rebuild``), key_name at 2.54,
and OS-DCF:diskConfig kept and changed by create, update, rebuild and resize."""

from __future__ import annotations

from tests.functional.test_compute_networks import boot as boot_on, topology  # noqa: F401
from tests.functional.test_compute_servers import (  # noqa: F401
    LATEST, boot, confirmed, image, settled, v)


def _rebuild(client, sid, image, version, **extra):  # noqa: F811
    return client.post("compute", f"/v2.1/servers/{sid}/action",
                       {"rebuild": {"imageRef": image, **extra}}, headers=v(version))


def test_rebuild_view_by_microversion(demo, image, topology):  # noqa: F811
    sid = boot_on(demo, image, [{"uuid": topology["net"]["id"]}]).json["server"]["id"]
    assert settled(demo, sid)["status"] == "ACTIVE"
    old = _rebuild(demo, sid, image, "2.1")
    assert old.status == 202, old
    body = old.json["server"]
    # Before 2.75: no extended attributes, and addresses without their type and MAC.
    [address] = body["addresses"]["private"]
    assert set(address) == {"version", "addr"}
    assert not [k for k in body if k.startswith("OS-EXT-")] and "user_data" not in body
    settled(demo, sid)
    with_data = _rebuild(demo, sid, image, "2.57", user_data="aGVsbG8=")
    assert with_data.json["server"]["user_data"] == "aGVsbG8="
    settled(demo, sid)
    for version in ("2.75", "2.96", "2.100"):
        full = _rebuild(demo, sid, image, version).json["server"]
        assert full["user_data"] == "aGVsbG8="     # kept, and shown from 2.57 on
        [address] = full["addresses"]["private"]
        assert address["OS-EXT-IPS:type"] == "fixed" and "OS-EXT-IPS-MAC:mac_addr" in address
        settled(demo, sid)


def test_an_admins_rebuild_shows_user_data_once(api, image):  # noqa: F811
    sid = boot(api, image, user_data="aGk=").json["server"]["id"]
    assert settled(api, sid)["OS-EXT-SRV-ATTR:user_data"] == "aGk="   # GET, admin
    body = _rebuild(api, sid, image, "2.75").json["server"]
    assert body["user_data"] == "aGk=" and "OS-EXT-SRV-ATTR:user_data" not in body
    assert body["OS-EXT-SRV-ATTR:host"]      # the other extended attributes stay


def test_rebuild_with_a_key_name_at_254(demo, image):  # noqa: F811
    key = demo.post("compute", "/v2.1/os-keypairs", {"keypair": {"name": "k1"}})
    assert key.status == 200, key
    sid = boot(demo, image).json["server"]["id"]
    assert settled(demo, sid)["key_name"] is None
    resp = _rebuild(demo, sid, image, "2.54", key_name="k1")
    assert resp.status == 202, resp
    assert resp.json["server"]["key_name"] == "k1"
    assert settled(demo, sid)["key_name"] == "k1"
    unknown = _rebuild(demo, sid, image, "2.54", key_name="nope")
    assert unknown.status == 400 and unknown.json["badRequest"]["message"] == (
        "Invalid key_name provided.")
    dropped = _rebuild(demo, sid, image, "2.54", key_name=None)
    assert dropped.status == 202 and dropped.json["server"]["key_name"] is None
    before = _rebuild(demo, sid, image, "2.53", key_name="k1")
    assert before.status == 400 and "'key_name' was unexpected" in (
        before.json["badRequest"]["message"])


def _disk(client, sid):
    return settled(client, sid)["OS-DCF:diskConfig"]


def _update(client, sid, value):
    return client.put("compute", f"/v2.1/servers/{sid}",
                      {"server": {"OS-DCF:diskConfig": value}}, headers=LATEST)


def test_disk_config_on_create_update_and_rebuild(api, image):  # noqa: F811
    resp = boot(api, image, **{"OS-DCF:diskConfig": "AUTO"})
    assert resp.status == 202 and resp.json["server"]["OS-DCF:diskConfig"] == "AUTO"
    sid = resp.json["server"]["id"]
    assert _disk(api, sid) == "AUTO"
    updated = _update(api, sid, "MANUAL")
    assert updated.status == 200 and updated.json["server"]["OS-DCF:diskConfig"] == "MANUAL"
    assert _disk(api, sid) == "MANUAL"
    auto = _rebuild(api, sid, image, "2.100", **{"OS-DCF:diskConfig": "AUTO"})
    assert auto.json["server"]["OS-DCF:diskConfig"] == "AUTO" and _disk(api, sid) == "AUTO"
    # A rebuild that asks nothing takes the new image's setting (none: MANUAL).
    assert _rebuild(api, sid, image, "2.100").status == 202
    assert _disk(api, sid) == "MANUAL"
    bad = _update(api, sid, "auto")
    assert bad.status == 400 and "'auto' is not one of ['AUTO', 'MANUAL']" in (
        bad.json["badRequest"]["message"])
    plain = boot(api, image, name="plain")
    assert plain.json["server"]["OS-DCF:diskConfig"] == "MANUAL"


def test_disk_config_follows_the_image(api):
    def image_with(setting):
        resp = api.post("image", "/v2/images", {
            "name": f"img-{setting}", "disk_format": "qcow2", "container_format": "bare",
            "auto_disk_config": setting})
        api.request("image", "PUT", f"/v2/images/{resp.json['id']}/file", raw=b"\0" * 512,
                    headers={"Content-Type": "application/octet-stream"})
        return resp.json["id"]

    auto = boot(api, image_with("True"), name="a")
    assert auto.json["server"]["OS-DCF:diskConfig"] == "AUTO"
    disabled = image_with("disabled")
    refused = boot(api, disabled, name="b", **{"OS-DCF:diskConfig": "AUTO"})
    assert refused.status == 400 and refused.json["badRequest"]["message"] == (
        f"Requested image {disabled} has automatic disk resize disabled.")
    manual = boot(api, disabled, name="c")
    assert manual.status == 202 and manual.json["server"]["OS-DCF:diskConfig"] == "MANUAL"


def test_resize_sets_the_disk_config(api, image):  # noqa: F811
    sid = boot(api, image, **{"OS-DCF:diskConfig": "MANUAL"}).json["server"]["id"]
    settled(api, sid)

    def resize(flavor, **extra):
        resp = api.post("compute", f"/v2.1/servers/{sid}/action",
                        {"resize": {"flavorRef": flavor, **extra}}, headers=LATEST)
        assert resp.status == 202, resp
        assert settled(api, sid)["status"] == "VERIFY_RESIZE"
        answer = api.post("compute", f"/v2.1/servers/{sid}/action",
                          {"confirmResize": None}, headers=LATEST)
        assert answer.status == 204, answer
        assert confirmed(api, sid)["status"] == "ACTIVE"
        return _disk(api, sid)

    assert resize("2", **{"OS-DCF:diskConfig": "AUTO"}) == "AUTO"
    assert resize("3") == "MANUAL"      # nothing asked: Nova sets MANUAL


def test_resize_beyond_the_quota_is_403(api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    quota = api.get("compute", f"/v2.1/os-quota-sets/{api.project_id}").json["quota_set"]
    flavor = api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "huge", "ram": quota["ram"] + 1, "vcpus": 1, "disk": 1}}).json["flavor"]
    resp = api.post("compute", f"/v2.1/servers/{sid}/action",
                    {"resize": {"flavorRef": flavor["id"]}}, headers=LATEST)
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == (
        f"Quota exceeded for ram: Requested {quota['ram'] + 1 - 512}, but already used 512 "
        f"of {quota['ram']} ram")
    assert settled(api, sid)["status"] == "ACTIVE"
    cores = api.post("compute", "/v2.1/flavors", {"flavor": {
        "name": "wide", "ram": 512, "vcpus": quota["cores"] + 1, "disk": 1}}).json["flavor"]
    wide = api.post("compute", f"/v2.1/servers/{sid}/action",
                    {"resize": {"flavorRef": cores["id"]}}, headers=LATEST)
    assert wide.status == 403 and "Quota exceeded for cores" in (
        wide.json["forbidden"]["message"])
