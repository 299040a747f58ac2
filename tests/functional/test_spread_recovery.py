"""Each process repairs only what its services own (issue 14): a restarted nova-compute its
host's instances, a cinder-volume its backend's volumes, the cinder-scheduler only the
reservations past ``reservation_expire``; other processes may be working on the rest. What
one process's repair asks of another's service goes over RPC."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import func, select, update

from stackling import recovery, spread
from stackling.db.models_compute import Instance
from stackling.db.models_volume import Reservation, Volume
from stackling.rpc import NoSuchTopic
from stackling.seams import parse_only
from stackling.volume import recovery as cinder_recovery
from stackling.volume.manager import VolumeManager
from stackling.volume.objects import quota
from tests.functional.test_bfv import FAST, LATEST, upload_image
from tests.functional.test_reliability import create_volume, status_of, usage_matches_what_exists
from tests.helpers import ApiClient, make_cloud, settle, wait_for


def _boot(api, image, zone):
    resp = api.post("compute", "/v2.1/servers", headers=LATEST, body={"server": {
        "name": zone, "flavorRef": "1", "imageRef": image, "networks": "none",
        "availability_zone": zone}})
    assert resp.status == 202, resp
    return resp.json["server"]["id"]


def _as_process(cloud, only, hosts=(), backends=()):
    """Make ``cloud`` look like a process of ``--only only`` running these hosts."""
    cloud.only = parse_only(only)
    cloud.compute_managers = {h: m for h, m in cloud.compute_managers.items() if h in hosts}
    cloud.volume_managers = {b: m for b, m in cloud.volume_managers.items() if b in backends}


def _states(cloud, uuids):
    with cloud.db.reader() as s:
        return dict(s.execute(select(Instance.uuid, Instance.vm_state)
                              .where(Instance.uuid.in_(uuids))).all())


def test_each_process_repairs_only_its_own(cloud_factory):
    cloud = cloud_factory(nova=FAST)
    api = ApiClient(cloud)
    api._token = api.login()
    image = upload_image(api)
    # Zone nova has no aggregate, so it restricts nothing (map_az_to_placement_aggregate):
    # the admin's zone:host puts the second on controller3.
    on1, on3 = _boot(api, image, "ag1"), _boot(api, image, "nova:controller3")
    creating = create_volume(api)
    settle(cloud)
    with cloud.db.writer() as s:
        s.execute(update(Instance).where(Instance.uuid.in_([on1, on3])).values(
            vm_state="building", task_state="spawning"))
        s.execute(update(Volume).where(Volume.id == creating).values(status="creating"))
    quota.reserve(cloud, api.project_id, {"volumes": 1, "gigabytes": 1})
    managers = (dict(cloud.compute_managers), dict(cloud.volume_managers))

    _as_process(cloud, "nova-compute=controller1", hosts=["controller1"])
    recovery.recover(cloud)
    assert _states(cloud, [on1, on3]) == {on1: "error", on3: "building"}
    assert status_of(api, creating) == "creating"

    cloud.compute_managers, cloud.volume_managers = managers
    _as_process(cloud, "cinder-volume=controller2@file", backends=["controller2@file"])
    recovery.recover(cloud)
    assert status_of(api, creating) == "error"
    assert _states(cloud, [on3]) == {on3: "building"}

    # The scheduler expires only reservations past reservation_expire (a day here).
    _as_process(cloud, "cinder-scheduler")
    recovery.recover(cloud)
    with cloud.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 2
    assert _states(cloud, [on3]) == {on3: "building"}


def test_a_repair_without_the_backend_asks_the_backend_to_delete(cloud_factory,
                                                                 monkeypatch):
    """A restarted nova-compute deletes a server's volume (delete_on_termination) whose
    cinder-volume is another process: the volume goes ``deleting`` and its backend is
    told over RPC, so no file outlives its row (the file is not this process's)."""
    cloud = cloud_factory(nova=FAST)
    api = ApiClient(cloud)
    api._token = api.login()
    vid = create_volume(api)
    settle(cloud)
    with cloud.db.reader() as s:
        host = s.get(Volume, vid).host.split("#")[0]
    backend = cloud.volume_managers[host]
    path = backend.driver.files.root / f"volume-{vid}"
    assert path.is_file()
    _as_process(cloud, "nova-compute=controller1", hosts=["controller1"])
    casts = []
    monkeypatch.setattr(cloud.rpc, "cast", lambda topic, method, **kw: casts.append(
        (topic, method, kw)))

    cinder_recovery.delete_now(cloud, vid)
    assert casts == [(f"cinder-volume.{host}", "delete_volume", {"volume_id": vid})]
    assert status_of(api, vid) == "deleting"
    assert path.is_file()

    backend.delete_volume(vid)       # what the backend's process does with the cast
    assert status_of(api, vid) == 404
    assert not path.exists()


def test_the_supervisor_rolls_back_reservations_only_when_nothing_of_the_run_lives(
        cloud_factory):
    """`start --spread` after the whole tree died: no request can own a reservation, so
    the supervisor rolls them back and recounts usage before any child starts; while a
    child of the earlier run lives, they are left to expire (it may be committing)."""
    cloud = cloud_factory(nova=FAST)
    api = ApiClient(cloud)
    api._token = api.login()
    create_volume(api)
    settle(cloud)
    quota.reserve(cloud, api.project_id, {"volumes": 1, "gigabytes": 1})
    child_dir = cloud.settings.data_dir / spread.SPREAD_DIR / "cinder-api"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                              "stackling", "--data-dir", str(child_dir)])
    try:
        # Until the child has exec'd, /proc shows the parent's command line.
        wait_for(lambda: spread.leftovers(cloud.settings.data_dir))
        assert spread.leftovers(cloud.settings.data_dir) == [child.pid]
        spread.prepare_database(cloud.settings, cloud.config)
        assert _reservations(cloud) == 2
    finally:
        child.kill()
        child.wait()
    assert spread.leftovers(cloud.settings.data_dir) == []
    spread.prepare_database(cloud.settings, cloud.config)
    assert _reservations(cloud) == 0
    usage_matches_what_exists(cloud)


def _reservations(cloud) -> int:
    with cloud.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Reservation))


def test_a_backend_consumes_its_queue_before_its_start_up_scan(tmp_path, monkeypatch):
    """cinder-volume's RPC server is up before ``init_host`` reads the volumes to repair
    (a volume the API sets ``deleting`` while the backend starts is found by the scan or
    its ``delete_volume`` cast is consumed, never lost between the two), and before its
    capabilities let the scheduler place volumes there (a cast to a queue that does not
    exist yet is dropped)."""
    ready = {}

    def consuming(cloud, name: str) -> bool:
        try:
            cloud.rpc.endpoint(f"cinder-volume.{name}")
            return True
        except NoSuchTopic:
            return False

    scan, report = cinder_recovery.init_host, VolumeManager.report

    def init_host(cloud, mgr):
        ready[("scan", mgr.spec.name)] = consuming(cloud, mgr.spec.name)
        return scan(cloud, mgr)

    def reported(mgr):
        ready[("capabilities", mgr.spec.name)] = consuming(mgr.cloud, mgr.spec.name)
        return report(mgr)

    monkeypatch.setattr(cinder_recovery, "init_host", init_host)
    monkeypatch.setattr(VolumeManager, "report", reported)
    cloud = make_cloud(tmp_path)
    try:
        assert cloud.volume_managers
        assert ready == {(step, name): True for name in cloud.volume_managers
                         for step in ("scan", "capabilities")}, ready
    finally:
        cloud.stop()
