"""Repair on start: nova-compute's ``init_host``/``_init_instance`` per host, and the
conductor's share (instances no host took).

An instance caught building goes to ERROR with a fault, its volumes detached and those
with delete_on_termination deleted, as a failed build leaves it; an interrupted delete
is finished (volumes detached and deleted as on delete); an interrupted power action is
completed. Every repaired instance is logged.

NOTE: real Nova calls Cinder's API with its service user; these repairs run before the
APIs serve and without a user's token, so Cinder's own start-up functions are handed in
(``volumes.detach``/``volumes.delete``, see ``stackling.recovery``) for the same effect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from stackling.compute import neutron
from stackling.compute.objects import bdm
from stackling.compute.objects import instance as instances
from stackling.db.models_compute import Instance

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

BUILD_TASKS = ("scheduling", "block_device_mapping", "networking", "spawning")
# An interrupted power action ends where the action was going (Nova retries it).
POWER_TASKS = {"powering-on": "active", "powering-off": "stopped", "rebooting": "active",
               "rebooting_hard": "active", "reboot_pending": "active",
               "reboot_started": "active", "reboot_pending_hard": "active",
               "reboot_started_hard": "active"}
ERROR, DELETE = "error", "delete"


def instance_action(vm_state: str, task_state: str | None) -> tuple[str, str | None] | None:
    """(what to do, the vm_state to end in) for an instance found at start; None: fine."""
    if task_state == "deleting":
        return DELETE, None
    if vm_state == "building" or task_state in BUILD_TASKS:
        return ERROR, "error"
    if task_state in POWER_TASKS:
        return "finish", POWER_TASKS[task_state]
    if task_state is not None:
        return "finish", vm_state
    return None


def _release_volumes(cloud: Cloud, volumes, instance_uuid: str) -> None:
    """``_cleanup_volumes``: detach every volume, delete those with delete_on_termination."""
    for b in bdm.load(cloud, instance_uuid):
        if not b.get("volume_id"):
            continue
        volumes.detach(b["volume_id"], instance_uuid)
        if b.get("delete_on_termination"):
            volumes.delete(b["volume_id"])


def repair(cloud: Cloud, volumes, inst: Instance, who: str) -> bool:
    """Apply ``instance_action`` to one instance; True when something was repaired."""
    decision = instance_action(inst.vm_state, inst.task_state)
    if decision is None:
        return False
    action, vm_state = decision
    uuid = inst.uuid
    if action == DELETE:
        LOG.warning("Instance %s was being deleted when %s stopped: finishing the delete",
                    uuid, who)
        _release_volumes(cloud, volumes, uuid)
        neutron.deallocate_for_instance(cloud, uuid, {
            "requested": inst.requested_networks, "info": inst.network_info,
            "project_id": inst.project_id})
        instances.delete_instance_row(cloud, uuid, release_claim=True)
        return True
    if action == ERROR:
        LOG.warning("Instance %s was building (%s) when %s stopped: set to ERROR", uuid,
                    inst.task_state, who)
        _release_volumes(cloud, volumes, uuid)
        with cloud.db.writer() as s:
            row = s.scalar(select(Instance).where(Instance.uuid == uuid,
                                                  Instance.deleted == 0))
            if row is not None:
                instances.leave_host(s, row, row.vcpus, row.memory_mb,
                                     instances.claimed_disk(row))
        instances.set_error(cloud, uuid, f"Build of instance {uuid} aborted: {who} stopped "
                                       "while the instance was being built.",
                          f"Found in vm_state {inst.vm_state}, task_state "
                          f"{inst.task_state} when {who} started.", host=inst.host)
        return True
    LOG.warning("Instance %s was in task %s when %s stopped: now %s", uuid, inst.task_state,
                who, vm_state)
    try:
        instances.save(cloud, uuid, expected_task_state=inst.task_state, vm_state=vm_state,
                      task_state=None)
    except (instances.InstanceNotFound, instances.UnexpectedTaskState):
        return False
    return True


def _instances(cloud: Cloud, host: str | None) -> list[Instance]:
    with cloud.db.reader() as s:
        q = select(Instance).where(Instance.deleted == 0).order_by(Instance.id)
        q = q.where(Instance.host.is_(None) if host is None else Instance.host == host)
        q = q.where((Instance.task_state.is_not(None)) | (Instance.vm_state == "building"))
        return list(s.scalars(q))


def init_host(cloud: Cloud, volumes, host: str) -> int:
    """nova-compute ``init_host`` for ``host``: its instances' repairs."""
    return sum(repair(cloud, volumes, inst, f"nova-compute on {host}")
               for inst in _instances(cloud, host))


def init_conductor(cloud: Cloud, volumes) -> int:
    """Instances no host took (scheduling, or a delete of one): the conductor's."""
    return sum(repair(cloud, volumes, inst, "nova-conductor")
               for inst in _instances(cloud, None))


def recover(cloud: Cloud, volumes) -> int:
    """The conductor's share where nova-conductor runs, then ``init_host`` of each host
    this process runs: a restarted nova-compute never touches another host's instances
    (they may be building right now in another process)."""
    fixed = init_conductor(cloud, volumes) if cloud.only.runs("nova-conductor") else 0
    for host in getattr(cloud, "compute_managers", {}):
        fixed += init_host(cloud, volumes, host)
    return fixed
