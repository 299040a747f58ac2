"""cinder-volume: one manager per backend (``host@backend``), driving the file driver.

create: blank, from image (status ``downloading``; qcow2 converted to raw, raw
cloned or copied with the kernel's fast paths), from snapshot, from source volume.
Failures that another backend could fix go back to the scheduler (up to
scheduler_max_attempts); image and source errors go straight to ``error``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from stackling import exception
from stackling.db.api import retry_on_deadlock
from stackling.db.models import Service, utcnow
from stackling.db.models_volume import Snapshot, Volume, VolumeAttachment, VolumeType
from stackling.seams import http
from stackling.storage import imagestore, volumefiles
from stackling.volume import errors, notifications, nova
from stackling.volume.drivers.file import FileDriver
from stackling.volume.group_manager import GroupOperations
from stackling.volume.image_upload import ImageUploadOperations
from stackling.volume.objects import backends, messages, quota, volume_types
from stackling.volume.objects import volume as vol_obj

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)

# Errors for which Cinder never reschedules (cinder/volume/flows/manager/create_volume.py).
NO_RESCHEDULE = (volumefiles.ImageUnacceptable, volumefiles.ImageConversionError,
                 volumefiles.VolumeTooSmall, volumefiles.VolumeNotFound,
                 imagestore.ImageNotStored)
# Image fields copied into the volume's glance metadata (volume_image_metadata).
IMAGE_FIELDS = ("id", "name", "checksum", "container_format", "disk_format", "min_disk",
                "min_ram", "size")
NOT_COPIED = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner",
              "virtual_size", "created_at", "updated_at", "tags", "self", "file", "schema",
              "os_hash_algo", "os_hash_value", "checksum", "container_format", "disk_format",
              "min_disk", "min_ram", "size", "direct_url", "locations", "stores"}


def glance_metadata(image: dict) -> dict:
    """Cinder stores every value as a string, ``image_id``/``image_name`` for id/name."""
    out = {}
    for key in IMAGE_FIELDS:
        value = image.get(key)
        if value is not None:
            out[{"id": "image_id", "name": "image_name"}.get(key, key)] = str(value)
    for key, value in image.items():
        if key not in NOT_COPIED and value is not None:
            out[key] = str(value)
    return out


CREATING = ("creating", "downloading")


@retry_on_deadlock
def destroy_row(cloud: Cloud, volume_id: str, deltas: dict | None, project: str) -> bool:
    """Delete the row and its attachments and give its quota back, in one transaction;
    only the caller that removed the row gives the quota back."""
    with cloud.db.writer() as s:
        gone = vol_obj.destroy(s, volume_id)
        s.execute(delete(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id))
        if gone and deltas:
            quota.release_in(s, project, deltas)
    return gone


class VolumeManager(GroupOperations, ImageUploadOperations):
    """The ``cinder-volume.<host>@<backend>`` RPC endpoint (groups: group_manager; upload
    to an image: image_upload)."""

    def __init__(self, cloud: Cloud, spec: backends.BackendSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.driver = FileDriver(spec)

    # -- capabilities --------------------------------------------------------------------

    def report(self) -> None:
        caps = self.driver.capabilities()
        with self.cloud.db.writer() as s:
            s.execute(update(Service).where(Service.project == "cinder",
                                            Service.host == self.spec.name,
                                            Service.binary == backends.VOLUME_TOPIC)
                      .values(capabilities=caps))

    def get_capabilities(self, discover: bool = False) -> dict:
        """The driver's stats plus Cinder's standard properties (driver.init_capabilities),
        for GET /capabilities/{host}."""
        caps = dict(self.driver.capabilities())
        caps["properties"] = {
            key: {"title": title, "description": text, "type": "boolean"}
            for key, title, text in (
                ("thin_provisioning", "Thin Provisioning", "Sets thin provisioning."),
                ("compression", "Compression", "Enables compression."),
                ("qos", "QoS", "Enables QoS."),
                ("replication_enabled", "Replication", "Enables replication."))}
        return caps

    # -- volumes -------------------------------------------------------------------------

    def _image_file(self, image: dict):
        """The image's bytes as a local file: the file of its ``direct_url`` where
        cinder.conf allows the scheme and the file is here, else the image-data seam
        (Glance's store file in a shared data dir, or GET /v2/images/{id}/file into a
        scratch file of this data dir, deleted after use)."""
        direct = http.direct_file(image, self.cloud.config.cinder.allowed_direct_url_schemes)
        if direct is not None:
            return contextlib.nullcontext(direct)
        return self.cloud.image_data.local_file(
            image["id"], self.cloud.settings.data_dir / "image-downloads")

    def create_volume(self, volume_id: str, request_spec: dict,
                      filter_properties: dict) -> None:
        with self.cloud.db.reader_connection() as s:
            row = vol_obj.read_create_state(s, volume_id)
            if row is None:
                return
            size = row.size
        image = request_spec.get("image_meta")
        created = False
        notifications.volume_usage(self.cloud, volume_id, "create.start", self.spec.name)
        try:
            if request_spec.get("snapshot_id"):
                self.driver.create_volume_from_snapshot(volume_id, request_spec["snapshot_id"],
                                                        size)
                self._finish(volume_id, row, {})
            elif request_spec.get("source_volid"):
                self.driver.create_cloned_volume(volume_id, request_spec["source_volid"], size)
                self._finish(volume_id, row, {})
            elif image:
                if not vol_obj.set_status(self.cloud, volume_id, "creating",
                                          status="downloading"):
                    return   # deleted (or reset) before the download began
                with self._image_file(image) as path:
                    method = self.driver.create_volume_from_image(
                        volume_id, path, image.get("disk_format") or "raw", size)
                LOG.info("Volume %s created from image %s (%s)", volume_id, image["id"],
                         method)
                created = self._finish(volume_id, row, {
                    "bootable": True, "glance_metadata": glance_metadata(image)})
            else:
                self.driver.create_volume(volume_id, size)
                created = self._finish(volume_id, row, {})
        except Exception as exc:
            self._failed(volume_id, request_spec, filter_properties, exc, image is not None)
        finally:
            # Wake in-process pollers (Nova's wait loop) now rather than at their interval.
            self.cloud.notifier.changed(volume_id)
        if created:     # CreateVolumeOnFinishTask; other processes' pollers hear it
            notifications.volume_usage(self.cloud, volume_id, "create.end", self.spec.name)

    def _finish(self, volume_id: str, created: Row, extra: dict) -> bool:
        """creating/downloading → available; a volume deleted meanwhile loses its file."""
        if self._mark_available(volume_id, created, extra):
            return True
        self.driver.delete_volume(volume_id)
        return False

    @retry_on_deadlock
    def _mark_available(self, volume_id: str, created: Row, extra: dict) -> bool:
        """``created``: the row as the create began (its snapshot_id and source_volid,
        which never change); the status is checked by the compare-and-swap."""
        with self.cloud.db.writer() as s:
            values = dict(extra)
            if created.snapshot_id or created.source_volid:
                src = s.get(Snapshot, created.snapshot_id) if created.snapshot_id else None
                src_vol = s.get(Volume, src.volume_id if src else created.source_volid)
                if src_vol is not None:
                    values["bootable"] = src_vol.bootable
                    if src_vol.glance_metadata:
                        values["glance_metadata"] = dict(src_vol.glance_metadata)
            return vol_obj.conditional_update(s, volume_id, CREATING, status="available",
                                              launched_at=utcnow(), **values)

    def _failed(self, volume_id: str, spec: dict, filter_properties: dict, exc: Exception,
                from_image: bool) -> None:
        LOG.error("Volume %s failed to be created on %s: %s", volume_id, self.spec.name, exc)
        retry = filter_properties.get("retry") or {}
        max_attempts = self.cloud.config.cinder.scheduler_max_attempts
        if not isinstance(exc, NO_RESCHEDULE) and retry.get("num_attempts", 1) < max_attempts:
            if vol_obj.set_status(self.cloud, volume_id, CREATING, status="creating",
                                  host=None):
                retry = {**retry, "exc": str(exc)}
                self.cloud.rpc.cast(backends.SCHEDULER_TOPIC, "create_volume",
                                    request_spec=spec,
                                    filter_properties={**filter_properties, "retry": retry})
            return
        if not vol_obj.set_status(self.cloud, volume_id, CREATING, status="error"):
            return
        messages.record(self.cloud, project_id=spec["project_id"],
                        request_id=spec.get("request_id"), resource_type="VOLUME",
                        resource_uuid=volume_id, action="005" if from_image else "008",
                        detail="001" if from_image else "012")

    def delete_volume(self, volume_id: str) -> None:
        with self.cloud.db.reader() as s:
            row = s.get(Volume, volume_id)
            if row is None:
                return
            project, size, use_quota = row.project_id, row.size, row.use_quota
            vtype = s.get(VolumeType, row.volume_type_id) if row.volume_type_id else None
            type_name = vtype.name if vtype else None
        try:
            self.driver.delete_volume(volume_id)
        except Exception:
            LOG.exception("Failed to delete volume %s", volume_id)
            vol_obj.set_status(self.cloud, volume_id, "deleting", status="error_deleting")
            return
        destroy_row(self.cloud, volume_id,
                    quota.volume_deltas(size, type_name) if use_quota else None, project)
        LOG.info("Deleted volume %s successfully.", volume_id)

    def extend_volume(self, volume_id: str, new_size: int, reservations: list[str]) -> None:
        try:
            self.driver.extend_volume(volume_id, new_size)
        except Exception as exc:
            LOG.error("Failed to extend volume %s: %s", volume_id, exc)
            quota.rollback(self.cloud, reservations)
            vol_obj.set_status(self.cloud, volume_id, "extending", status="error_extending")
            self._message(volume_id, "007", "010")
            return
        quota.commit(self.cloud, reservations)
        with self.cloud.db.reader() as s:
            attached = s.scalars(select(VolumeAttachment.instance_uuid).where(
                VolumeAttachment.volume_id == volume_id)).all()
        # extend_volume_completion: back to in-use while attached; then Nova is told, so
        # the guest sees the new size (its ``extend_volume`` instance action).
        vol_obj.set_status(self.cloud, volume_id, "extending",
                           status="in-use" if attached else "available", size=new_size)
        servers = [uuid for uuid in attached if uuid]
        if servers and not nova.extend_volume(self.cloud, servers, volume_id):
            self._message(volume_id, "007", "009")

    def _message(self, volume_id: str, action: str, detail: str) -> None:
        """A user message about the volume, for its project."""
        with self.cloud.db.reader() as s:
            project = s.get(Volume, volume_id).project_id
        messages.record(self.cloud, project_id=project, request_id=None,
                        resource_type="VOLUME", resource_uuid=volume_id, action=action,
                        detail=detail)

    def retype(self, volume_id: str, new_type_id: str, reservations: list[str]) -> None:
        """The type changes on this backend: commit the new type's usage, release the old."""
        with self.cloud.db.writer() as s:
            row = s.get(Volume, volume_id)
            new = s.get(VolumeType, new_type_id)
            if row is None or new is None or row.status != "retyping":
                quota.rollback(self.cloud, reservations)
                return
            old = s.get(VolumeType, row.volume_type_id) if row.volume_type_id else None
            old_name, project, size = old.name if old else None, row.project_id, row.size
            use_quota = row.use_quota
            vol_obj.save(s, row, volume_type_id=new.id,
                         multiattach=(new.extra_specs or {}).get("multiattach", "").lower()
                         == "<is> true",
                         status=row.previous_status or "available", previous_status=None)
        quota.commit(self.cloud, reservations)
        if use_quota and old_name:
            quota.release(self.cloud, project, {
                k: v for k, v in quota.volume_deltas(size, old_name).items()
                if k.endswith("_" + old_name)})

    # -- connections (attach/detach) -----------------------------------------------------

    def initialize_connection(self, volume_id: str, connector: dict,
                              access_mode: str = "rw") -> dict:
        """validate_connector → create_export → initialize_connection → connection options.

        Returns Cinder's nested ``{"driver_volume_type", "data"}``; ``data`` gets
        ``qos_specs``, ``access_mode``, ``encrypted`` and ``cacheable`` as
        ``_parse_connection_options`` adds them.
        """
        try:
            self.driver.validate_connector(connector)
        except Exception as err:
            raise exception.InvalidInput(reason=str(err)) from None
        with self.cloud.db.reader_connection() as s:
            row = vol_obj.read_connection(s, volume_id)
        if row is None:
            raise errors.VolumeNotFound(volume_id=volume_id)
        encrypted = bool(row.encryption_key_id)
        cacheable = None if row.type_id is None else \
            (row.extra_specs or {}).get("cacheable") == "<is> True"
        qos_specs = volume_types.front_end_qos(row.qos_consumer, row.qos_specs)
        try:
            self.driver.create_export(volume_id, connector)
            info = self.driver.initialize_connection(volume_id, connector)
        except Exception as err:
            msg = f"Driver initialize connection failed (error: {err})."
            LOG.error("%s", msg)
            raise errors.VolumeBackendAPIException(data=msg) from None
        data = info.setdefault("data", {})
        data["qos_specs"] = qos_specs
        data["access_mode"] = access_mode
        data.setdefault("encrypted", encrypted)
        if cacheable is not None:
            data["cacheable"] = cacheable
        return info

    def terminate_connection(self, volume_id: str, connector: dict | None,
                             force: bool = False) -> None:
        self.driver.terminate_connection(volume_id, connector, force)

    def remove_export(self, volume_id: str) -> None:
        try:
            self.driver.remove_export(volume_id)
        except Exception as exc:   # Cinder: not a detach failure
            LOG.warning("Failed to detach volume on the backend, ignoring failure %s", exc)

    # -- snapshots -----------------------------------------------------------------------

    def create_snapshot(self, snapshot_id: str) -> None:
        with self.cloud.db.reader() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is None:
                return
            volume_id = snap.volume_id
        try:
            self.driver.create_snapshot(volume_id, snapshot_id)
        except Exception as exc:
            LOG.error("Failed to create snapshot %s: %s", snapshot_id, exc)
            status = "error"
        else:
            status = "available"
        with self.cloud.db.writer() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is not None:
                snap.status = status
                snap.progress = "100%" if status == "available" else snap.progress

    def delete_snapshot(self, snapshot_id: str) -> None:
        try:
            self.driver.delete_snapshot(snapshot_id)
        except Exception:
            LOG.exception("Failed to delete snapshot %s", snapshot_id)
            with self.cloud.db.writer() as s:
                snap = s.get(Snapshot, snapshot_id)
                if snap is not None:
                    snap.status = "error_deleting"
            return
        with self.cloud.db.writer() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is None:
                return
            project, size, use_quota = snap.project_id, snap.volume_size, snap.use_quota
            vtype = s.get(VolumeType, snap.volume_type_id) if snap.volume_type_id else None
            type_name = vtype.name if vtype else None
            s.delete(snap)
        if use_quota:
            quota.release(self.cloud, project, quota.snapshot_deltas(size, type_name))

    def report_quietly(self) -> None:
        try:
            self.report()
        except Exception:
            LOG.exception("capability report failed for %s", self.spec.name)
