"""Each process repairs only what its services own (issue 14): a restarted nova-compute its
host's instances, a cinder-volume its backend's volumes, the cinder-scheduler only the
reservations past ``reservation_expire``; other processes may be working on the rest."""

from __future__ import annotations

from sqlalchemy import func, select, update

from stackling import recovery
from stackling.db.models_compute import Instance
from stackling.db.models_volume import Reservation, Volume
from stackling.seams import parse_only
from stackling.volume.objects import quota
from tests.functional.test_bfv import FAST, LATEST, upload_image
from tests.functional.test_reliability import create_volume, status_of
from tests.helpers import ApiClient, settle


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
    on1, on3 = _boot(api, image, "ag1"), _boot(api, image, "nova")
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
