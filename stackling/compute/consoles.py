"""Remote consoles: the auth tokens, the fake hypervisor's VNC and SPICE servers and a
noVNC-compatible websocket proxy (nova/objects/console_auth_token.py,
nova/console/websocketproxy.py).

A console request gets a fresh token valid for ``[consoleauth] token_ttl`` (600 s)
that names the hypervisor's console endpoint; the database keeps its sha256
(compute/objects/console_auth_token.py), so every nova-api worker and the proxy see it.
``nova-novncproxy`` takes the token in its websocket URL (``/?token=...``), checks it
against the database, connects to that endpoint and relays bytes between websocket
frames and the TCP stream; a bad token gets the upgrade and a closed connection, nothing
else. The fake guests' VNC server answers the RFB 3.8
handshake (security type None, a 640x480 ServerInit); their SPICE server answers a
link message with a successful link reply (what ``spice-direct`` clients check).

The listeners run in the process that runs ``nova-novncproxy`` (the whole cloud in one
process; one child of ``start --spread``) when it serves: the proxy, and beside it the
fake hypervisors' VNC and SPICE servers (one pair for every fake host).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from stackling.compute.objects import console_auth_token
from stackling.compute.objects.console_auth_token import ConsoleAuth

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

# Our stand-ins' ports, before --port-offset: the proxies' defaults (nova/conf/vnc.py,
# spice.py, serial_console.py, mks.py) and the fake hypervisor's VNC/SPICE servers.
# Only novncproxy, vnc and spice listen; the others give their URLs their shape.
PORTS = {"novncproxy": 6080, "xvpvncproxy": 6081, "html5proxy": 6082, "serialproxy": 6083,
         "mksproxy": 6090, "spice-direct": 13002, "vnc": 5900, "spice": 5901,
         "serial": 10000, "mks": 5902}
# The ports something listens on (the others only shape URLs).
LISTENING = ("novncproxy", "vnc", "spice")
# console type -> (proxy, path of its access URL, the hypervisor's server)
_TYPES = {"novnc": ("novncproxy", "/vnc_auto.html", "vnc"),
          "xvpvnc": ("xvpvncproxy", "/console", "vnc"),
          "spice-html5": ("html5proxy", "/spice_auto.html", "spice"),
          "spice-direct": ("spice-direct", "/nova", "spice"),
          "serial": ("serialproxy", "/", "serial"),
          "webmks": ("mksproxy", "/mks.html", "mks")}


def _port(cloud: Cloud, name: str) -> int:
    return PORTS[name] + cloud.settings.port_offset


def authorize(cloud: Cloud, instance_uuid: str, console_type: str) -> str:
    """A new token for the server's console, stored hashed in the database; the access
    URL the client is given (``ConsoleAuthToken.access_url``)."""
    proxy, path, server = _TYPES[console_type]
    host = cloud.settings.host
    scheme = "ws" if console_type == "serial" else "http"
    base = f"{scheme}://{host}:{_port(cloud, proxy)}{path}"
    auth = console_auth_token.authorize(
        cloud, cloud.config.nova.consoleauth.token_ttl, instance_uuid=instance_uuid,
        console_type=console_type, host=host, port=_port(cloud, server),
        access_url_base=base)
    # noVNC takes the websocket path as a query parameter
    if console_type == "novnc":
        return f"{base}?{urlencode({'path': f'?token={auth.token}'})}"
    return f"{base}?token={auth.token}"


def validate(cloud: Cloud, token: str) -> ConsoleAuth | None:
    """The token's console while it has not expired, whichever process issued it."""
    return console_auth_token.validate(cloud, token)


# -- sockets -------------------------------------------------------------------------


def _read(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes; ConnectionError when the peer closes first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _drain(sock: socket.socket) -> None:
    while sock.recv(4096):
        pass


def vnc_guest(sock: socket.socket) -> None:
    """A fake guest's VNC server: RFB 3.8, security None, then a ServerInit."""
    sock.sendall(b"RFB 003.008\n")
    _read(sock, 12)
    sock.sendall(b"\x01\x01")                       # one security type: None
    _read(sock, 1)
    sock.sendall(struct.pack(">I", 0))              # SecurityResult: OK
    _read(sock, 1)                                  # ClientInit
    name = b"stackling fake guest"
    pixel_format = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
    sock.sendall(struct.pack(">HH", 640, 480) + pixel_format +
                 struct.pack(">I", len(name)) + name)
    _drain(sock)


def spice_guest(sock: socket.socket) -> None:
    """A fake guest's SPICE server: a SpiceLinkReply with no error to a SpiceLinkMess."""
    magic, _, _, size = struct.unpack("<4sIII", _read(sock, 16))
    _read(sock, size)
    if magic != b"REDQ":
        return
    # error, an empty 1024-bit RSA public key, one common caps word, no channel caps
    body = struct.pack("<I", 0) + bytes(162) + struct.pack("<IIII", 1, 0, 178, 0b1011)
    sock.sendall(struct.pack("<4sIII", b"REDQ", 2, 2, len(body)) + body)
    _drain(sock)


# -- the websocket proxy ---------------------------------------------------------------

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NOVNC_PAGE = (b"<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
              b"<title>noVNC</title>\n<script type=\"module\">\n"
              b"// noVNC's client is not bundled: this stackling proxy serves its "
              b"websocket (path ?token=...) only.\n</script>\n</head>\n"
              b"<body><p>noVNC console proxy (stackling)</p></body>\n</html>\n")


def _request(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """The request target, its headers (lower-case names) and what followed them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 65536:
            raise ConnectionError("no request")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return (parts[1] if len(parts) > 1 else "/"), headers, rest


def _token(target: str, headers: dict[str, str]) -> str:
    """``new_websocket_client``: the ``token`` query parameter, else the cookie."""
    token = parse_qs(urlsplit(target).query).get("token", [""])[-1]
    if token:
        return token
    for part in headers.get("cookie", "").split(";"):
        cookie = SimpleCookie()
        try:
            cookie.load(part.strip())
        except CookieError:
            continue
        if "token" in cookie:
            token = cookie["token"].value
    return token


def _respond(sock: socket.socket, status: str, body: bytes, kind: str) -> None:
    sock.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: "
                 f"{len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def _upgrade(sock: socket.socket, headers: dict[str, str]) -> None:
    accept = base64.b64encode(hashlib.sha1(
        (headers.get("sec-websocket-key", "") + _WS_GUID).encode()).digest()).decode()
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]
    if "binary" in headers.get("sec-websocket-protocol", ""):
        lines.append("Sec-WebSocket-Protocol: binary")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


class _Frames:
    """Reads client websocket frames (masked) from a socket, after ``pending`` bytes."""

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self.sock, self.pending = sock, pending

    def _take(self, size: int) -> bytes:
        while len(self.pending) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.pending += chunk
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def next(self) -> bytes | None:
        """The next data payload; None at a close frame."""
        while True:
            first, second = self._take(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._take(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._take(8))[0]
            mask = self._take(4) if second & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._take(size)))
            opcode = first & 0x0F
            if opcode == 8:
                return None
            if opcode in (0, 1, 2):
                return payload


def _frame(payload: bytes) -> bytes:
    """A binary server frame (unmasked)."""
    size = len(payload)
    if size < 126:
        head = struct.pack(">BB", 0x82, size)
    elif size < 65536:
        head = struct.pack(">BBH", 0x82, 126, size)
    else:
        head = struct.pack(">BBQ", 0x82, 127, size)
    return head + payload


def _relay(client: socket.socket, frames: _Frames, target: socket.socket) -> None:
    """Bytes from the console to the client as frames, frames from the client to it."""
    def down() -> None:
        try:
            while chunk := target.recv(65536):
                client.sendall(_frame(chunk))
        except OSError:
            pass
        finally:
            client.close()

    threading.Thread(target=down, name="novnc-down", daemon=True).start()
    try:
        while (payload := frames.next()) is not None:
            target.sendall(payload)
    except OSError:
        pass
    finally:
        target.close()


def novnc_proxy(cloud: Cloud) -> Callable[[socket.socket], None]:
    """``nova-novncproxy`` for ``cloud``: the page, and the websocket to the console."""
    def handle(sock: socket.socket) -> None:
        target, headers, rest = _request(sock)
        if headers.get("upgrade", "").lower() != "websocket":
            path = urlsplit(target).path
            if path in ("/vnc_auto.html", "/vnc_lite.html", "/vnc.html"):
                _respond(sock, "200 OK", NOVNC_PAGE, "text/html")
            else:
                _respond(sock, "404 Not Found", b"File not found\n", "text/plain")
            return
        _upgrade(sock, headers)
        auth = validate(cloud, _token(target, headers))
        if auth is None or auth.console_type != "novnc":
            LOG.info("novncproxy: invalid token, closing the websocket")
            return
        console = socket.create_connection((auth.host, auth.port), timeout=10)
        console.settimeout(None)
        _relay(sock, _Frames(sock, rest), console)
    return handle


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Listener:
    """A threaded TCP server with the start/stop of the API servers."""

    def __init__(self, name: str, host: str, port: int,
                 handle: Callable[[socket.socket], None]) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    handle(self.request)
                except (OSError, struct.error, ValueError) as exc:
                    LOG.debug("%s: connection ended: %s", name, exc)

        self.name = name
        self.server = _TCPServer((host, port), Handler, bind_and_activate=False)
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server.server_bind()       # binds now, so a busy port fails the start at once
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       name=f"tcp-{self.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()


def listeners(cloud: Cloud) -> list[Listener]:
    """The console endpoints a cloud serving the compute API runs (not yet started)."""
    host = cloud.settings.host
    return [Listener("novncproxy", host, _port(cloud, "novncproxy"), novnc_proxy(cloud)),
            Listener("vnc", host, _port(cloud, "vnc"), vnc_guest),
            Listener("spice", host, _port(cloud, "spice"), spice_guest)]
