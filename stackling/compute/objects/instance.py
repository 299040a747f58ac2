"""Instance rows: claims on a compute node, errors with faults, lookup, soft delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from stackling import exception
from stackling.compute import power_state
from stackling.db.models import utcnow
from stackling.db.models_compute import BlockDeviceMapping, ComputeNode, Instance, InstanceFault

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.context import RequestContext


def claimed_disk(inst: Instance) -> int:
    """Local disk a server takes: a volume-backed server's root is not on the host."""
    bfv = bool((inst.scheduler_hints or {}).get("_is_bfv"))
    return inst.ephemeral_gb + (0 if bfv else inst.root_gb)


def instance_dict(inst: Instance) -> dict:
    return {"uuid": inst.uuid, "vcpus": inst.vcpus, "memory_mb": inst.memory_mb,
            "root_gb": claimed_disk(inst), "host": inst.host, "node": inst.node,
            "availability_zone": inst.availability_zone, "requested_az": inst.requested_az,
            "bfv": bool((inst.scheduler_hints or {}).get("_is_bfv"))}


def claim(cloud: Cloud, node: str, vcpus: int, memory_mb: int, disk_gb: int) -> bool:
    """Take the resources on ``node`` if they still fit (compare-and-swap); True on success."""
    n = ComputeNode
    with cloud.db.writer() as s:
        result = s.execute(
            update(n).where(
                n.hypervisor_hostname == node,
                n.vcpus_used + vcpus <= (n.vcpus - n.reserved_vcpus) * n.cpu_allocation_ratio,
                n.memory_mb_used - n.reserved_memory_mb + memory_mb
                <= (n.memory_mb - n.reserved_memory_mb) * n.ram_allocation_ratio,
                n.local_gb_used + disk_gb
                <= (n.local_gb - n.reserved_disk_gb) * n.disk_allocation_ratio)
            .values(vcpus_used=n.vcpus_used + vcpus, memory_mb_used=n.memory_mb_used + memory_mb,
                    local_gb_used=n.local_gb_used + disk_gb, running_vms=n.running_vms + 1,
                    updated_at=utcnow()))
        return result.rowcount == 1


def release(s, node: str | None, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    """Give a claim back (inside the caller's write transaction)."""
    if not node:
        return
    n = ComputeNode
    s.execute(update(n).where(n.hypervisor_hostname == node).values(
        vcpus_used=n.vcpus_used - vcpus, memory_mb_used=n.memory_mb_used - memory_mb,
        local_gb_used=n.local_gb_used - disk_gb, running_vms=n.running_vms - 1,
        updated_at=utcnow()))


def add_fault(cloud: Cloud, instance_uuid: str, message: str, details: str,
              code: int = 500, host: str | None = None, **values) -> None:
    """A fault on a server that keeps its state (e.g. a move that found no host);
    ``values`` are set on the instance in the same transaction."""
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        for key, value in values.items():
            setattr(inst, key, value)
        s.add(InstanceFault(instance_uuid=instance_uuid, code=code, message=message[:255],
                            details=details, host=host))


def set_error(cloud: Cloud, instance_uuid: str, message: str, details: str,
              code: int = 500, host: str | None = None) -> None:
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        inst.vm_state, inst.task_state = "error", None
        s.add(InstanceFault(instance_uuid=instance_uuid, code=code, message=message[:255],
                            details=details, host=host))


def delete_instance_row(cloud: Cloud, instance_uuid: str, release_claim: bool) -> None:
    """Soft-delete the instance (Nova: deleted = id) and give its resources back."""
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        if release_claim and inst.node:
            release(s, inst.node, inst.vcpus, inst.memory_mb, claimed_disk(inst))
        s.execute(delete(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == instance_uuid))
        now = utcnow()
        inst.deleted, inst.deleted_at, inst.terminated_at = inst.id, now, now
        inst.vm_state, inst.task_state, inst.power_state = "deleted", None, power_state.NOSTATE


class InstanceNotFound(exception.NotFound):
    msg_fmt = "Instance %(instance_id)s could not be found."


def by_uuid(s, instance_uuid: str) -> Instance | None:
    """The instance row, deleted or not (workers check ``deleted`` themselves)."""
    return s.scalar(select(Instance).where(Instance.uuid == instance_uuid)
                    .order_by(Instance.deleted))


def get(s, ctx: RequestContext, server_id: str) -> Instance:
    """The live instance ``server_id`` as ``ctx`` may see it; InstanceNotFound otherwise."""
    inst = s.scalar(select(Instance).where(Instance.uuid == server_id, Instance.deleted == 0))
    if inst is None:
        raise InstanceNotFound(instance_id=server_id)
    if inst.project_id != ctx.project_id and not ctx.is_admin:
        raise InstanceNotFound(instance_id=server_id)
    return inst
