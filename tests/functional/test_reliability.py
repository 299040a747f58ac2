"""Races and engines (issue 9): compare-and-swap on states, quota usage under concurrent
volume create/delete, several volumes in a row, the delete-during-build race, and the
start-up repair, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import delete, func, select, update

from stackling.compute.objects import instance as instances
from stackling.db.models_compute import Instance, InstanceFault
from stackling.db.models_volume import QuotaUsage, Reservation, Volume, VolumeAttachment
from stackling.volume import errors
from stackling.volume.objects import attachment as att_obj
from stackling.volume.objects import quota
from stackling.volume.objects import volume as vol_obj
from tests.functional.test_bfv import FAST, bfv, image_bdm, upload_image
from tests.helpers import ApiClient, make_cloud, settle, wait_for

V344 = {"OpenStack-API-Version": "volume 3.44"}


def _cloud(cloud_factory, database_url, nova=FAST):
    cloud = cloud_factory(nova=nova, database_url=database_url)
    api = ApiClient(cloud)
    api._token = api.login()
    return cloud, api


def create_volume(api, size=1, **extra):
    resp = api.post("volume", f"/v3/{api.project_id}/volumes",
                    {"volume": {"size": size, **extra}})
    assert resp.status == 202, resp
    return resp.json["volume"]["id"]


def status_of(api, vid):
    resp = api.get("volume", f"/v3/{api.project_id}/volumes/{vid}")
    return resp.json["volume"]["status"] if resp.status == 200 else resp.status


def usage_matches_what_exists(cloud) -> None:
    """in_use == what exists (counted as Cinder's sync counts), nothing reserved, no
    reservations left."""
    with cloud.db.reader() as s:
        counted = quota.counted_usage(s)
        rows = {(u.project_id, u.resource): (u.in_use, u.reserved)
                for u in s.scalars(select(QuotaUsage))}
        left = s.scalar(select(func.count()).select_from(Reservation))
    assert left == 0
    for key in set(rows) | set(counted):
        assert rows.get(key, (0, 0)) == (counted.get(key, 0), 0), key


# -- compare-and-swap --------------------------------------------------------------------


def test_volume_status_changes_are_compare_and_swap(cloud_factory, database_url):
    cloud, api = _cloud(cloud_factory, database_url)
    vid = create_volume(api)
    settle(cloud)
    assert status_of(api, vid) == "available"
    # Expected status wrong: nothing changes.
    assert vol_obj.set_status(cloud, vid, "creating", status="error") is False
    assert status_of(api, vid) == "available"
    assert vol_obj.set_status(cloud, vid, ("creating", "available"), status="maintenance")
    assert status_of(api, vid) == "maintenance"
    assert vol_obj.set_status(cloud, "no-such-volume", None, status="error") is False


def test_instance_task_state_changes_are_compare_and_swap(cloud_factory, database_url):
    cloud, api = _cloud(cloud_factory, database_url)
    image = upload_image(api)
    sid = bfv(api, [image_bdm(image)]).json["server"]["id"]
    settle(cloud)
    assert api.get("compute", f"/v2.1/servers/{sid}").json["server"]["status"] == "ACTIVE"
    with pytest.raises(instances.UnexpectedTaskState) as err:
        instances.save(cloud, sid, expected_task_state="spawning", vm_state="error")
    assert not isinstance(err.value, instances.UnexpectedDeletingTaskState)
    assert err.value.code == 409
    with cloud.db.writer() as s:
        s.execute(update(Instance).where(Instance.uuid == sid).values(task_state="deleting"))
    with pytest.raises(instances.UnexpectedDeletingTaskState):
        instances.save(cloud, sid, expected_task_state=None, vm_state="error")
    with cloud.db.reader() as s:
        assert s.scalar(select(Instance.vm_state).where(Instance.uuid == sid)) == "active"
    with pytest.raises(instances.InstanceNotFound):
        instances.save(cloud, "00000000-0000-0000-0000-000000000000",
                       expected_task_state=None, task_state="spawning")


def _attachment_rows(cloud, vid) -> tuple[str, list[str]]:
    with cloud.db.reader() as s:
        return (s.scalar(select(Volume.status).where(Volume.id == vid)),
                list(s.scalars(select(VolumeAttachment.attach_status)
                               .where(VolumeAttachment.volume_id == vid))))


def _at_once(call, n: int = 8) -> list:
    """``call(i)`` from n threads released together; their answers."""
    barrier, answers = threading.Barrier(n), []

    def run(i: int) -> None:
        barrier.wait()
        answers.append(call(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_attachment_reserve_is_compare_and_swap(cloud_factory, database_url):
    """8 instances reserve one non-multiattach volume at once: one wins, the others get
    Cinder's 400 naming the status that won, and only one attachment exists."""
    cloud, api = _cloud(cloud_factory, database_url)
    vid = create_volume(api)
    settle(cloud)
    answers = _at_once(lambda i: api.post("volume", "/v3/attachments", {"attachment": {
        "volume_uuid": vid, "instance_uuid": f"00000000-0000-4000-8000-00000000000{i}"}},
        headers=V344))
    assert sorted(r.status for r in answers) == [200] + [400] * 7, answers
    refused = {r.json["badRequest"]["message"] for r in answers if r.status == 400}
    assert refused == {f"Invalid volume: Volume {vid} status must be available or "
                       f"downloading to reserve, but the current status is reserved."}
    assert _attachment_rows(cloud, vid) == ("reserved", ["reserved"])


def test_legacy_reserve_is_compare_and_swap(cloud_factory, database_url):
    cloud, api = _cloud(cloud_factory, database_url)
    vid = create_volume(api)
    settle(cloud)
    answers = _at_once(lambda i: api.post("volume", f"/v3/{api.project_id}/volumes/{vid}"
                                          "/action", {"os-reserve": {}}))
    assert sorted(r.status for r in answers) == [202] + [400] * 7, answers
    assert {r.json["badRequest"]["message"] for r in answers if r.status == 400} == {
        "Invalid volume: Volume status must be available to reserve, but the status is "
        "attaching."}
    assert status_of(api, vid) == "attaching"


def test_attachment_update_and_complete_lose_to_a_detach(cloud_factory, database_url):
    """A connect or os-complete that comes after the volume or its attachment moved on
    changes nothing and answers 400 (volume moved) or 404 (attachment gone)."""
    cloud, api = _cloud(cloud_factory, database_url)
    vid = create_volume(api)
    settle(cloud)
    att = api.post("volume", "/v3/attachments", {"attachment": {"volume_uuid": vid}},
                   headers=V344).json["attachment"]["id"]
    vol_obj.set_status(cloud, vid, "reserved", status="available")  # a reset won
    with pytest.raises(vol_obj.StatusChanged) as err, cloud.db.writer() as s:
        att_obj.completed(s, att, vid)
    assert err.value.code == 400 and err.value.message == (
        f"Invalid volume: Volume {vid} status changed to available meanwhile.")
    with pytest.raises(vol_obj.StatusChanged), cloud.db.writer() as s:
        att_obj.connected(s, att, vid, attach_mode="rw")
    assert _attachment_rows(cloud, vid) == ("available", ["reserved"])

    vol_obj.set_status(cloud, vid, "available", status="reserved")
    with cloud.db.writer() as s:  # a detach removed the attachment first
        s.execute(delete(VolumeAttachment).where(VolumeAttachment.id == att))
    resp = api.post("volume", f"/v3/attachments/{att}/action", {"os-complete": {}},
                    headers=V344)
    assert resp.status == 404, resp
    with pytest.raises(errors.VolumeAttachmentNotFound), cloud.db.writer() as s:
        att_obj.completed(s, att, vid)
    assert _attachment_rows(cloud, vid) == ("reserved", [])


# -- engines -----------------------------------------------------------------------------


def test_several_volumes_in_a_row_become_available(cloud_factory, database_url):
    """MariaDB: the scheduler's SUM() is a Decimal; every volume after the first stayed
    ``creating`` when it met the capacity filter's floats."""
    cloud, api = _cloud(cloud_factory, database_url)
    ids = []
    for _ in range(4):
        ids.append(create_volume(api, size=2))
        settle(cloud)
    assert [status_of(api, v) for v in ids] == ["available"] * 4
    usage_matches_what_exists(cloud)


def test_concurrent_volume_create_delete_keeps_quota_exact(cloud_factory, database_url):
    """8 clients creating and deleting volumes at once (the first use of each usage row
    included): no 5xx, then usage == what exists and no reservation left."""
    cloud, api = _cloud(cloud_factory, database_url)
    api.put("volume", f"/v3/{api.project_id}/os-quota-sets/{api.project_id}",
            {"quota_set": {"volumes": -1, "gigabytes": -1}})
    failures: list = []

    def client(n: int) -> None:
        rnd = random.Random(n)
        mine: list[str] = []
        for _ in range(6):
            resp = api.post("volume", f"/v3/{api.project_id}/volumes",
                            {"volume": {"size": rnd.choice((1, 2))}})
            if resp.status != 202:
                failures.append(resp)
                continue
            mine.append(resp.json["volume"]["id"])
            if rnd.random() < 0.6:
                vid = mine.pop(0)
                for _ in range(200):
                    r = api.delete("volume", f"/v3/{api.project_id}/volumes/{vid}")
                    if r.status != 400:   # 400 while still creating: try again
                        break
                    time.sleep(0.01)
                if r.status not in (202, 404):
                    failures.append(r)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    settle(cloud)
    assert failures == []
    with cloud.db.reader() as s:
        stuck = s.scalars(select(Volume.status).where(
            Volume.status.in_(("creating", "downloading", "deleting")))).all()
    assert stuck == []
    usage_matches_what_exists(cloud)


def test_first_use_of_a_usage_row_by_many_at_once(cloud_factory, database_url):
    """Insert-if-missing: concurrent first reservations of one project never hit the
    unique key (500 before), and the booked sum is exact."""
    cloud, _ = _cloud(cloud_factory, database_url)
    errors: list = []
    rids: list = []

    def reserve() -> None:
        try:
            rids.extend(quota.reserve(cloud, "fresh-project", {"volumes": 1, "gigabytes": 3}))
        except Exception as exc:   # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with cloud.db.reader() as s:
        use = quota.usages(s, "fresh-project")
    assert (use["volumes"].reserved, use["gigabytes"].reserved) == (8, 24)
    quota.commit(cloud, rids[:5])
    quota.rollback(cloud, rids[5:])
    quota.commit(cloud, rids[:5])   # a second commit finds nothing left to do
    with cloud.db.reader() as s:
        use = quota.usages(s, "fresh-project")
    assert (use["volumes"].in_use, use["volumes"].reserved) == (5, 0)
    assert (use["gigabytes"].in_use, use["gigabytes"].reserved) == (15, 0)


# -- delete during build ---------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_delete_during_build_leaves_no_volume_behind(cloud_factory, database_url):
    """Deleting a boot-from-volume server at any moment of its build ends with its
    delete_on_termination volume deleted and a kept volume available, unattached."""
    cloud, api = _cloud(cloud_factory, database_url)
    api.put("volume", f"/v3/{api.project_id}/os-quota-sets/{api.project_id}",
            {"quota_set": {"volumes": -1, "gigabytes": -1}})
    api.put("compute", f"/v2.1/os-quota-sets/{api.project_id}",
            {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    image = upload_image(api)
    kept = create_volume(api, imageRef=image)
    settle(cloud)
    rnd = random.Random(9)
    for i in range(20):
        bdms = [image_bdm(image)] if i % 4 else [
            {"boot_index": 0, "uuid": kept, "source_type": "volume",
             "destination_type": "volume", "delete_on_termination": False}]
        resp = bfv(api, bdms, name=f"race{i}")
        assert resp.status == 202, resp
        sid = resp.json["server"]["id"]
        time.sleep(rnd.random() * 0.03)
        assert api.delete("compute", f"/v2.1/servers/{sid}").status == 204
        if not i % 4:   # the kept volume must be free again before its next boot
            settle(cloud)
            wait_for(lambda: status_of(api, kept) == "available", timeout=10)
    settle(cloud)
    left = api.get("volume", f"/v3/{api.project_id}/volumes/detail", headers=V344).json
    assert [(v["id"], v["status"], v["attachments"]) for v in left["volumes"]] == \
        [(kept, "available", [])]
    with cloud.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(VolumeAttachment)) == 0
        assert s.scalar(select(func.count()).select_from(Instance)
                        .where(Instance.deleted == 0)) == 0
    usage_matches_what_exists(cloud)


# -- start-up repair -------------------------------------------------------------------


def test_restart_repairs_what_a_hard_stop_left(tmp_path, database_url):
    """Rows left half-way (as a kill -9 leaves them) are repaired on the next start."""
    cloud = make_cloud(tmp_path / "c", nova=FAST, database_url=database_url)
    try:
        api = ApiClient(cloud)
        api._token = api.login()
        image = upload_image(api)
        sid = bfv(api, [image_bdm(image)]).json["server"]["id"]
        creating, deleting, fine = create_volume(api), create_volume(api), create_volume(api)
        settle(cloud)
        with cloud.db.writer() as s:
            # a server caught attaching its volume
            s.execute(update(Instance).where(Instance.uuid == sid).values(
                vm_state="building", task_state="block_device_mapping"))
            att_vol = s.scalar(select(VolumeAttachment.volume_id))
            s.execute(update(VolumeAttachment).values(attach_status="attaching"))
            s.execute(update(Volume).where(Volume.id == att_vol).values(status="attaching"))
            s.execute(update(Volume).where(Volume.id == creating).values(status="creating"))
            s.execute(update(Volume).where(Volume.id == deleting).values(status="deleting"))
            # usage off by some, a reservation nobody will commit
            s.execute(update(QuotaUsage).where(QuotaUsage.resource == "volumes")
                      .values(in_use=QuotaUsage.in_use + 3))
        quota.reserve(cloud, api.project_id, {"volumes": 1, "gigabytes": 1})
        volumes_dir = next(iter(cloud.volume_managers.values())).driver.files.root
        orphan = volumes_dir / "volume-99999999-9999-9999-9999-999999999999"
        orphan.write_bytes(b"x")
        settings = cloud.settings
    finally:
        cloud.stop()
    cloud = make_cloud(tmp_path / "c", nova=FAST, database_url=settings.database_url)
    try:
        api = ApiClient(cloud)
        srv = api.get("compute", f"/v2.1/servers/{sid}").json["server"]
        assert (srv["status"], srv["OS-EXT-STS:task_state"]) == ("ERROR", None)
        assert "aborted" in srv["fault"]["message"]
        with cloud.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(InstanceFault)) == 1
        assert status_of(api, att_vol) == 404   # delete_on_termination: deleted
        assert status_of(api, creating) == "error"
        assert status_of(api, deleting) == 404
        assert status_of(api, fine) == "available"
        assert not orphan.exists()
        usage_matches_what_exists(cloud)
    finally:
        cloud.stop()


def test_sqlite_sessions_never_starve(tmp_path):
    """A busy in-process cloud holds many sessions at once: HTTP threads reading while
    they wait for the one writer, nested in-process calls that open sessions of their
    own. With SQLAlchemy's default pool (5 + 10) the 16th waited pool_timeout and the
    request failed with 500 (32 boot-from-volume clients did this). SQLite connections
    are file handles: the pool keeps max_pool_size and opens more without a limit."""
    from contextlib import ExitStack

    from sqlalchemy import text

    from stackling.db.api import Database

    db = Database(f"sqlite:///{tmp_path / 'pool.db'}", max_pool_size=5, max_overflow=10,
                  pool_timeout=1)
    with ExitStack() as stack:
        sessions = [stack.enter_context(db.reader()) for _ in range(40)]
        assert [s.execute(text("select 1")).scalar() for s in sessions] == [1] * 40
        with db.writer() as w:   # and the writer still gets a connection
            assert w.execute(text("select 2")).scalar() == 2
    db.dispose()


def test_server_database_pool_uses_oslo_db_options():
    """PostgreSQL and MariaDB pools take oslo.db's [database] max_pool_size,
    max_overflow and pool_timeout."""
    from stackling.db.api import Database

    db = Database("postgresql+psycopg://u@127.0.0.1:1/x", max_pool_size=3, max_overflow=7,
                  pool_timeout=9)
    assert (db.engine.pool.size(), db.engine.pool._max_overflow, db.engine.pool._timeout) \
        == (3, 7, 9)


def test_a_scheduler_failure_errors_the_volume(cloud_factory, monkeypatch):
    """An unexpected failure while scheduling (here the database read of the backends)
    puts the volume in ``error`` with a user message, as Cinder's scheduler manager does;
    it never stays ``creating`` (a Nova build waiting on it would hang for its retries)."""
    from sqlalchemy.exc import OperationalError

    from stackling.volume.scheduler import SchedulerManager

    def broken(self, excluded=None):
        raise OperationalError("SELECT service", {}, Exception("database is gone"))

    cloud, api = _cloud(cloud_factory, None)
    monkeypatch.setattr(SchedulerManager, "backend_states", broken)
    volume_id = create_volume(api)
    settle(cloud)
    assert api.get("volume", f"/v3/{api.project_id}/volumes/{volume_id}") \
        .json["volume"]["status"] == "error"
    messages = api.get("volume", f"/v3/{api.project_id}/messages",
                       headers={"OpenStack-API-Version": "volume 3.3"}).json["messages"]
    assert [m["resource_uuid"] for m in messages] == [volume_id]


def test_a_conductor_failure_errors_the_server(cloud_factory, monkeypatch):
    """An unexpected failure while the conductor schedules (here the read of the host
    states) puts the server in ERROR with the failure's class name as its fault and a failed
    ``conductor_schedule_and_build_instances`` event, as Nova's conductor does; it never
    stays BUILD/scheduling."""
    from sqlalchemy.exc import OperationalError

    from stackling.compute.scheduler import HostStateCache

    def broken(self, s, conf):
        raise OperationalError("SELECT compute_node", {}, Exception("database is gone"))

    cloud, api = _cloud(cloud_factory, None)
    monkeypatch.setattr(HostStateCache, "states", broken)
    resp = api.post("compute", "/v2.1/servers", {"server": {
        "name": "s", "imageRef": upload_image(api), "flavorRef": "1", "networks": "none"}},
        headers={"OpenStack-API-Version": "compute 2.37"})
    assert resp.status == 202, resp
    sid = resp.json["server"]["id"]
    settle(cloud)
    server = api.get("compute", f"/v2.1/servers/{sid}").json["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ERROR", None)
    # Nova's exception_to_dict: a foreign exception's text may hold details a user must
    # not see, so the fault's message is its class name (the text is in the details).
    assert server["fault"]["message"] == "OperationalError", server["fault"]
    events = api.get("compute", f"/v2.1/servers/{sid}/os-instance-actions/"
                     f"{resp.headers['x-openstack-request-id']}").json["instanceAction"]
    assert [(e["event"], e["result"]) for e in events["events"]] == \
        [("conductor_schedule_and_build_instances", "Error")]
