"""Client CPU of one service-to-service call (Nova → Cinder) over a loopback socket (issue 14).

Run: python bench/bench_service_client.py [--calls 2000] [--rounds 3]
A cheroot server (what stackling serves with) answers ``GET /v3/p/volumes/v`` with a
small JSON body. The calling thread's CPU per call (``time.thread_time``: the server's
threads are not counted) is measured for ``clients.ServiceClient`` on the ``HttpSender``
of this tree (urllib3's pool) and, as the baseline in the same run, on keystoneauth1's
``Session.request`` as the sender used it before (requests underneath), rounds
alternated. In ``--spread`` a build makes about 14 such calls (create, polls, attachment
create, update, complete), nova-api and cinder-api a few more.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import webob
from _common import machine
from cheroot import wsgi
from keystoneauth1 import session as ks_session

from stackling import clients
from stackling.seams.http import HttpSender

BODY = b'{"volume": {"id": "v", "status": "creating", "size": 1}}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY))),
                              ("x-openstack-request-id", "req-1")])
    return [BODY]


class Catalog:
    """The two things HttpSender asks of keystoneauth: the endpoint and the service token."""

    def __init__(self, url: str) -> None:
        self.url, self.ks = url, ks_session.Session()

    def get_endpoint(self, **kw):
        return self.url + "/v3/p"

    def get_token(self):
        return "service-token"


class KeystoneauthSender(HttpSender):
    """The baseline: the request sent by keystoneauth's Session.request (the sender
    before urllib3), headers and answer handled as it did."""

    def send(self, service, req):
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() not in ("host", "content-length")}
        headers["X-Service-Token"] = self.session.get_token()
        resp = self.session.ks.request(self.root(service) + req.path_qs, req.method,
                                       headers=headers, data=req.body or None,
                                       authenticated=False, raise_exc=False)
        out = webob.Response(status=resp.status_code, body=resp.content)
        for k, v in resp.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                out.headers[k] = v
        return out


class Cloud:
    def __init__(self, sender):
        self._sender = sender

    def sender(self, project):
        return self._sender


def per_call(sender, calls: int) -> float:
    client = clients.ServiceClient(Cloud(sender), "volume", "user-token", microversion="3.44")
    for _ in range(50):
        client.get("/v3/p/volumes/v")
    t0 = time.thread_time()
    for _ in range(calls):
        client.get("/v3/p/volumes/v")
    return (time.thread_time() - t0) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=4)
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    url = f"http://127.0.0.1:{server.bind_addr[1]}"
    base, now = [], []
    try:
        for _ in range(args.rounds):
            base.append(per_call(KeystoneauthSender(Catalog(url)), args.calls))
            now.append(per_call(HttpSender(Catalog(url)), args.calls))
    finally:
        server.stop()
    print(f"{machine()}\n")
    print(f"client CPU per call, µs (median of {args.rounds} rounds of {args.calls} calls; "
          "each round: " + ", ".join(f"{b:.0f} / {n:.0f}" for b, n in zip(base, now)) + ")\n")
    print("| sender | µs per call | ratio to baseline |\n|---|---:|---:|")
    mb, mn = statistics.median(base), statistics.median(now)
    print(f"| keystoneauth1 Session.request (baseline) | {mb:.0f} | 1.00 |")
    print(f"| HttpSender on urllib3 (this tree) | {mn:.0f} | {mn / mb:.2f} |")


if __name__ == "__main__":
    main()
