"""Each task of the create flow: execute and revert, and what a failure leaves behind."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from taskflow.types import failure as ft

from stackling import exception, rpc
from stackling.context import RequestContext
from stackling.db.models_volume import QuotaUsage, Reservation, Volume
from stackling.volume.flows import create_volume as flow
from stackling.volume import errors
from stackling.volume.api import common
from stackling.volume.objects import backends, quota

GiB = 1024 ** 3


@pytest.fixture
def ctx(cloud):
    return RequestContext(cloud=cloud, project_id="p1", user_id="u1", roles=["member"],
                          request_id="req-1")


def extract(cloud, ctx, **kw):
    args = dict(context=ctx, size=1, availability_zone=None, volume_type=None, snapshot=None,
                source_volume=None, image_meta=None, backup=None, valid_zones={"nova"})
    args.update(kw)
    return flow.ExtractVolumeRequestTask(cloud).execute(**args)


def usage(cloud):
    with cloud.db.reader() as s:
        return {u.resource: (u.in_use, u.reserved) for u in s.scalars(select(QuotaUsage))}


def test_extract_defaults(cloud, ctx):
    out = extract(cloud, ctx)
    assert out["size"] == 1 and out["availability_zones"] == ["nova"]
    assert out["volume_type"]["name"] == "__DEFAULT__" and out["refresh_az"] is False


def test_extract_checks_in_order(cloud, ctx):
    snap = {"id": "s", "status": "creating", "volume_size": 2}
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, snapshot=snap, image_meta={"id": "i"})
    assert err.value.message == ("Invalid input received: May specify only one of backup, "
                                 "imageRef, snapshot, source volume")
    with pytest.raises(exception.BadRequest) as err:
        extract(cloud, ctx, snapshot=snap)
    assert err.value.message == ("Invalid snapshot: Originating snapshot status must be one "
                                 "of 'available' values")
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, size=1, snapshot={**snap, "status": "available"})
    assert "Volume size '1'GB cannot be smaller than the snapshot size 2GB" in err.value.message
    image = {"id": "i", "status": "queued", "size": 1}
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, image_meta=image)
    assert err.value.message == "Invalid input received: Image i is not active."
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, image_meta={**image, "status": "active", "size": 2 * GiB + 1})
    assert err.value.message == ("Invalid input received: Size of specified image 3GB is "
                                 "larger than volume size 1GB.")
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, image_meta={**image, "status": "active", "min_disk": 5})
    assert "cannot be smaller than the image minDisk size 5GB" in err.value.message
    with pytest.raises(exception.InvalidInput) as err:
        extract(cloud, ctx, size=0)
    assert err.value.message == ("Invalid input received: Volume size '0' must be an integer "
                                 "and greater than 0")


def test_reserve_checks_per_volume_and_works_out_deltas(cloud, ctx):
    task = flow.QuotaReserveTask(cloud)
    out = task.execute(ctx, 2, {"name": "__DEFAULT__"})
    assert out["quota_deltas"] == {"volumes": 1, "gigabytes": 2, "volumes___DEFAULT__": 1,
                                   "gigabytes___DEFAULT__": 2}
    # the deltas' limits, read with per_volume_gigabytes (the per-type ones: unlimited)
    assert out["quota_limits"] == {"per_volume_gigabytes": -1, "volumes": 10,
                                   "gigabytes": 1000}
    assert usage(cloud) == {}   # nothing booked yet
    cloud.config.cinder.set_override("per_volume_size_limit", 1)
    try:
        with pytest.raises(errors.VolumeSizeExceedsLimit):
            task.execute(ctx, 2, {"name": "__DEFAULT__"})
    finally:
        cloud.config.cinder.clear_override("per_volume_size_limit")


ENTRY = dict(size=3, volume_type_id=None, availability_zones=["nova"], multiattach=False,
             replication_status="disabled", bootable=False, name="n", description=None,
             metadata={}, snapshot=None, source_volume=None, image_meta=None,
             quota_deltas=quota.volume_deltas(3, "__DEFAULT__"))


def test_entry_create_books_the_quota_with_the_row(cloud, ctx):
    task = flow.EntryCreateTask(cloud)
    out = task.execute(context=ctx, **ENTRY)
    assert out["volume"].status == "creating" and out["volume"].availability_zone == "nova"
    assert usage(cloud)["gigabytes"] == (3, 0) and usage(cloud)["volumes"] == (1, 0)
    with cloud.db.reader() as s:
        assert s.scalars(select(Reservation)).all() == []
    # a later task failed: the row stays in error and gives its quota back, once
    task.revert(result=out, context=ctx, quota_deltas=ENTRY["quota_deltas"])
    task.revert(result=out, context=ctx, quota_deltas=ENTRY["quota_deltas"])
    with cloud.db.reader() as s:
        row = s.get(Volume, out["volume_id"])
        assert row.status == "error" and row.use_quota is False
    assert usage(cloud)["gigabytes"] == (0, 0)
    assert usage(cloud)["gigabytes___DEFAULT__"] == (0, 0)


def test_entry_create_over_quota_writes_nothing(cloud, ctx):
    cloud.config.cinder.set_override("quota_gigabytes", 2)
    try:
        with pytest.raises(exception.OverLimit):
            flow.EntryCreateTask(cloud).execute(context=ctx, **ENTRY)
    finally:
        cloud.config.cinder.clear_override("quota_gigabytes")
    with cloud.db.reader() as s:
        assert s.scalars(select(Volume)).all() == []
    assert all(v == (0, 0) for v in usage(cloud).values())


def test_cast_revert_sets_error(cloud, ctx):
    task = flow.VolumeCastTask(cloud)
    with cloud.db.writer() as s:
        s.add(Volume(id="v1", project_id="p1", size=1, status="creating"))
    task.revert(result=None, volume_id="v1")
    with cloud.db.reader() as s:
        assert s.get(Volume, "v1").status == "error"


def _store(ctx, **kw):
    return {"context": ctx, "raw_size": 1, "raw_availability_zone": None,
            "raw_volume_type": None, "snapshot": None, "source_volume": None,
            "image_meta": None, "backup": None, "valid_zones": {"nova"}, "name": "x",
            "description": None, "metadata": {}, **kw}


def test_failure_before_commit_leaves_nothing(cloud, ctx):
    with pytest.raises(Exception):
        flow.run(cloud, _store(ctx, raw_availability_zone="ag1"))
    cloud.config.cinder.set_override("quota_volumes", 0)
    try:
        with pytest.raises(exception.OverLimit):
            flow.run(cloud, _store(ctx))
    finally:
        cloud.config.cinder.clear_override("quota_volumes")
    with cloud.db.reader() as s:
        assert s.scalars(select(Volume)).all() == []
        assert s.scalars(select(Reservation)).all() == []
    assert all(v == (0, 0) for v in usage(cloud).values())


def test_failed_cast_keeps_row_in_error_with_quota_returned(cloud, ctx, monkeypatch):
    def broken(*a, **k):
        raise rpc.NoSuchTopic(backends.SCHEDULER_TOPIC)

    monkeypatch.setattr(cloud.rpc, "cast", broken)
    with pytest.raises(rpc.NoSuchTopic):
        flow.run(cloud, _store(ctx))
    with cloud.db.reader() as s:
        (row,) = s.scalars(select(Volume)).all()
        assert row.status == "error" and row.use_quota is False
    assert usage(cloud)["volumes"] == (0, 0)


# -- the engine is reused (run's pool of idle engines) -----------------------------------


def _volume(cloud, volume_id):
    with cloud.db.reader() as s:
        return s.get(Volume, volume_id)


def test_failed_runs_then_a_good_one_on_the_same_thread(cloud, ctx):
    first = flow.run(cloud, _store(ctx, name="first", raw_size=2))   # an engine to reuse
    with pytest.raises(errors.InvalidAvailabilityZone):
        flow.run(cloud, _store(ctx, name="bad-zone", raw_availability_zone="nowhere"))
    cloud.config.cinder.set_override("quota_gigabytes", 4)
    try:
        with pytest.raises(exception.OverLimit):
            flow.run(cloud, _store(ctx, name="too-big", raw_size=3))
        good = flow.run(cloud, _store(ctx, name="good", raw_size=1,
                                      metadata={"k": "v"}))
    finally:
        cloud.config.cinder.clear_override("quota_gigabytes")
    assert good["volume_id"] != first["volume_id"]
    assert good["volume"].id == good["volume_id"] and good["refresh_az"] is False
    row = _volume(cloud, good["volume_id"])
    assert (row.display_name, row.size, row.availability_zone, row.metadata_) == (
        "good", 1, "nova", {"k": "v"})
    with cloud.db.reader() as s:
        assert sorted(v.display_name for v in s.scalars(select(Volume))) == ["first", "good"]
    assert usage(cloud)["gigabytes"] == (3, 0) and usage(cloud)["volumes"] == (2, 0)


def test_a_failure_after_the_insert_then_a_good_run(cloud, ctx, monkeypatch):
    flow.run(cloud, _store(ctx, name="warm"))   # an engine to reuse
    cast, broken = cloud.rpc.cast, [True]

    def cast_unless_broken(topic, *a, **k):
        if topic == backends.SCHEDULER_TOPIC and broken[0]:
            raise rpc.NoSuchTopic(topic)
        return cast(topic, *a, **k)

    monkeypatch.setattr(cloud.rpc, "cast", cast_unless_broken)
    with pytest.raises(rpc.NoSuchTopic):
        flow.run(cloud, _store(ctx, name="reverted"))
    broken[0] = False
    good = flow.run(cloud, _store(ctx, name="good", raw_size=2))
    assert good["volume"].display_name == "good" and good["volume"].size == 2
    with cloud.db.reader() as s:
        rows = {v.display_name: v for v in s.scalars(select(Volume))}
    assert (rows["reverted"].status, rows["reverted"].use_quota) == ("error", False)
    assert rows["good"].id == good["volume_id"] and rows["good"].use_quota is True
    assert usage(cloud)["volumes"] == (2, 0) and usage(cloud)["gigabytes"] == (3, 0)


def test_an_idle_engine_holds_nothing_of_the_last_create(cloud, ctx):
    out = flow.run(cloud, _store(ctx, name="one"))
    ((_, engine),) = common.state(cloud).create_engines
    assert engine.storage.fetch("name") is None and engine.storage.fetch("context") is None
    with pytest.raises(Exception):
        engine.storage.fetch("volume_id")   # cleared with the atom, pending again
    again = flow.run(cloud, _store(ctx, name="two"))
    assert [e for _, e in common.state(cloud).create_engines] == [engine]   # reused
    assert again["volume_id"] != out["volume_id"] and again["volume"].display_name == "two"


def test_concurrent_creates_run_on_their_own_engines(cloud, ctx, monkeypatch):
    flow.run(cloud, _store(ctx, name="warm"))   # one idle engine for two creates
    both_in_flow = threading.Barrier(2, timeout=10)
    cast = cloud.rpc.cast

    def cast_when_both_are_casting(topic, *a, **k):   # both engines mid-run at once
        if topic == backends.SCHEDULER_TOPIC:
            both_in_flow.wait()
        return cast(topic, *a, **k)

    monkeypatch.setattr(cloud.rpc, "cast", cast_when_both_are_casting)
    results, errors_seen = {}, []

    def create(name):
        c = RequestContext(cloud=cloud, project_id="p1", user_id="u1", roles=["member"],
                           request_id=f"req-{name}")
        try:
            results[name] = flow.run(cloud, _store(c, name=name))
        except Exception as exc:   # reported below
            errors_seen.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors_seen == []
    assert {n: r["volume"].display_name for n, r in results.items()} == {"a": "a", "b": "b"}
    assert {_volume(cloud, r["volume_id"]).display_name for r in results.values()} == {"a", "b"}
    engines = [e for _, e in common.state(cloud).create_engines]
    assert len(engines) == 2 and engines[0] is not engines[1]
