"""/os-assisted-volume-snapshots: Cinder asks Nova to snapshot (or delete a snapshot of)
an attached file-based volume through the hypervisor
(nova/api/openstack/compute/assisted_volume_snapshots.py).

Nova checks the volume's block device mapping and its server, then casts to the compute,
whose driver does the work; Nova's fake driver (like ours) does nothing with it, so no
cast is made. Every refusal is a 400, even the state ones Nova would answer 409 elsewhere.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common
from stackling.db.models_compute import BlockDeviceMapping, Instance
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "os_compute_api:os-assisted-volume-snapshots:create": "role:admin or role:service",
    "os_compute_api:os-assisted-volume-snapshots:delete": "role:admin or role:service",
})

_ID = {"type": "string", "minLength": 1}
CREATE = validation.wrap("snapshot", validation.obj({
    "volume_id": _ID,
    "create_info": validation.obj({"snapshot_id": _ID, "type": {"type": "string",
                                                                "enum": ["qcow2"]},
                                   "new_file": _ID, "id": _ID},
                                  ("snapshot_id", "type", "new_file")),
}, ("volume_id", "create_info")))


def _check_server(req: Request, volume_id: str, method: str) -> Instance:
    """``_get_bdm_by_volume_id`` then ``check_instance_host`` and ``check_instance_state``
    (any vm_state, no task, launched), all as 400s."""
    with req.app.cloud.db.reader() as s:
        uuids = s.scalars(select(BlockDeviceMapping.instance_uuid).join(
            Instance, Instance.uuid == BlockDeviceMapping.instance_uuid).where(
            BlockDeviceMapping.volume_id == volume_id, Instance.deleted == 0)).all()
        if not uuids:
            raise exception.BadRequest(
                f"No volume Block Device Mapping with id {volume_id}.")
        if len(uuids) > 1:
            raise exception.BadRequest(
                f"Block Device Mapping {volume_id} is a multi-attach volume and is not "
                "valid for this operation.")
        inst = s.scalar(select(Instance).where(Instance.uuid == uuids[0],
                                               Instance.deleted == 0))
        s.expunge(inst)
    if not inst.host:
        raise exception.BadRequest(f"Instance {inst.uuid} is not ready")
    for attr, state, bad in (("task_state", inst.task_state, inst.task_state is not None),
                             ("launched_at", inst.launched_at, inst.launched_at is None)):
        if bad:
            raise exception.BadRequest(
                f"Instance {inst.uuid} in {attr} {state}. Cannot {method} while the "
                "instance is in this state.")
    return inst


@validation.schema(CREATE)
def create_snapshot(req: Request):
    """``POST``: 200 ``{"snapshot": {"id": create_info's id or null, "volumeId"}}``."""
    common.authorize(req, "os_compute_api:os-assisted-volume-snapshots:create")
    snapshot = read_json(req)["snapshot"]
    volume_id = snapshot["volume_id"]
    _check_server(req, volume_id, "do_volume_snapshot_create")
    return json_response({"snapshot": {"id": snapshot["create_info"].get("id"),
                                       "volumeId": volume_id}})


def _delete_info(req: Request) -> dict:
    """The ``delete_info`` query parameter, JSON with a ``volume_id``; Nova's 400 carries
    the bare KeyError/ValueError text."""
    try:
        info = json.loads(req.GET["delete_info"])
        info["volume_id"]
    except (KeyError, ValueError, TypeError) as exc:
        raise exception.BadRequest(str(exc)) from None
    return info


def delete_snapshot(req: Request, snapshot_id: str):
    """``DELETE /{snapshot_id}?delete_info={"volume_id": ...}``: 204."""
    common.authorize(req, "os_compute_api:os-assisted-volume-snapshots:delete")
    if req.version.matches("2.75"):
        validation.check(req, {k: req.GET.getall(k)[-1] for k in req.GET},
                         validation.obj({"delete_info": {"type": "string"}}), query=True)
    info = _delete_info(req)
    inst = _check_server(req, info["volume_id"], "do_volume_snapshot_delete")
    if info.get("merge_target_file") is not None and inst.vm_state != "active":
        raise exception.BadRequest(
            f"Instance {inst.uuid} in vm_state {inst.vm_state}. Cannot "
            "volume_snapshot_delete while the instance is in this state.")
    return empty_response(204)
