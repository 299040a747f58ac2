"""The service-to-service sender over a real loopback socket (stackling/seams/http.py):
what reaches the other service, what comes back, pooled connections, and keystoneauth's
exception when nothing answers."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
from keystoneauth1 import exceptions as ksa_exceptions

from stackling import clients
from stackling.seams.http import HttpSender, direct_file


class FakeSession:
    """What HttpSender asks of keystoneauth: the catalog's endpoint and the service token."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get_endpoint(self, service_type, interface, region_name):
        assert (service_type, interface) == ("volumev3", "public")
        return self.url + "/v3/some-project"

    def get_token(self):
        return "service-token"


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as cheroot serves
    seen: list[dict] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"method": self.command, "path": self.path, "body": body,
                          "headers": dict(self.headers), "peer": self.client_address,
                          "hosts": self.headers.get_all("Host")})
        status, out = (404, {"itemNotFound": {"code": 404, "message": "Volume x could "
                                              "not be found."}}) \
            if self.path.endswith("/missing") else (200, {"volume": {"status": "creating"}})
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-openstack-request-id", "req-1")
        self.send_header("Vary", "OpenStack-API-Version")
        self.send_header("Vary", "Accept")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class Cloud:
    def __init__(self, sender):
        self._sender = sender

    def sender(self, project):
        return self._sender


def test_the_request_reaches_the_service_with_both_tokens_and_the_answer_comes_back(server):
    client = clients.ServiceClient(Cloud(HttpSender(FakeSession(server))), "volume",
                                   "user-token", microversion="3.44")
    status, body, headers = client.request("POST", "/v3/p/volumes?x=1", {"volume": {"size": 1}})
    assert (status, body) == (200, {"volume": {"status": "creating"}})
    assert headers["x-openstack-request-id"] == "req-1"
    assert headers["Vary"] == "OpenStack-API-Version, Accept"   # repeated headers joined
    seen = Recorder.seen[0]
    assert (seen["method"], seen["path"]) == ("POST", "/v3/p/volumes?x=1")
    assert json.loads(seen["body"]) == {"volume": {"size": 1}}
    h = seen["headers"]
    assert h["X-Auth-Token"] == "user-token"
    assert h["X-Service-Token"] == "service-token"
    assert h["Openstack-Api-Version"] == "volume 3.44"   # webob spells it so
    assert h["Content-Type"] == "application/json"
    assert h["Content-Length"] == str(len(seen["body"]))
    assert len(seen["hosts"]) == 1 and seen["hosts"][0] == server.split("//")[1]


def test_an_error_answer_is_an_api_error_with_the_service_message(server):
    client = clients.ServiceClient(Cloud(HttpSender(FakeSession(server))), "volume", "t")
    with pytest.raises(clients.ApiError) as err:
        client.get("/v3/p/volumes/missing")
    assert (err.value.status, err.value.message, err.value.request_id) == \
        (404, "Volume x could not be found.", "req-1")


def test_calls_reuse_one_kept_alive_connection(server):
    client = clients.ServiceClient(Cloud(HttpSender(FakeSession(server))), "volume", "t")
    for _ in range(5):
        client.get("/v3/p/volumes/v")
    assert len({seen["peer"] for seen in Recorder.seen}) == 1
    assert len(Recorder.seen) == 5


def test_nothing_listening_is_keystoneauths_connect_failure():
    with socket.socket() as s:          # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        client = clients.ServiceClient(Cloud(HttpSender(FakeSession(url))), "volume", "t")
        with pytest.raises(ksa_exceptions.ConnectFailure) as err:
            client.get("/v3/p/volumes/v")
    assert str(err.value).startswith(f"Unable to establish connection to {url}/v3/p/volumes/v: ")


class DropsFirst(Recorder):
    """Closes the first connection without an answer: a kept-alive connection the server
    closed just as the client sent on it ('Remote end closed connection without
    response', seen in a --spread bench of cinder-volume fetching an image)."""

    dropped = 0

    def _answer(self):
        if DropsFirst.dropped == 0:
            DropsFirst.dropped += 1
            self.close_connection = True
            return
        super()._answer()

    do_GET = do_POST = _answer


@pytest.fixture
def dropping_server():
    Recorder.seen, DropsFirst.dropped = [], 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DropsFirst)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_a_call_that_got_no_answer_is_sent_again_as_the_option_says(dropping_server,
                                                                     monkeypatch):
    """Nova's ``[cinder] http_retries`` (keystoneauth's connect_retries: 0.5 s, doubling);
    with none left, keystoneauth's ConnectFailure."""
    from stackling.seams.http import Retries

    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    sender = HttpSender(FakeSession(dropping_server), retries={"volume": Retries(3)})
    client = clients.ServiceClient(Cloud(sender), "volume", "t")
    assert client.get("/v3/p/volumes/v") == {"volume": {"status": "creating"}}
    assert waits == [0.5] and len(Recorder.seen) == 1

    DropsFirst.dropped = 0
    never = clients.ServiceClient(Cloud(HttpSender(FakeSession(dropping_server))),
                                  "volume", "t")
    with pytest.raises(ksa_exceptions.ConnectFailure):
        never.get("/v3/p/volumes/v")
    assert waits == [0.5]


def test_image_data_is_fetched_again_when_glance_gave_no_answer(tmp_path, monkeypatch):
    """Cinder's ``glance_num_retries``: 1 s apart, then the failure."""
    from stackling.seams.http import HttpImageData, Retries

    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)

    class Answer:
        status_code = 200

        def iter_content(self, chunk):
            yield b"image bytes"

        def close(self):
            pass

    class Session:
        def __init__(self, failures):
            self.failures, self.calls = failures, 0

        def get(self, url, stream, raise_exc):
            self.calls += 1
            if self.calls <= self.failures:
                raise ksa_exceptions.ConnectFailure("Unable to establish connection")
            return Answer()

    class Sender:
        def __init__(self, failures):
            self.session = Session(failures)
            self.retries = {"image": Retries(2, first_wait=1.0, factor=1.0)}

        def root(self, service):
            return "http://glance"

    data = HttpImageData(Sender(2))
    with data.local_file("img", tmp_path) as path:
        assert path.read_bytes() == b"image bytes"
    assert waits == [1.0, 1.0]
    with pytest.raises(ksa_exceptions.ConnectFailure), \
            HttpImageData(Sender(3)).local_file("img", tmp_path):
        pass
    assert waits == [1.0, 1.0, 1.0, 1.0]


def test_direct_file_only_for_an_allowed_local_file(tmp_path):
    """cinder-volume reads a direct_url itself only when the file scheme is allowed, the
    location is on this machine and the file is there; otherwise it downloads."""
    data = tmp_path / "images dir" / "3f1c"
    data.parent.mkdir()
    data.write_bytes(b"disk")
    image = {"id": "3f1c", "direct_url": data.as_uri()}
    assert "%20" in image["direct_url"]
    assert direct_file(image, ["file"]) == data
    assert direct_file(image, []) is None
    assert direct_file(image, ["http", "rbd"]) is None
    assert direct_file({"id": "3f1c"}, ["file"]) is None
    assert direct_file({"direct_url": "rbd://fsid/images/3f1c/snap"}, ["file"]) is None
    assert direct_file({"direct_url": f"file://otherhost{data}"}, ["file"]) is None
    assert direct_file({"direct_url": (tmp_path / "gone").as_uri()}, ["file"]) is None
    assert direct_file({"direct_url": data.parent.as_uri()}, ["file"]) is None
