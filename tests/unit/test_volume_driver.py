"""Unit tests for the file driver's capacity report (stackling.volume.drivers.file)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from stackling.volume.drivers import file as file_driver
from stackling.volume.objects.backends import BackendSpec

MiB = 1024 * 1024


def _driver(root: Path) -> file_driver.FileDriver:
    return file_driver.FileDriver(BackendSpec(
        host="h", backend="b", availability_zone="nova", volume_backend_name="b",
        capacity_gb=10, reserved_percentage=0, max_over_subscription_ratio=20.0,
        thin_provisioning_support=True, volumes_dir=root))


def _written(path: Path, mib: int) -> int:
    """Write ``mib`` MiB of data (allocated blocks) and return the bytes allocated."""
    path.write_bytes(b"x" * (mib * MiB))
    return os.stat(path).st_blocks * 512


def test_capacity_counts_allocated_blocks(tmp_path):
    driver = _driver(tmp_path)
    used = _written(driver.path("v1"), 3) + _written(driver.files.snapshot_path("s1"), 1)
    caps = driver.capabilities()
    assert caps["total_capacity_gb"] == 10.0
    assert caps["free_capacity_gb"] == round(10 - used / file_driver.GiB, 2)


def test_capacity_report_survives_a_part_file_finishing_while_listing(tmp_path,
                                                                      monkeypatch):
    """A copy publishes its ``.part`` file and removes it between the listing and the
    stat: the report counts the published volume and nothing for the vanished name."""
    driver = _driver(tmp_path)
    kept = _written(driver.path("v1"), 2)
    part = tmp_path / ".volume-v2.abc.part"
    _written(part, 4)
    real_scandir = os.scandir

    @contextlib.contextmanager
    def scandir_then_finish(folder):
        with real_scandir(folder) as it:
            entries = list(it)
        part.unlink(missing_ok=True)  # the copy finished after the directory was read
        yield iter(entries)

    monkeypatch.setattr(file_driver.os, "scandir", scandir_then_finish)
    assert driver._used_gb() == kept / file_driver.GiB
    assert driver.capabilities()["free_capacity_gb"] == round(10 - kept / file_driver.GiB, 2)


def test_capacity_report_before_the_folders_exist(tmp_path):
    driver = _driver(tmp_path / "backend")
    driver.files.snapshot_root.rmdir()
    assert driver._used_gb() == 0
