"""cinder-volume's copy_volume_to_image (cinder/volume/manager.py and
image_utils.upload_volume): the volume's bytes go to the queued Glance image, converted
with qemu-img when the image's disk format is not raw.

Whatever happens, the volume goes back to ``in-use`` or ``available`` by its
attachments; a failed upload leaves a user message and deletes the image if it is
still ``queued`` or ``saving``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from stackling import clients
from stackling.db.models_volume import Volume, VolumeAttachment
from stackling.volume.objects import messages
from stackling.volume.objects import volume as vol_obj

LOG = logging.getLogger(__name__)
CHUNK = 1024 * 1024
# Glance disk formats under qemu-img's names.
QEMU_FORMATS = {"vhd": "vpc", "ploop": "parallels"}


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(CHUNK):
            yield piece


@contextlib.contextmanager
def _in_format(path: Path, disk_format: str, scratch: Path) -> Iterator[Path]:
    """The volume file itself when raw, else a converted copy (deleted afterwards)."""
    if disk_format == "raw":
        yield path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=scratch)
    os.close(fd)
    try:
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O",
                        QEMU_FORMATS.get(disk_format, disk_format), str(path), name],
                       check=True, capture_output=True)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


class ImageUploadOperations:
    """Mixed into ``VolumeManager`` (needs ``cloud`` and ``driver``)."""

    def copy_volume_to_image(self, volume_id: str, image_id: str, disk_format: str,
                             token: str) -> None:
        glance = clients.ServiceClient(self.cloud, "image", token, source="cinder")
        try:
            src = self.driver.path(volume_id)
            with _in_format(src, disk_format,
                            self.cloud.settings.data_dir / "image-uploads") as path:
                glance.stream("PUT", f"/v2/images/{image_id}/file", _chunks(path),
                              path.stat().st_size,
                              {"Content-Type": "application/octet-stream"})
            LOG.info("Uploaded volume %s to image %s (%s)", volume_id, image_id, disk_format)
        except Exception as exc:
            LOG.error("Upload volume to image encountered an error (image-id: %s): %s",
                      image_id, exc)
            self._upload_failed(volume_id, image_id, glance)
        finally:
            self.status_by_attachment(volume_id)

    def _upload_failed(self, volume_id: str, image_id: str, glance) -> None:
        with self.cloud.db.reader() as s:
            row = s.get(Volume, volume_id)
            project = row.project_id if row is not None else None
        if project is not None:
            messages.record(self.cloud, project_id=project, request_id=None,
                            resource_type="VOLUME", resource_uuid=volume_id, action="003",
                            detail="004")
        try:
            image = glance.request("GET", f"/v2/images/{image_id}")[1]
            if image.get("status") in ("queued", "saving"):
                glance.request("DELETE", f"/v2/images/{image_id}")
        except clients.ApiError:
            LOG.warning("Image delete encountered an error.", exc_info=True)

    def status_by_attachment(self, volume_id: str) -> None:
        """volume_update_status_based_on_attachment: in-use when attached."""
        with self.cloud.db.writer() as s:
            attached = s.scalar(select(VolumeAttachment.id).where(
                VolumeAttachment.volume_id == volume_id,
                VolumeAttachment.attach_status == "attached").limit(1))
            vol_obj.conditional_update(s, volume_id, "uploading",
                                       status="in-use" if attached else "available",
                                       previous_status=None)
        self.cloud.notifier.changed(volume_id)
