"""Group and group-snapshot row writes: compare-and-swap on the status, as
``Group.conditional_update`` and ``GroupSnapshot.conditional_update`` do in Cinder.

A group's status moves creating → available (the backend made it), available →
updating → available (volumes added or removed), available/error → deleting → gone;
a concurrent reset or delete wins cleanly instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stackling.db.api import retry_on_deadlock
from stackling.db.models import utcnow
from stackling.db.models_volume import Group, GroupSnapshot, Snapshot, Volume
from stackling.volume.objects import quota
from stackling.volume.objects import volume as vol_obj

# Cinder's c_fields.GroupStatus.ALL: what reset_status accepts.
GROUP_STATUSES = ("error", "available", "creating", "deleting", "deleted", "updating",
                  "in-use", "error_deleting")
# Cinder's c_fields.GroupSnapshotStatus.ALL.
GROUP_SNAPSHOT_STATUSES = ("error", "available", "creating", "deleting", "deleted",
                           "updating", "error_deleting")
# cinder/group/api.py: the volume statuses a group update accepts.
VALID_ADD_VOL_TO_GROUP_STATUS = ("available", "in-use")
VALID_REMOVE_VOL_FROM_GROUP_STATUS = ("available", "in-use", "error", "error_deleting")


def _cas(s: Session, model, row_id: str, expected: Iterable[str] | str | None,
         values: dict) -> bool:
    q = update(model).where(model.id == row_id)
    if expected is not None:
        q = q.where(model.status.in_([expected] if isinstance(expected, str)
                                     else list(expected)))
    result = s.execute(q.values(updated_at=utcnow(), **values)
                       .execution_options(synchronize_session=False))
    return result.rowcount == 1


def group_update(s: Session, group_id: str, expected: Iterable[str] | str | None,
                 **values) -> bool:
    """Set ``values`` on the group if its status is one of ``expected`` (any when None)."""
    return _cas(s, Group, group_id, expected, values)


def group_snapshot_update(s: Session, group_snapshot_id: str,
                          expected: Iterable[str] | str | None, **values) -> bool:
    return _cas(s, GroupSnapshot, group_snapshot_id, expected, values)


@retry_on_deadlock
def set_group_status(cloud, group_id: str, expected, **values) -> bool:
    with cloud.db.writer() as s:
        return group_update(s, group_id, expected, **values)


@retry_on_deadlock
def set_group_snapshot_status(cloud, group_snapshot_id: str, expected, **values) -> bool:
    with cloud.db.writer() as s:
        return group_snapshot_update(s, group_snapshot_id, expected, **values)


def move_volumes(s: Session, group_id: str, add: list[str], remove: list[str]) -> None:
    """Join ``add`` to the group and let ``remove`` go (the manager's update_group)."""
    for volume_id in add:
        vol_obj.conditional_update(s, volume_id, None, group_id=group_id)
    for volume_id in remove:
        vol_obj.conditional_update(s, volume_id, None, group_id=None)


def group_volume_ids(s: Session, group_id: str) -> list[str]:
    return list(s.scalars(select(Volume.id).where(Volume.group_id == group_id)
                          .order_by(Volume.created_at, Volume.id)))


def group_snapshot_members(s: Session, group_snapshot_id: str) -> list[Snapshot]:
    return list(s.scalars(select(Snapshot).where(
        Snapshot.group_snapshot_id == group_snapshot_id).order_by(Snapshot.created_at,
                                                                  Snapshot.id)))


def destroy(s: Session, group: Group) -> None:
    """The group row goes and its project's ``groups`` usage with it."""
    project = group.project_id
    s.delete(group)
    quota.release_in(s, project, {"groups": 1})


def set_volumes_status(s: Session, volume_ids: list[str], status: str) -> None:
    for volume_id in volume_ids:
        vol_obj.conditional_update(s, volume_id, None, status=status)


def add_member_volume(s: Session, group: Group, context, **values) -> Volume:
    """A ``creating`` volume of ``group`` on the group's backend (create from a source)."""
    row = Volume(project_id=context.project_id, user_id=context.user_id,
                 status="creating", attach_status="detached",
                 availability_zone=group.availability_zone, host=group.host,
                 group_id=group.id, use_quota=True, glance_metadata={}, admin_metadata={},
                 metadata_={}, **values)
    s.add(row)
    return row
