"""Nova's version documents: GET / lists v2.0 (deprecated) then v2.1; /v2 answers."""

from __future__ import annotations


def test_root_lists_v20_then_v21(api):
    resp = api.get("compute", "/", token=None)
    assert resp.status == 200
    versions = resp.json["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    v20, v21 = versions
    assert (v20["status"], v20["version"], v20["min_version"]) == ("DEPRECATED", "", "")
    assert (v21["status"], v21["min_version"], v21["version"]) == ("CURRENT", "2.1", "2.101")
    for doc in versions:
        assert set(doc) == {"id", "status", "version", "min_version", "updated", "links"}
        assert [link["rel"] for link in doc["links"]] == ["self"]


def test_each_self_link_answers_with_the_same_self_link(api):
    for listed in api.get("compute", "/", token=None).json["versions"]:
        href = listed["links"][0]["href"]
        path = "/" + href.split("/", 3)[3]
        resp = api.get("compute", path, token=None)
        assert resp.status == 200, (path, resp)
        doc = resp.json["version"]
        assert doc["id"] == listed["id"]
        assert [link for link in doc["links"] if link["rel"] == "self"] == listed["links"]
        assert doc["media-types"]
