"""Nova's project manager (nova/policies/migrate_server.py, migrations.py,
servers_migrations.py, 2025.2+): with Keystone's manager role on a project, a user may
cold and live migrate its servers (no target host) and list the project's migrations,
without the host fields; a member may not."""

from __future__ import annotations

import pytest

from tests.functional.test_compute_moves import _image, act
from tests.functional.test_compute_servers import LATEST, boot, settled, v
from tests.helpers import TWO_PER_ZONE, ApiClient

HOSTS = ("source_node", "dest_node", "source_compute", "dest_compute", "dest_host")


@pytest.fixture
def clients(cloud_factory):
    cloud = cloud_factory(topology=TWO_PER_ZONE)
    admin, demo = ApiClient(cloud), ApiClient(cloud, "demo", "demo")
    roles = {r["name"]: r["id"] for r in admin.get("identity", "/v3/roles").json["roles"]}
    uid = admin.post("identity", "/v3/users", {"user": {"name": "pm", "password": "pw"}}
                     ).json["user"]["id"]
    demo.token   # log in: demo.project_id
    assert admin.put("identity", f"/v3/projects/{demo.project_id}/users/{uid}/roles/"
                                 f"{roles['manager']}").status == 204
    return admin, demo, ApiClient(cloud, "pm", "demo", password="pw")


def test_project_manager_migrates_and_lists_its_migrations(clients):
    admin, demo, pm = clients
    sid = boot(demo, _image(admin), "ag2").json["server"]["id"]
    source = settled(admin, sid)["OS-EXT-SRV-ATTR:host"]
    refused = act(demo, sid, {"migrate": None})
    assert refused.status == 403
    assert refused.json["forbidden"]["message"] == \
        "Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed."
    assert act(pm, sid, {"migrate": {"host": "c2b"}}, v("2.56")).status == 403
    assert act(pm, sid, {"migrate": None}).status == 202
    assert settled(admin, sid)["status"] == "VERIFY_RESIZE"
    assert act(pm, sid, {"confirmResize": None}).status == 204

    mine = pm.get("compute", f"/v2.1/os-migrations?project_id={demo.project_id}",
                  headers=LATEST)
    assert mine.status == 200, mine
    [m] = mine.json["migrations"]
    assert m["instance_uuid"] == sid and m["project_id"] == demo.project_id
    assert all(m[k] is None for k in HOSTS)
    everyone = pm.get("compute", "/v2.1/os-migrations", headers=LATEST)
    assert everyone.status == 403
    assert everyone.json["forbidden"]["message"] == ("Policy doesn't allow os_compute_api:"
                                                     "os-migrations:index:all_projects to "
                                                     "be performed.")
    assert demo.get("compute", f"/v2.1/os-migrations?project_id={demo.project_id}",
                    headers=LATEST).status == 403
    full = admin.get("compute", "/v2.1/os-migrations", headers=LATEST).json["migrations"]
    assert full[0]["source_compute"] == source


def test_max_concurrent_builds_runs_one_build_at_a_time_per_host(cloud_factory):
    """nova.conf [DEFAULT] max_concurrent_builds = 1: builds sent to one host wait in
    line (none refused); six servers on three hosts put two or more on some host."""
    import threading
    import time

    cloud = cloud_factory(nova="[DEFAULT]\nmax_concurrent_builds = 1\n")
    api = ApiClient(cloud)
    guard, running, peak, built = threading.Lock(), {}, {}, {}
    for topic in [t for t in cloud.rpc._endpoints if t.startswith("compute.")]:
        driver = cloud.rpc.endpoint(topic).driver

        def spawn(instance, _spawn=driver.spawn, host=topic):
            with guard:
                running[host] = running.get(host, 0) + 1
                peak[host] = max(peak.get(host, 0), running[host])
                built[host] = built.get(host, 0) + 1
            time.sleep(0.1)
            with guard:
                running[host] -= 1
            return _spawn(instance)
        driver.spawn = spawn
    image = _image(api)
    ids = [boot(api, image, name=f"vm{i}").json["server"]["id"] for i in range(6)]
    assert [settled(api, sid)["status"] for sid in ids] == ["ACTIVE"] * 6
    assert max(built.values()) >= 2 and set(peak.values()) == {1}, (built, peak)
