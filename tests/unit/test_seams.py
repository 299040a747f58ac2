"""The seams: --only parsing, RPC topics and context over oslo.messaging, remote token contexts."""

from __future__ import annotations

import pytest

from stackling import seams
from stackling.seams import keystone, messaging
from stackling.settings import Settings
from tests.helpers import write_config


def test_only_parses_services_and_hosts():
    sel = seams.parse_only("nova-compute=controller1, cinder-volume=controller2@file")
    assert sel.partial and sel.runs_host("controller1") and not sel.runs_host("controller3")
    assert sel.runs_backend("controller2@file") and not sel.runs_backend("controller2@lvm")
    assert not sel.runs("nova-api") and sel.areas == set()
    api = seams.parse_only("keystone,nova-api,cinder-api,glance-api,nova-scheduler")
    assert api.areas == {"identity", "compute", "volume", "image"}
    assert not api.runs_host("controller1") and api.runs_any("nova")
    everything = seams.parse_only(None)
    assert not everything.partial and everything.runs_host("anything")
    assert everything.runs("nova-novncproxy")
    # the console proxy needs the database only: no broker asked of it
    proxy = seams.parse_only("nova-novncproxy")
    assert proxy.partial and proxy.areas == set() and not proxy.runs_any("nova")


@pytest.mark.parametrize("text, message", [
    ("nova-network", "unknown service 'nova-network'"),
    ("keystone=ctl", "keystone takes no host"),
    ("cinder-volume=controller2", "cinder-volume takes HOST@BACKEND"),
    (",", "--only names no service"),
])
def test_only_rejects_bad_values(text, message):
    with pytest.raises(seams.SelectionError, match=message):
        seams.parse_only(text)


def test_split_services_need_a_broker(tmp_path):
    from stackling.cloud import Cloud

    write_config(tmp_path / "etc")
    settings = Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "etc",
                        only="nova-compute=controller1")
    with pytest.raises(seams.SelectionError,
                       match=r"need \[DEFAULT\] transport_url in nova.conf"):
        Cloud(settings)


def test_a_host_process_does_not_seed_an_empty_database(tmp_path):
    from stackling.cloud import Cloud

    write_config(tmp_path / "etc", nova="[DEFAULT]\ntransport_url = rabbit://x\n",
                 cinder="[DEFAULT]\ntransport_url = rabbit://x\n")
    settings = Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "etc",
                        only="cinder-scheduler")
    cloud = Cloud(settings)
    try:
        with pytest.raises(seams.SelectionError, match="the database is empty"):
            cloud.setup()
    finally:
        cloud.db.dispose()


def test_topics_become_oslo_targets():
    assert messaging.split_topic("compute.controller1") == ("compute", "controller1")
    assert messaging.split_topic("cinder-volume.ctl@file") == ("cinder-volume", "ctl@file")
    assert messaging.split_topic("scheduler") == ("scheduler", None)
    assert messaging.APIS["conductor"].namespace == "compute_task"
    with pytest.raises(ValueError):
        messaging.split_topic("network")


class Worker:
    def build(self, instance_uuid, caller=None):
        return {"uuid": instance_uuid, "caller": caller}

    def _secret(self):
        return "no"


def test_the_request_context_travels_in_oslo_context_slot():
    ctxt, payload = messaging.OsloTransport._message(
        {"instance_uuid": "u1", "caller": {"token": "t", "project_id": "p", "user_id": "u",
                                           "request_id": "req-1", "is_admin": False,
                                           "roles": ["member"]}})
    assert payload == {"instance_uuid": "u1"} and ctxt["roles"] == ["member"]
    endpoint = messaging._Endpoint(None, Worker())
    # what oslo hands the endpoint: its context dict (plus its own keys) and the kwargs
    result = endpoint.build({**ctxt, "msg_id": None}, **payload)
    assert result == {"uuid": "u1", "caller": ctxt}
    assert endpoint.build({}, instance_uuid="u2") == {"uuid": "u2", "caller": None}
    with pytest.raises(AttributeError):
        endpoint._secret


def test_a_validated_token_body_becomes_a_context():
    # The shape of GET /v3/auth/tokens (Keystone api-ref, project-scoped token).
    body = {"methods": ["password"], "expires_at": "2030-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "demo", "domain": {"id": "default",
                                                            "name": "Default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default",
                                                               "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}]}
    ctx = keystone.RemoteAuth(body).context(None, "tok", "req-1")
    assert (ctx.user_id, ctx.project_id, ctx.project_domain_id) == ("u1", "p1", "default")
    assert ctx.roles == ["member", "reader"] and not ctx.is_admin
    assert ctx.token == "tok" and ctx.request_id == "req-1"
    assert keystone._expiry(body) == 1893456000.0
    assert keystone.identity_root("http://h:5000/v3/") == "http://h:5000"


def test_topics_go_to_their_projects_broker_and_glance_tasks_stay_local():
    sent = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def cast(self, topic, method, **kw):
            sent.append((self.name, topic))

    routes = messaging.ProjectTransports(Fake("nova"), Fake("cinder"), Fake("local"))
    for topic in ("compute.controller1", "scheduler", "conductor",
                  "cinder-scheduler", "cinder-volume.controller2@file", "glance-tasks"):
        routes.cast(topic, "m")
    assert [name for name, _ in sent] == ["nova", "nova", "nova", "cinder", "cinder",
                                          "local"]
