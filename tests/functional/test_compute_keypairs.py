"""/os-keypairs over HTTP, in-process, by microversion; key_name on server create."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.functional.test_compute_servers import boot, image, settled, v  # noqa: F401

URL = "/v2.1/os-keypairs"


def create(client, version="2.2", **keypair):
    return client.post("compute", URL, {"keypair": keypair}, headers=v(version))


def ed25519_public() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def test_generated_ssh_key(api):
    resp = create(api, name="k1")
    assert resp.status == 201
    kp = resp.json["keypair"]
    assert kp["type"] == "ssh" and kp["name"] == "k1"
    assert kp["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert kp["public_key"].startswith("ssh-rsa ") and \
        kp["public_key"].endswith(" Generated-by-Nova")
    private = serialization.load_pem_private_key(kp["private_key"].encode(), None)
    assert private.key_size == 2048
    blob = base64.b64decode(kp["public_key"].split()[1])
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    assert kp["fingerprint"] == ":".join(md5[i:i + 2] for i in range(0, 32, 2))


def test_microversion_statuses_and_fields(api):
    old = create(api, version="2.1", name="old")
    assert old.status == 200 and "type" not in old.json["keypair"]
    assert api.delete("compute", f"{URL}/old", headers=v("2.1")).status == 202
    assert create(api, name="new").status == 201
    shown = api.get("compute", f"{URL}/new", headers=v("2.2")).json["keypair"]
    assert set(shown) == {"name", "public_key", "fingerprint", "user_id", "created_at",
                          "deleted", "deleted_at", "id", "updated_at", "type"}
    assert shown["deleted"] is False and shown["user_id"] == api.user_id
    listed = api.get("compute", URL, headers=v("2.2")).json["keypairs"]
    assert [set(k["keypair"]) for k in listed] == [{"name", "public_key", "fingerprint",
                                                    "type"}]
    assert api.delete("compute", f"{URL}/new", headers=v("2.2")).status == 204


def test_import_x509_and_errors(api):
    pub = ed25519_public()
    resp = create(api, name="ed", public_key=pub)
    assert resp.status == 201 and "private_key" not in resp.json["keypair"]
    assert resp.json["keypair"]["public_key"] == pub
    dup = create(api, name="ed", public_key=pub)
    assert dup.status == 409
    assert dup.json["conflictingRequest"]["message"] == "Key pair 'ed' already exists."
    bad = create(api, name="junk", public_key="ssh-rsa AAAA")
    assert bad.json["badRequest"]["message"] == \
        "Keypair data is invalid: failed to generate fingerprint"
    x509 = create(api, name="cert", type="x509")
    assert x509.status == 201
    assert x509.json["keypair"]["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    assert len(x509.json["keypair"]["fingerprint"].split(":")) == 20
    missing = api.get("compute", f"{URL}/nope", headers=v("2.2"))
    assert missing.status == 404
    assert missing.json["itemNotFound"]["message"] == \
        f"Keypair nope not found for user {api.user_id}"
    assert create(api, name="bad!").status == 400
    assert create(api, name="x", type="rsa").status == 400


def test_292_is_import_only_and_allows_at_and_dot(api):
    resp = create(api, version="2.92", name="a@b.c")
    assert resp.status == 400
    assert "'public_key' is a required property" in resp.json["badRequest"]["message"]
    assert create(api, version="2.92", name="a@b.c", public_key=ed25519_public()).status == 201
    assert create(api, version="2.91", name="x@y", public_key=ed25519_public()).status == 400


def test_admin_acts_for_another_user_from_210(api, demo):
    assert demo.token
    resp = create(api, version="2.10", name="for-demo", user_id=demo.user_id,
                  public_key=ed25519_public())
    assert resp.status == 201 and resp.json["keypair"]["user_id"] == demo.user_id
    mine = demo.get("compute", URL, headers=v("2.10")).json["keypairs"]
    assert [k["keypair"]["name"] for k in mine] == ["for-demo"]
    other = create(demo, version="2.10", name="x", user_id=api.user_id)
    assert other.status == 403
    shown = api.get("compute", f"{URL}/for-demo?user_id={demo.user_id}", headers=v("2.10"))
    assert shown.status == 200


def test_list_pages_from_235(api):
    for name in ("a", "b", "c"):
        create(api, name=name, public_key=ed25519_public())
    page = api.get("compute", f"{URL}?limit=2", headers=v("2.35")).json
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    assert "marker=b" in page["keypairs_links"][0]["href"]
    rest = api.get("compute", f"{URL}?limit=2&marker=b", headers=v("2.35")).json
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c"]
    bad = api.get("compute", f"{URL}?marker=zz", headers=v("2.35"))
    assert bad.status == 400


def test_server_key_name(api, image):  # noqa: F811
    unknown = boot(api, image, key_name="nope")
    assert unknown.status == 400
    assert unknown.json["badRequest"]["message"] == "Invalid key_name provided."
    create(api, name="mykey", public_key=ed25519_public())
    resp = boot(api, image, key_name="mykey")
    assert resp.status == 202, resp
    server = settled(api, resp.json["server"]["id"])
    assert server["key_name"] == "mykey"
