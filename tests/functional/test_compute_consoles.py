"""Remote consoles end to end: tokens, /os-console-auth-tokens, spice-direct (2.99), and
the noVNC websocket proxy relaying the fake guest's RFB handshake (what tempest's
test_novnc and test_spice check, over real sockets)."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
import urllib.request
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from stackling.compute import consoles
from tests.functional.test_compute_servers import boot, image, settled, v  # noqa: F401
from tests.helpers import free_port_offset


@pytest.fixture
def served(cloud):
    """The console listeners of ``cloud``, on free ports (the API ports' offset check
    does not cover theirs: retry elsewhere when one is taken)."""
    started = []
    for attempt in range(5):
        cloud.settings.port_offset = free_port_offset(1000 + 2000 * attempt)
        try:
            for listener in consoles.listeners(cloud):
                listener.start()
                started.append(listener)
            break
        except OSError:
            for listener in started:
                listener.stop()
            started = []
    assert started, "no free ports for the console listeners"
    yield cloud
    for listener in started:
        listener.stop()


def _console(api, sid, protocol, kind, version="2.99"):
    return api.post("compute", f"/v2.1/servers/{sid}/remote-consoles",
                    {"remote_console": {"protocol": protocol, "type": kind}},
                    headers=v(version))


class _WebSocket:
    """A client as tempest's: upgrade, unmasked frames in, masked frames out."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        path = parse_qs(parts.query)["path"][0]
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.sock.sendall(
            f"GET /{path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: binary\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(4096)
        self.response, self.cached = data.split(b"\r\n\r\n", 1)

    def _recv(self, size: int) -> bytes:
        while len(self.cached) < size:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.cached += chunk
        out, self.cached = self.cached[:size], self.cached[size:]
        return out

    def receive(self) -> bytes | None:
        header = self._recv(2)
        return self._recv(header[1] & 127) if len(header) == 2 else None

    def send(self, data: bytes) -> None:
        mask = bytes((7, 2, 1, 9))
        self.sock.sendall(bytes((130, len(data) | 128)) + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def test_novnc_page_websocket_and_rfb_handshake(served, api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    resp = _console(api, sid, "vnc", "novnc", "2.6")
    assert resp.status == 200, resp
    url = resp.json["remote_console"]["url"]
    page = urllib.request.urlopen(url, timeout=5).read().decode()
    assert "<html" in page and "</html>" in page and "noVNC" in page and "<script" in page
    ws = _WebSocket(url)
    assert ws.response.startswith(b"HTTP/1.1 101 Switching Protocols")
    assert b"upgrade: websocket" in ws.response.lower()
    # Sec-WebSocket-Accept of RFC 6455's example key
    assert b"Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=" in ws.response
    version = ws.receive()
    assert version == b"RFB 003.008\n"
    ws.send(version)
    assert ws.receive() == b"\x01\x01"            # security types: [None]
    ws.send(b"\x01")
    assert ws.receive() == b"\0\0\0\0"            # security result: OK
    ws.send(b"\x01")                              # ClientInit, shared
    init = ws.receive()
    assert len(init) > 24 and len(init) == struct.unpack(">L", init[20:24])[0] + 24
    ws.sock.close()


def test_novnc_bad_token_is_upgraded_then_closed(served, api, image):  # noqa: F811
    sid = boot(api, image).json["server"]["id"]
    settled(api, sid)
    url = _console(api, sid, "vnc", "novnc", "2.6").json["remote_console"]["url"]
    parts = urlsplit(url)
    path = unquote(parse_qs(parts.query)["path"][0]).replace("token=", "token=bad")
    ws = _WebSocket(parts._replace(query=f"path={path}").geturl())
    assert ws.receive() is None
    ws.sock.close()


def test_spice_direct_at_299_and_its_token(served, api, demo, image):  # noqa: F811
    sid = boot(demo, image).json["server"]["id"]
    settled(demo, sid)
    # spice-direct is in the type enum from 2.99 (appended last, as Nova)
    old = _console(demo, sid, "spice", "spice-direct", "2.98")
    assert old.status == 400
    assert old.json["badRequest"]["message"].endswith(
        "'spice-direct' is not one of ['novnc', 'xvpvnc', 'spice-html5', 'serial', "
        "'rdp-html5', 'webmks']")
    mismatch = _console(demo, sid, "vnc", "spice-direct")
    assert mismatch.status == 400
    assert mismatch.json["badRequest"]["message"] == "Invalid console type spice-direct"
    resp = _console(demo, sid, "spice", "spice-direct")
    assert resp.status == 200, resp
    body = resp.json["remote_console"]
    assert (body["protocol"], body["type"]) == ("spice", "spice-direct")
    parts = urlsplit(body["url"])
    assert parts.path == "/nova"
    token = parse_qs(parts.query)["token"][0]
    # the token's details are for proxies: admin only, 2.31+, tls_port from 2.99
    path = f"/v2.1/os-console-auth-tokens/{token}"
    assert demo.get("compute", path, headers=v("2.99")).status == 403
    assert api.get("compute", path, headers=v("2.30")).status == 400
    without_tls = api.get("compute", path, headers=v("2.98")).json["console"]
    assert "tls_port" not in without_tls
    details = api.get("compute", path, headers=v("2.99"))
    assert details.status == 200, details
    console = details.json["console"]
    assert console["instance_uuid"] == sid and console["internal_access_path"] is None
    assert "tls_port" in console
    missing = api.get("compute", "/v2.1/os-console-auth-tokens/nope", headers=v("2.99"))
    assert missing.status == 404
    assert missing.json["itemNotFound"]["message"] == "Token not found"
    # the fake guest's SPICE server answers a link message with no error
    with socket.create_connection((console["host"], console["port"]), timeout=5) as sock:
        sock.sendall(struct.pack("<4sIIIIBBIIIII", b"REDQ", 2, 2, 26, 0, 1, 0, 1, 1, 18,
                                 11, 9))
        reply = sock.recv(20)
    assert struct.unpack_from("<4sIIII", reply) == (b"REDQ", 2, 2, 182, 0)


# -- tokens in the database: every process sees them ------------------------------------


@pytest.fixture
def shared(cloud_factory, tmp_path):
    """Two clouds on one SQLite file, as two nova-api processes on one database."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = cloud_factory(nova="[consoleauth]\ntoken_ttl = 2\n", database_url=url)
    second = cloud_factory(database_url=url)
    return first, second


def _proxy(tmp_path, database_url: str):
    """A process running only nova-novncproxy on that database, serving its listeners."""
    from stackling.cloud import Cloud
    from stackling.settings import Settings
    from tests.helpers import write_config

    write_config(tmp_path / "proxy-etc")
    proxy = Cloud(Settings(data_dir=tmp_path / "proxy", config_dir=tmp_path / "proxy-etc",
                           database_url=database_url, only="nova-novncproxy"))
    assert proxy.setup() == "current"
    proxy.start()
    assert proxy.apps == {}
    for attempt in range(5):
        proxy.settings.port_offset = free_port_offset(1000 + 2000 * attempt)
        try:
            proxy.serve()
            break
        except OSError:
            continue
    assert {s.name for s in proxy.servers} == set(consoles.LISTENING)
    return proxy


def test_token_issued_by_one_process_is_valid_in_another_and_the_proxy(shared, tmp_path):
    from sqlalchemy import select

    from stackling.db.models_compute import ConsoleAuthToken
    from tests.functional.test_bfv import upload_image
    from tests.helpers import ApiClient

    first, second = shared
    one, two = ApiClient(first), ApiClient(second)
    sid = boot(one, upload_image(one)).json["server"]["id"]
    settled(one, sid)
    # nova-novncproxy in a process of its own (with the fake hypervisors' consoles); the
    # processes of one cloud share its ports
    proxy = _proxy(tmp_path, first.settings.database_url)
    first.settings.port_offset = proxy.settings.port_offset
    try:
        url = _console(one, sid, "vnc", "novnc", "2.6").json["remote_console"]["url"]
        token = unquote(parse_qs(urlsplit(url).query)["path"][0]).split("token=")[1]
        # stored as Nova stores it: the sha256 of the token, never the token itself
        with first.db.reader() as s:
            [row] = s.scalars(select(ConsoleAuthToken)).all()
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert token not in repr([getattr(row, c.key)
                                      for c in ConsoleAuthToken.__table__.c])
            assert (row.instance_uuid, row.console_type) == (sid, "novnc")
            assert row.access_url_base == url.split("?")[0]
        # the other nova-api process answers for it
        path = f"/v2.1/os-console-auth-tokens/{token}"
        details = two.get("compute", path, headers=v("2.31"))
        assert details.status == 200, details
        assert details.json["console"]["instance_uuid"] == sid
        assert details.json["console"]["port"] == consoles.PORTS["vnc"] + \
            proxy.settings.port_offset
        # the proxy relays the console for it
        ws = _WebSocket(url)
        assert ws.response.startswith(b"HTTP/1.1 101 Switching Protocols")
        assert ws.receive() == b"RFB 003.008\n"
        ws.sock.close()
        # [consoleauth] token_ttl (2 s here): then the token is as good as none
        time.sleep(2.1)
        assert two.get("compute", path, headers=v("2.31")).status == 404
        expired = _WebSocket(url)
        assert expired.response.startswith(b"HTTP/1.1 101")
        assert expired.receive() is None          # upgraded, then closed
        expired.sock.close()
    finally:
        proxy.stop()
    # the next token for that host drops the expired row
    assert _console(one, sid, "spice", "spice-html5", "2.6").status == 200
    with first.db.reader() as s:
        assert [r.console_type for r in s.scalars(select(ConsoleAuthToken))] == \
            ["spice-html5"]


def test_deleting_a_server_removes_its_tokens(shared):
    from sqlalchemy import func, select

    from stackling.db.models_compute import ConsoleAuthToken
    from tests.functional.test_bfv import upload_image
    from tests.helpers import ApiClient, wait_for

    first, second = shared
    one, two = ApiClient(first), ApiClient(second)
    image_id = upload_image(one)
    keep, gone = (boot(one, image_id, name=n).json["server"]["id"] for n in ("a", "b"))
    settled(one, keep)
    settled(one, gone)
    tokens = {}
    for sid in (keep, gone):
        url = _console(one, sid, "serial", "serial", "2.6").json["remote_console"]["url"]
        assert url.startswith("ws://") and "/?token=" in url
        tokens[sid] = parse_qs(urlsplit(url).query)["token"][0]
    assert one.delete("compute", f"/v2.1/servers/{gone}").status == 204
    wait_for(lambda: one.get("compute", f"/v2.1/servers/{gone}").status == 404, timeout=10)
    path = "/v2.1/os-console-auth-tokens/{}"
    assert two.get("compute", path.format(tokens[gone]), headers=v("2.31")).status == 404
    assert two.get("compute", path.format(tokens[keep]), headers=v("2.31")).status == 200
    with second.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleAuthToken).where(
            ConsoleAuthToken.instance_uuid == gone)) == 0
