"""Cinder os-quota-class-sets: the default class, per-type keys, admin policy, texts
(cinder/api/contrib/quota_classes.py, cinder/api/validation/validators.py)."""

from __future__ import annotations

MV = {"OpenStack-API-Version": "volume 3.71"}
URL = "/v3/os-quota-class-sets"


def test_show_default_class_has_every_resource(api):
    resp = api.get("volume", f"{URL}/default", headers=MV)
    assert resp.status == 200, resp
    body = resp.json["quota_class_set"]
    # cinder.conf defaults (quota_volumes=10, ...) and the per-type keys of __DEFAULT__.
    assert body == {"id": "default", "volumes": 10, "snapshots": 10, "gigabytes": 1000,
                    "backups": 10, "backup_gigabytes": 1000, "groups": 10,
                    "per_volume_gigabytes": -1, "volumes___DEFAULT__": -1,
                    "snapshots___DEFAULT__": -1, "gigabytes___DEFAULT__": -1}


def test_update_default_class_applies_to_project_defaults(api, demo):
    t = api.post("volume", "/v3/types", {"volume_type": {"name": "gold"}}).json
    assert t["volume_type"]["name"] == "gold"
    wanted = {"volumes": 11, "gigabytes": "1001", "volumes_gold": 3, "snapshots_gold": 4,
              "gigabytes_gold": 5}
    resp = api.put("volume", f"{URL}/default", {"quota_class_set": wanted}, headers=MV)
    assert resp.status == 200, resp
    body = resp.json["quota_class_set"]
    assert "id" not in body
    assert body["volumes"] == 11 and body["gigabytes"] == 1001 and body["volumes_gold"] == 3
    assert body["snapshots"] == 10
    for project in (api.project_id, demo.project_id):
        q = api.get("volume", f"/v3/os-quota-sets/{project}/defaults").json["quota_set"]
        assert (q["volumes"], q["gigabytes"], q["gigabytes_gold"]) == (11, 1001, 5)
    limits = demo.get("volume", "/v3/limits").json["limits"]["absolute"]
    assert limits["maxTotalVolumes"] == 11
    # Another class starts from the defaults (which now include the default class).
    other = api.get("volume", f"{URL}/gold-class").json["quota_class_set"]
    assert other["id"] == "gold-class" and other["volumes"] == 11


def test_quota_classes_are_admin_only(demo):
    resp = demo.get("volume", f"{URL}/default")
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == \
        "Policy doesn't allow volume_extension:quota_classes:get to be performed."
    resp = demo.put("volume", f"{URL}/default", {"quota_class_set": {"volumes": 1}})
    assert resp.status == 403
    assert resp.json["forbidden"]["message"] == \
        "Policy doesn't allow volume_extension:quota_classes:update to be performed."


def test_update_validation_texts(api):
    def put(body, name="default"):
        resp = api.put("volume", f"{URL}/{name}", body)
        assert resp.status == 400, resp
        return resp.json["badRequest"]["message"]

    assert put({"quota_class_set": {"volumes": 1, "bogus": 2}}) == \
        "Invalid input received: Bad key(s) in quota class set: bogus"
    assert put({"quota_class_set": {"volumes": "ten"}}) == \
        "Invalid input for field/attribute volumes. Value: ten. 'ten' does not match '^[0-9]*$'"
    assert put({"quota_class_set": {"volumes": -2}}) == \
        "Invalid input for field/attribute volumes. Value: -2. -2 is less than the minimum of -1"
    assert put({"quota": {}}) == "'quota_class_set' is a required property"
    assert put({"quota_class_set": {"volumes": 1}}, "x" * 256) == \
        "Invalid input received: quota_class_name has 256 characters, more than 255."


def test_limits_of_answers_what_limits_answers(api, demo):
    """The create path's one-statement lookup (quota.limits_of) agrees with limits():
    default class values (for per-type keys only of types that exist), project values."""
    from stackling.db.models_volume import Quota
    from stackling.volume.objects import quota

    assert api.post("volume", "/v3/types", {"volume_type": {"name": "gold"}}).status == 200
    demo.login()
    cloud = api.cloud
    with cloud.db.writer() as s:
        for owner, res, value in (
                ("quota_class:default", "volumes", 7), ("quota_class:default", "gigabytes_gold", 5),
                ("quota_class:default", "volumes_gone", 2),   # a type that does not exist
                ("quota_class:default", "per_volume_gigabytes", 40),
                (demo.project_id, "gigabytes", 50), (demo.project_id, "snapshots_gone", 1)):
            s.add(Quota(project_id=owner, resource=res, hard_limit=value))
    asked = ["volumes", "gigabytes", "snapshots", "per_volume_gigabytes", "volumes_gold",
             "gigabytes_gold", "volumes_gone", "snapshots_gone", "volumes___DEFAULT__"]
    with cloud.db.reader() as s:
        for project in (api.project_id, demo.project_id):
            full = quota.limits(cloud, s, project)
            got = quota.limits_of(cloud, s, project, asked)
            assert set(got) <= set(asked)   # what it leaves out is unlimited (-1)
            assert {r: got.get(r, -1) for r in asked} == {r: full.get(r, -1) for r in asked}
            assert got["per_volume_gigabytes"] == 40 and got["gigabytes_gold"] == 5
    # per_volume_gigabytes now from the default class: the create path checks it.
    resp = demo.post("volume", f"/v3/{demo.project_id}/volumes", {"volume": {"size": 41}})
    assert resp.status == 413, resp
    assert "41" in resp.json["overLimit"]["message"]
