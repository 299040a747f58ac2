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
from stackling.compute import block_device
from stackling.compute import cinder as volume_api
from stackling.compute import glance as image_api
from stackling.compute.host import volumes as volume_attach
from stackling.compute.objects import bdm, instance_action, migration
from stackling.compute.objects import instance as instances
from stackling.db.models import utcnow

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

    def _snapshot(self, inst: dict, image_id: str, caller: dict, request_id: str | None,
                  event: str, states: tuple[str, str]) -> bool:
        """Upload the guest's disk into ``image_id`` inside ``event``; on failure the image
        is deleted and the task state cleared (False)."""
        uuid = inst["uuid"]
        glance = image_api.GlanceAPI(self.cloud, volume_api.Caller(**caller))
        try:
            with instance_action.event(self.cloud, uuid, request_id, event, self.host):
                if event == "compute_shelve_instance":
                    self.driver.power_off(inst)
                else:
                    if event == "compute_snapshot_instance":   # a backup stays image_backup
                        self._finish(uuid, task_state="image_snapshot")
                    self.driver.snapshot(inst)
                self._upload_disk(glance, {**inst, "project_id": caller.get("project_id")},
                                  image_id, self._image_ref(uuid), states)
        except Exception:
            LOG.exception("%s of %s failed", event, uuid)
            try:
                glance.delete(image_id)
            except exception.StacklingError:
                pass
            self._finish(uuid, task_state=None)
            return False
        return True

    def snapshot_instance(self, instance_uuid: str, image_id: str, caller: dict,
                          request_id: str | None = None) -> None:
        """``snapshot_instance``: image_snapshot → image_pending_upload → image_uploading."""
        inst = self._load(instance_uuid)
        if inst is not None and self._snapshot(inst, image_id, caller, request_id,
                                               "compute_snapshot_instance",
                                               ("image_pending_upload", "image_uploading")):
            self._finish(instance_uuid, task_state=None)

    def backup_instance(self, instance_uuid: str, image_id: str, backup_type: str,
                        rotation: int, caller: dict, request_id: str | None = None) -> None:
        """``backup_instance``: image_backup → image_pending_upload → image_uploading,
        then ``_rotate_backups``."""
        inst = self._load(instance_uuid)
        if inst is not None and self._snapshot(inst, image_id, caller, request_id,
                                               "compute_backup_instance",
                                               ("image_pending_upload", "image_uploading")):
            self._finish(instance_uuid, task_state=None)
            self._rotate_backups(instance_uuid, backup_type, rotation, caller)

    def _rotate_backups(self, instance_uuid: str, backup_type: str, rotation: int,
                        caller: dict) -> None:
        """Delete this server's oldest backups of ``backup_type`` beyond ``rotation``
        (as the caller, as Nova does); a backup that cannot be deleted is skipped."""
        glance = image_api.GlanceAPI(self.cloud, volume_api.Caller(**caller))
        backups = glance.get_all({"image_type": "backup", "backup_type": backup_type,
                                  "instance_uuid": instance_uuid,
                                  "sort_key": "created_at", "sort_dir": "desc"})
        for image in backups[rotation:]:
            try:
                glance.delete(image["id"])
            except exception.StacklingError as err:
                LOG.info("Failed to delete image %s during deleting excess backups: %s",
                         image["id"], err)

    # -- rebuild and evacuate (rebuild_instance) -------------------------------------

    def _hints(self, instance_uuid: str, **values) -> None:
        """Set (or, with None, drop) private RequestSpec/system-metadata keys."""
        with self.cloud.db.writer() as s:
            row = instances.by_uuid(s, instance_uuid)
            if row is None or row.deleted:
                return
            hints = dict(row.scheduler_hints or {})
            for key, value in values.items():
                if value is None:
                    hints.pop(key, None)
                else:
                    hints[key] = value
            instances.update_fields(row, scheduler_hints=hints)

    def _reattach(self, inst: dict, caller: dict, zone: str) -> None:
        """Every volume gets a new attachment on this host; ``cross_az_attach = False``
        is enforced here (nova/virt/block_device.py attach)."""
        builder = volume_attach.Builder(self.cloud, self.host, volume_api.Caller(**caller),
                                        {**inst, "availability_zone": zone})
        mappings = bdm.load(self.cloud, inst["uuid"])
        used = [b["device_name"] for b in mappings]
        for b in mappings:
            if not b["volume_id"] or b["destination_type"] != "volume":
                continue
            if not b["device_name"]:    # attached while shelved offloaded: named here
                b["device_name"] = block_device.next_device_name(used)
                used.append(b["device_name"])
                bdm.save(self.cloud, b["id"], device_name=b["device_name"])
            old = b.get("attachment_id")
            b["attachment_id"] = None
            builder._attach(b)
            if old:
                try:
                    builder.cinder.attachment_delete(old)
                except exception.StacklingError:
                    pass

    def rebuild_instance(self, instance_uuid: str, orig_vm_state: str, caller: dict,
                         preserve_ephemeral: bool = False, reimage: bool = False,
                         migration_id: int | None = None, stop: bool = False,
                         request_id: str | None = None) -> None:
        """rebuilding → rebuild_block_device_mapping → rebuild_spawning → ACTIVE (a
        stopped server, or an evacuation at 2.95, is powered off again). An evacuation
        (``migration_id``) first takes the server over on this host."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id,
                                       "compute_rebuild_instance", self.host):
                if preserve_ephemeral:
                    raise RuntimeError("The current driver does not support preserving "
                                       "ephemeral partitions.")
                zone = self._zone()
                if migration_id is not None:
                    migration.set_status(self.cloud, migration_id, "rebuilding")
                    with self.cloud.db.reader() as s:
                        mig = migration.get(s, migration_id)
                        source_node, flavor = mig.source_node, dict(mig.old_flavor or {})
                        node = mig.dest_node
                    self._reattach(inst, caller, zone)
                    migration.place(self.cloud, instance_uuid, self.host, node, zone)
                    # The source is down: its claim goes with the evacuation.
                    migration.release_claim(self.cloud, source_node, flavor, inst["bfv"])
                else:
                    self.driver.destroy(inst)
                self._finish(instance_uuid, task_state="rebuild_block_device_mapping")
                # Volume-backed at 2.93+: Cinder re-images the root volume in place; the
                # fake guest has no data to lose either way.
                self._finish(instance_uuid, task_state="rebuild_spawning")
                self.driver.spawn(inst)
                end = "active"
                if orig_vm_state == "stopped" or (stop and orig_vm_state == "active"):
                    self._finish(instance_uuid, vm_state="active", task_state="powering-off")
                    self.driver.power_off(inst)
                    end = "stopped"
                if migration_id is not None:
                    migration.set_status(self.cloud, migration_id, "done")
        except Exception as exc:
            LOG.exception("rebuild of %s failed", instance_uuid)
            if migration_id is not None:
                migration.set_status(self.cloud, migration_id, "failed")
            instances.set_error(self.cloud, instance_uuid, str(exc), traceback.format_exc(),
                                host=self.host)
            return
        self._finish(instance_uuid, vm_state=end, task_state=None, launched_at=utcnow(),
                     power_state=self.driver.get_power_state(inst))

    # -- shelve, shelve offload, unshelve -----------------------------------------------

    def shelve_instance(self, instance_uuid: str, image_id: str, offload: bool,
                        caller: dict, request_id: str | None = None) -> None:
        """shelving → shelving_image_pending_upload → shelving_image_uploading → SHELVED,
        then (``shelved_offload_time = 0``) shelving_offloading → SHELVED_OFFLOADED."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        if not self._snapshot(inst, image_id, caller, request_id, "compute_shelve_instance",
                              ("shelving_image_pending_upload", "shelving_image_uploading")):
            return
        self._hints(instance_uuid, _shelved_image_id=image_id, _shelved_host=self.host,
                    _shelved_at=utcnow().isoformat())
        self._finish(instance_uuid, vm_state="shelved",
                     task_state="shelving_offloading" if offload else None,
                     power_state=self.driver.get_power_state(inst))
        if offload:
            self._offload(instance_uuid, caller, None)

    def shelve_offload_instance(self, instance_uuid: str, caller: dict,
                                request_id: str | None = None) -> None:
        self._offload(instance_uuid, caller, request_id)

    def _offload(self, instance_uuid: str, caller: dict, request_id: str | None) -> None:
        """``_shelve_offload_instance``: the guest and its claim leave the host; volumes
        keep a reserved attachment without a connector; host and zone are cleared."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        cinder = volume_api.CinderAPI(self.cloud, volume_api.Caller(**caller))
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id,
                                       "compute_shelve_offload_instance", self.host):
                self.driver.destroy(inst)
                for b in bdm.load(self.cloud, instance_uuid):
                    if not b["volume_id"] or not b["attachment_id"]:
                        continue
                    new = cinder.attachment_create(b["volume_id"], instance_uuid)["id"]
                    cinder.attachment_delete(b["attachment_id"])
                    bdm.save(self.cloud, b["id"], attachment_id=new, connection_info=None)
        except Exception:
            LOG.exception("shelve offload of %s failed", instance_uuid)
            self._finish(instance_uuid, task_state=None)
            return
        with self.cloud.db.writer() as s:
            instances.release(s, inst["node"], inst["vcpus"], inst["memory_mb"],
                              inst["root_gb"])
            row = instances.by_uuid(s, instance_uuid)
            if row is not None and not row.deleted:
                instances.update_fields(
                    row, host=None, node=None, availability_zone=None,
                    vm_state="shelved_offloaded", task_state=None, power_state=0,
                    updated_at=utcnow())

    def _drop_shelved_image(self, instance_uuid: str, caller: dict) -> None:
        with self.cloud.db.reader() as s:
            row = instances.by_uuid(s, instance_uuid)
            image_id = (row.scheduler_hints or {}).get("_shelved_image_id") if row else None
        if image_id:
            try:
                image_api.GlanceAPI(self.cloud, volume_api.Caller(**caller)).delete(image_id)
            except exception.StacklingError:
                pass
        self._hints(instance_uuid, _shelved_image_id=None, _shelved_host=None,
                    _shelved_at=None)

    def unshelve_instance(self, instance_uuid: str, caller: dict, node: str | None = None,
                          request_id: str | None = None) -> None:
        """From SHELVED: started in place. From SHELVED_OFFLOADED (``node`` claimed by the
        conductor): spawning here, volumes re-attached (cross_az_attach checked)."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        if node is None:
            self._finish(instance_uuid, task_state="powering-on")
            self._transition(instance_uuid, request_id, "compute_start_instance",
                             self.driver.power_on, vm_state="active")
            self._drop_shelved_image(instance_uuid, caller)
            return
        zone = self._zone()
        inst = {**inst, "host": self.host, "node": node}
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id,
                                       "compute_unshelve_instance", self.host):
                migration.place(self.cloud, instance_uuid, self.host, node, zone,
                                task_state="spawning")
                self._reattach(inst, caller, zone)
                self.driver.spawn(inst)
        except Exception as exc:
            LOG.exception("unshelve of %s failed", instance_uuid)
            self.driver.destroy(inst)
            with self.cloud.db.writer() as s:
                instances.release(s, node, inst["vcpus"], inst["memory_mb"], inst["root_gb"])
            self._finish(instance_uuid, host=None, node=None, availability_zone=None)
            instances.add_fault(self.cloud, instance_uuid, str(exc), traceback.format_exc(),
                                host=self.host, vm_state="shelved_offloaded",
                                task_state=None)
            return
        self._finish(instance_uuid, vm_state="active", task_state=None,
                     power_state=self.driver.get_power_state(inst))
        self._drop_shelved_image(instance_uuid, caller)
