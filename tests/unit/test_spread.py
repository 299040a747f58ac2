"""`stackling start --spread` without processes: what it refuses and why, the process
map with worker counts, an API worker serving on an inherited socket, and how status
judges a child (issue 14)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from stackling import cli, conf, spread
from stackling.settings import Settings
from stackling.topology import Topology
from stackling.web.server import Server
from tests.helpers import wait_for, write_config

AUTH = ("[keystone_authtoken]\nauth_url = http://127.0.0.1:5000/v3\nusername = u\n"
        "password = p\nproject_name = service\n")
RABBIT = "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n"
PG = "postgresql+psycopg://postgres@127.0.0.1/x"


def _config(tmp_path, nova="", cinder="", **files):
    write_config(tmp_path, nova=nova, cinder=cinder)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return conf.load(tmp_path)


def test_sqlite_and_no_broker_are_refused_naming_the_options(tmp_path, capsys):
    rc = cli.main(["start", "--spread", "--data-dir", str(tmp_path / "d"),
                   "--config-dir", str(tmp_path / "etc")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "set --database-url or [database] connection in stackling.conf to a " \
           "PostgreSQL or MariaDB URL" in err
    for file in ("nova.conf", "cinder.conf"):
        assert f"set [DEFAULT] transport_url = rabbit://USER:PASSWORD@HOST:5672/ in {file}" \
            in err
    for file in ("nova.conf", "cinder.conf", "glance-api.conf", "neutron.conf"):
        assert f"[keystone_authtoken] auth_url, username, password and project_name in " \
               f"{file}" in err
    for section, file in (("neutron", "nova.conf"), ("nova", "cinder.conf")):
        assert f"set [{section}] auth_url, username, password and project_name in {file}" \
            in err
    assert not (tmp_path / "d" / "run-state.json").exists()


def test_a_complete_configuration_has_no_problem(tmp_path):
    config = _config(tmp_path, nova=RABBIT + AUTH + AUTH.replace("keystone_authtoken", "neutron"),
                     cinder=RABBIT + AUTH + AUTH.replace("keystone_authtoken", "nova"),
                     **{"glance-api.conf": AUTH, "neutron.conf": AUTH})
    settings = Settings(data_dir=tmp_path / "d", database_url=PG)
    assert spread.problems(settings, config) == []
    mariadb = Settings(data_dir=tmp_path / "d", database_url="mysql+pymysql://root@h/x")
    assert spread.problems(mariadb, config) == []
    only = Settings(data_dir=tmp_path / "d", database_url=PG, only="keystone")
    assert spread.problems(only, config) == ["--spread starts every service: leave out --only"]


def test_the_process_map_follows_the_topology_and_the_worker_options(tmp_path):
    config = _config(tmp_path, nova="[DEFAULT]\nosapi_compute_workers = 3\n",
                     cinder="[DEFAULT]\nosapi_volume_workers = 2\n",
                     **{"glance-api.conf": "[DEFAULT]\nworkers = 2\n",
                        "neutron.conf": "[DEFAULT]\napi_workers = 1\n"})
    procs = spread.plan(config, Topology.load(), ["controller2@file", "controller1@fast"])
    names = [p.name for p in procs]
    assert names == ["keystone", "nova-api-1", "nova-api-2", "nova-api-3", "cinder-api-1",
                     "cinder-api-2", "glance-api-1", "glance-api-2", "neutron-server",
                     "nova-scheduler", "nova-conductor", "nova-novncproxy",
                     "cinder-scheduler", "nova-compute-controller1", "nova-compute-controller2",
                     "nova-compute-controller3", "cinder-volume-controller2@file",
                     "cinder-volume-controller1@fast"]
    by_name = {p.name: p for p in procs}
    assert by_name["nova-api-2"].only == "nova-api" and by_name["nova-api-2"].api == "compute"
    assert by_name["nova-compute-controller3"].only == "nova-compute=controller3"
    assert by_name["nova-compute-controller3"].host == "controller3"
    assert by_name["cinder-volume-controller1@fast"].only == "cinder-volume=controller1@fast"
    assert by_name["nova-conductor"].host == "controller2" and by_name["nova-conductor"].api \
        is None
    # one console proxy, whatever the number of nova-api workers
    assert by_name["nova-novncproxy"].only == "nova-novncproxy"
    assert by_name["nova-novncproxy"].api is None
    keystone = _config(tmp_path, **{"stackling.conf": "[eventlet_server]\npublic_workers = 2\n"})
    assert spread.workers(keystone)["keystone"] == 2


def test_a_worker_serves_on_the_socket_it_inherited():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]

    # The port number given is ignored: the inherited socket is already bound and listening.
    server = Server("compute", "127.0.0.1", 1, app, inherited=os.dup(listener.fileno()))
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == str(os.getpid()).encode()
    finally:
        server.stop()
        listener.close()


def test_an_inherited_socket_answers_without_waiting_for_delayed_acks():
    """TCP_NODELAY on the inherited socket, as cheroot sets on a socket it binds: the
    connections it accepts send a response written in parts at once (without it every
    request of a --spread API waited 40 ms for the client's delayed ACK)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    server = Server("compute", "127.0.0.1", 1, app, inherited=os.dup(listener.fileno()))
    server.start()
    try:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
        listener.close()


def test_workers_on_one_inherited_socket_share_the_requests():
    """Two servers accept from one listening socket (as N worker processes of an API do):
    new connections reach both."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def app(name):
        def serve(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
            return [name.encode()]
        return serve

    servers = [Server(f"w{i}", "127.0.0.1", 1, app(f"w{i}"), inherited=os.dup(listener.fileno()))
               for i in (1, 2)]
    for server in servers:
        server.start()
    try:
        seen = set()
        for _ in range(200):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                seen.add(resp.read().decode())
            if seen == {"w1", "w2"}:
                break
        assert seen == {"w1", "w2"}
    finally:
        for server in servers:
            server.stop()
        listener.close()


def test_status_calls_a_child_up_only_once_it_serves_and_dead_once_it_exits(tmp_path):
    child = tmp_path / "spread" / "nova-api"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                                str(child)])
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                             "stackling", "--data-dir", str(child)])
    try:
        state = {"processes": [{"name": "nova-api", "service": "nova-api", "pid": sleeper.pid,
                                "host": "controller2", "data_dir": str(child)}]}
        assert spread.process_states(state)[0]["state"] == "starting"
        settings = Settings(data_dir=child)
        from stackling import runstate

        runstate.record(settings, sleeper.pid, serving=True)
        assert spread.process_states(state)[0]["state"] == "up"
        # Not ours unless its command line names the child's data dir and stackling.
        wait_for(lambda: spread.ours(ours.pid, str(child)), timeout=10)
        wait_for(lambda: Path(f"/proc/{sleeper.pid}/cmdline").read_bytes(), timeout=10)
        assert not spread.ours(sleeper.pid, str(child))
    finally:
        for proc in (sleeper, ours):
            proc.kill()
            proc.wait()
    assert spread.process_states(state)[0]["state"] == "dead"


class _Fake(spread.Supervisor):
    """Children that exit at once with 3, instead of `stackling start --only`."""

    def command(self, proc):
        return [sys.executable, "-c", "import sys; sys.exit(3)"]


def _exited(sup, proc, monkeypatch, now):
    proc.popen.wait()
    monkeypatch.setattr(spread.time, "monotonic", lambda: now)
    assert sup.poll()
    assert proc.exit_code == 3


def test_an_exit_is_reported_and_restarted_only_with_restart(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path)
    proc = spread.Proc("nova-scheduler", "nova-scheduler", "controller2", "nova-scheduler")
    sup = _Fake(settings, [proc], {}, restart=False)
    sup.start_all()
    _exited(sup, proc, monkeypatch, 1000.0)
    monkeypatch.setattr(spread.time, "monotonic", lambda: 2000.0)
    assert not sup.poll() and proc.next_start is None and proc.restarts == 0

    proc = spread.Proc("nova-scheduler", "nova-scheduler", "controller2", "nova-scheduler")
    sup = _Fake(settings, [proc], {}, restart=True)
    monkeypatch.setattr(spread.time, "monotonic", lambda: 1000.0)
    sup.start_all()
    _exited(sup, proc, monkeypatch, 1000.5)
    assert proc.next_start == 1001.5              # 1 s, then 2, 4, ... 60
    monkeypatch.setattr(spread.time, "monotonic", lambda: 1001.0)
    assert not sup.poll() and proc.restarts == 0  # not before its time
    monkeypatch.setattr(spread.time, "monotonic", lambda: 1001.5)
    assert sup.poll() and proc.restarts == 1 and proc.running
    _exited(sup, proc, monkeypatch, 1002.0)
    assert proc.next_start == 1004.0
    sup.stop_all()
