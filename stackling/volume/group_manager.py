"""cinder-volume's group operations (cinder/volume/manager.py create_group ...).

The file driver has no group primitives, so these do what Cinder's generic fallback
does (``_create_group_generic`` and friends): a group is bookkeeping on the backend,
a group snapshot is one snapshot per volume, a group from a source is one volume per
source snapshot or volume. They reuse the volume manager's single-volume steps.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from stackling.db.models_volume import Group, GroupSnapshot, Snapshot, Volume
from stackling.volume.objects import groups as grp_obj

LOG = logging.getLogger(__name__)


class GroupOperations:
    """Mixed into ``VolumeManager`` (needs ``cloud``, ``create_volume``,
    ``delete_volume``, ``create_snapshot``, ``delete_snapshot``)."""

    def create_group(self, group_id: str) -> None:
        grp_obj.set_group_status(self.cloud, group_id, "creating", status="available")
        self.cloud.notifier.changed(group_id)

    def update_group(self, group_id: str, add_volumes: list[str],
                     remove_volumes: list[str]) -> None:
        with self.cloud.db.writer() as s:
            grp_obj.move_volumes(s, group_id, add_volumes, remove_volumes)
            grp_obj.group_update(s, group_id, "updating", status="available")
        self.cloud.notifier.changed(group_id)

    def delete_group(self, group_id: str) -> None:
        """The member volumes (already ``deleting``) go, then the group row."""
        with self.cloud.db.reader() as s:
            members = grp_obj.group_volume_ids(s, group_id)
        for volume_id in members:
            self.delete_volume(volume_id)
        with self.cloud.db.writer() as s:
            if grp_obj.group_volume_ids(s, group_id):
                grp_obj.group_update(s, group_id, "deleting", status="error_deleting")
            else:
                row = s.get(Group, group_id)
                if row is not None:
                    grp_obj.destroy(s, row)
        self.cloud.notifier.changed(group_id)

    def create_group_snapshot(self, group_snapshot_id: str) -> None:
        with self.cloud.db.reader() as s:
            members = [sn.id for sn in grp_obj.group_snapshot_members(s, group_snapshot_id)]
        for snapshot_id in members:
            self.create_snapshot(snapshot_id)
        with self.cloud.db.writer() as s:
            statuses = {sn.status for sn in grp_obj.group_snapshot_members(s, group_snapshot_id)}
            status = "available" if statuses <= {"available"} else "error"
            grp_obj.group_snapshot_update(s, group_snapshot_id, "creating", status=status)

    def delete_group_snapshot(self, group_snapshot_id: str) -> None:
        with self.cloud.db.reader() as s:
            members = [sn.id for sn in grp_obj.group_snapshot_members(s, group_snapshot_id)]
        for snapshot_id in members:
            self.delete_snapshot(snapshot_id)
        with self.cloud.db.writer() as s:
            if s.scalar(select(Snapshot.id).where(
                    Snapshot.group_snapshot_id == group_snapshot_id).limit(1)):
                grp_obj.group_snapshot_update(s, group_snapshot_id, "deleting",
                                              status="error_deleting")
            else:
                row = s.get(GroupSnapshot, group_snapshot_id)
                if row is not None:
                    s.delete(row)

    def create_group_from_src(self, group_id: str) -> None:
        """Each ``creating`` member from its snapshot or source volume, never rescheduled
        (the group is pinned to this backend); the group ends ``available`` or ``error``."""
        with self.cloud.db.reader() as s:
            rows = s.scalars(select(Volume).where(Volume.group_id == group_id,
                                                  Volume.status == "creating")).all()
            work = [(r.id, {"project_id": r.project_id, "snapshot_id": r.snapshot_id,
                            "source_volid": r.source_volid}) for r in rows]
        no_retry = {"retry": {"num_attempts": self.cloud.config.cinder.scheduler_max_attempts}}
        for volume_id, spec in work:
            self.create_volume(volume_id, spec, no_retry)
        with self.cloud.db.writer() as s:
            statuses = {s.get(Volume, v).status for v, _ in work if s.get(Volume, v)}
            status = "available" if statuses <= {"available"} else "error"
            grp_obj.group_update(s, group_id, "creating", status=status)
        self.cloud.notifier.changed(group_id)
