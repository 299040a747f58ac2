"""The compute host's side of snapshots, rebuild, shelve/unshelve and evacuate
(nova/compute/manager.py), with the task states the libvirt driver passes through.

The fake guest's disk is its boot image: a snapshot streams the boot image's bytes out of
Glance (``GET /v2/images/{id}/file``) into the new image, both through Nova's Glance client.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from stackling import exception
from stackling.compute import cinder as volume_api
from stackling.compute import glance as image_api
from stackling.compute import volume_zones
from stackling.compute.host import volumes as volume_attach
from stackling.compute.objects import bdm, instance_action, migration
from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.compute.host import driver as virt

LOG = logging.getLogger(__name__)


class LifecycleManager:
    """Mixed into ``ComputeManager``: the steps of the lifecycle actions on one host."""

    cloud: Cloud
    host: str
    driver: virt.ComputeDriver

    def _image_ref(self, instance_uuid: str) -> str | None:
        with self.cloud.db.reader() as s:
            row = instances.by_uuid(s, instance_uuid)
            return None if row is None else row.image_ref

    def _upload_disk(self, glance: image_api.GlanceAPI, inst: dict, image_id: str,
                     boot_image: str | None, states: tuple[str, str]) -> None:
        """``snapshot`` of the libvirt driver: the disk's format on the image, then the
        bytes, with the two task states it reports on the way."""
        self._finish(inst["uuid"], task_state=states[0])
        source = glance.get(boot_image) if boot_image else {}
        chunks, length = glance.download(boot_image) if boot_image else (iter(()), 0)
        self._finish(inst["uuid"], task_state=states[1])
        glance.update(image_id, {"disk_format": source.get("disk_format") or "qcow2",
                                 "container_format": "bare", "image_location": "snapshot",
                                 "image_state": "available",
                                 "owner_id": inst.get("project_id") or ""})
        glance.upload(image_id, chunks, length)

    def snapshot_instance(self, instance_uuid: str, image_id: str, caller: dict,
                          request_id: str | None = None) -> None:
        """``snapshot_instance``: image_snapshot → image_pending_upload → image_uploading;
        the image is deleted when it fails."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        glance = image_api.GlanceAPI(self.cloud, volume_api.Caller(**caller))
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id,
                                       "compute_snapshot_instance", self.host):
                self._finish(instance_uuid, task_state="image_snapshot")
                self.driver.snapshot(inst)
                self._upload_disk(glance, {**inst, "project_id": caller.get("project_id")},
                                  image_id, self._image_ref(instance_uuid),
                                  ("image_pending_upload", "image_uploading"))
        except Exception:
            LOG.exception("snapshot of %s failed", instance_uuid)
            try:
                glance.delete(image_id)
            except exception.StacklingError:
                pass
        self._finish(instance_uuid, task_state=None)
