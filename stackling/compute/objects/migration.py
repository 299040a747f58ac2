"""Migration records (resize, cold/live migration, evacuation) and the instance moves they
drive: the host switch, the flavor switch, and the claims each side keeps or gives back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance, Migration

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

IN_PROGRESS = ("accepted", "pre-migrating", "migrating", "post-migrating", "preparing",
               "running", "queued", "confirming", "reverting")


def flavor_snapshot(flavor: dict) -> dict:
    """What an instance keeps of its flavor (``instance.flavor``)."""
    return {k: flavor.get(k) for k in ("id", "name", "ram", "vcpus", "disk", "ephemeral",
                                       "swap", "extra_specs")}


def create(s: Session, inst: Instance, kind: str, status: str, new_flavor: dict | None = None,
           dest: str | None = None) -> Migration:
    row = Migration(instance_uuid=inst.uuid, migration_type=kind, status=status,
                    source_compute=inst.host, source_node=inst.node, dest_host=dest,
                    old_flavor=dict(inst.flavor or {}),
                    new_flavor=dict(new_flavor or inst.flavor or {}),
                    old_vm_state=inst.vm_state, user_id=inst.user_id,
                    project_id=inst.project_id)
    s.add(row)
    s.flush()
    return row


def get(s: Session, migration_id: int) -> Migration | None:
    return s.get(Migration, migration_id)


def set_status(cloud: Cloud, migration_id: int, status: str, **values: Any) -> None:
    with cloud.db.writer() as s:
        row = s.get(Migration, migration_id)
        if row is not None:
            row.status = status
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()


def latest(s: Session, instance_uuid: str, status: str) -> Migration | None:
    return s.scalar(select(Migration).where(Migration.instance_uuid == instance_uuid,
                                            Migration.status == status)
                    .order_by(Migration.id.desc()).limit(1))


def sized(flavor: dict) -> tuple[int, int, int]:
    """(vcpus, memory_mb, disk_gb) a flavor claims on a host."""
    return int(flavor.get("vcpus") or 0), int(flavor.get("ram") or 0), \
        int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0)


def release_claim(cloud: Cloud, node: str | None, flavor: dict, bfv: bool) -> None:
    vcpus, ram, disk = sized(flavor)
    if bfv:
        disk -= int(flavor.get("disk") or 0)
    with cloud.db.writer() as s:
        instances.release(s, node, vcpus, ram, disk)


def place(cloud: Cloud, instance_uuid: str, host: str, node: str, zone: str | None,
          flavor: dict | None = None, **values: Any) -> None:
    """The instance now lives on ``host`` (and, after a resize, with ``flavor``)."""
    with cloud.db.writer() as s:
        inst = s.scalar(select(Instance).where(Instance.uuid == instance_uuid))
        if inst is None or inst.deleted:
            return
        inst.host, inst.node, inst.availability_zone = host, node, zone
        if flavor:
            inst.flavor = dict(flavor)
            inst.vcpus, inst.memory_mb = int(flavor["vcpus"]), int(flavor["ram"])
            inst.root_gb, inst.ephemeral_gb = int(flavor["disk"]), int(flavor["ephemeral"])
        for key, value in values.items():
            setattr(inst, key, value)
        inst.updated_at = utcnow()
