"""The file backend: each volume is a sparse raw file in the backend's own folder.

A thin adapter over ``stackling.storage.volumefiles.VolumeFiles`` that speaks the
driver vocabulary the manager uses (create, create from image/snapshot/source, delete,
extend, snapshots) and reports capabilities as Cinder drivers do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from stackling.storage import volumefiles

if TYPE_CHECKING:
    from stackling.volume.objects.backends import BackendSpec

GiB = volumefiles.GiB


def _allocated(entry: os.DirEntry) -> int:
    """Bytes allocated to a volume file; one deleted while we list counts for nothing
    (the capacity report runs beside creates and deletes)."""
    try:
        if entry.is_file(follow_symlinks=False):
            return entry.stat(follow_symlinks=False).st_blocks * 512
    except FileNotFoundError:
        pass
    return 0


def _entries(folder: Path) -> list[os.DirEntry]:
    """The folder's entries, none before it exists. Only the listing is guarded here: a
    file that vanishes afterwards is ``_allocated``'s case, and must not hide the rest."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except FileNotFoundError:
        return []


class FileDriver:
    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.files = volumefiles.VolumeFiles(Path(spec.volumes_dir))

    def path(self, volume_id: str) -> Path:
        return self.files.path(volume_id)

    def create_volume(self, volume_id: str, size_gb: int) -> str:
        self.files.create_blank(volume_id, size_gb)
        return "sparse"

    def create_volume_from_image(self, volume_id: str, image_path: Path, disk_format: str,
                                 size_gb: int) -> str:
        return self.files.create_from_image(volume_id, image_path, disk_format, size_gb)

    def create_cloned_volume(self, volume_id: str, src_volume_id: str, size_gb: int) -> str:
        return self.files.clone(src_volume_id, volume_id, size_gb)

    def create_volume_from_snapshot(self, volume_id: str, snapshot_id: str,
                                    size_gb: int) -> str:
        return self.files.create_from_snapshot(snapshot_id, volume_id, size_gb)

    def delete_volume(self, volume_id: str) -> None:
        self.files.delete(volume_id)

    def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        self.files.extend(volume_id, new_size_gb)

    def create_snapshot(self, volume_id: str, snapshot_id: str) -> str:
        return self.files.create_snapshot(volume_id, snapshot_id)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.files.delete_snapshot(snapshot_id)

    # -- connections ---------------------------------------------------------------------
    # NOTE: a volume here is a regular file on this machine, so the honest connection is
    # os-brick's ``local`` protocol: ``device_path`` is the file itself (not a block
    # device); there is no export or target to create.

    def validate_connector(self, connector: dict) -> None:
        """Nothing is required of a connector for a local file."""

    def create_export(self, volume_id: str, connector: dict) -> None:
        if not self.path(volume_id).exists():
            raise volumefiles.VolumeNotFound(f"no file for volume {volume_id}")

    def initialize_connection(self, volume_id: str, connector: dict) -> dict:
        return {"driver_volume_type": "local",
                "data": {"device_path": str(self.path(volume_id)), "volume_id": volume_id,
                         "name": f"volume-{volume_id}", "discard": True}}

    def terminate_connection(self, volume_id: str, connector: dict | None,
                             force: bool = False) -> bool:
        """False: no other attachment shares this connection."""
        return False

    def remove_export(self, volume_id: str) -> None:
        """Nothing was exported."""

    def _used_gb(self) -> float:
        folders = (self.files.root, self.files.snapshot_root)
        return sum(_allocated(e) for folder in folders for e in _entries(folder)) / GiB

    def capabilities(self) -> dict:
        """What the scheduler filters on (cinder's get_volume_stats shape, one pool)."""
        total = float(self.spec.capacity_gb)
        free = round(max(total - self._used_gb(), 0.0), 2)
        return {
            "volume_backend_name": self.spec.volume_backend_name,
            "pool_name": self.spec.pool, "vendor_name": "stackling",
            "driver_version": "1.0", "storage_protocol": "file",
            "total_capacity_gb": total, "free_capacity_gb": free,
            "reserved_percentage": self.spec.reserved_percentage,
            "max_over_subscription_ratio": self.spec.max_over_subscription_ratio,
            "thin_provisioning_support": self.spec.thin_provisioning_support,
            "thick_provisioning_support": not self.spec.thin_provisioning_support,
            "multiattach": True, "reflink": self.files.supports_reflink(),
        }
