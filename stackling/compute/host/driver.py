"""The virt driver interface and the in-process fake hypervisor.

A real driver (libvirt, ...) implements ``ComputeDriver``; the compute manager only calls
these methods. The fake one changes state instantly and keeps per-instance records so
that resource tracking and power states are real.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

# nova/compute/power_state.py
from stackling.compute.power_state import NOSTATE, PAUSED, RUNNING, SHUTDOWN, SUSPENDED

# nova/compute/power_state.py STATE_MAP
_POWER_NAMES = {NOSTATE: "pending", RUNNING: "running", PAUSED: "paused",
                SHUTDOWN: "shutdown", SUSPENDED: "suspended"}


def boot_log(instance: dict) -> list[str]:
    """The serial console of a small Linux guest booting (kernel, disk, cloud-init, and
    the login prompt the log ends with, no newline after it), sized from the instance,
    as libvirt's console log holds it."""
    uuid, vcpus, memory = instance["uuid"], instance["vcpus"], instance["memory_mb"]
    sectors = int(instance.get("root_gb") or 1) * 2097152
    lines = [
        "[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org)",
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0",
        "[    0.000000] Hypervisor detected: KVM",
        f"[    0.004211] Memory: {memory * 1024}K available",
        f"[    0.051933] smp: Brought up 1 node, {vcpus} CPU{'s' if vcpus != 1 else ''}",
        f"[    0.612408] virtio_blk virtio2: [vda] {sectors} 512-byte logical blocks",
        "[    1.204117] EXT4-fs (vda1): mounted filesystem with ordered data mode.",
        "[    2.318452] cloud-init[412]: Cloud-init v. 23.4 running 'init' at boot",
        f"[    3.027715] cloud-init[412]: instance-id: {uuid}",
        "[    3.912640] cloud-init[601]: Cloud-init v. 23.4 finished",
        "",
    ]
    return [line + "\n" for line in lines] + [f"host-{uuid[:8]} login: "]


class ComputeDriver(Protocol):
    def spawn(self, instance: dict) -> None: ...
    def destroy(self, instance: dict) -> None: ...
    def power_off(self, instance: dict) -> None: ...
    def power_on(self, instance: dict) -> None: ...
    def reboot(self, instance: dict, reboot_type: str) -> None: ...
    def get_power_state(self, instance: dict) -> int: ...
    def pause(self, instance: dict) -> None: ...
    def unpause(self, instance: dict) -> None: ...
    def suspend(self, instance: dict) -> None: ...
    def resume(self, instance: dict) -> None: ...
    def rescue(self, instance: dict, admin_password: str) -> None: ...
    def unrescue(self, instance: dict) -> None: ...
    def set_admin_password(self, instance: dict, new_pass: str) -> None: ...
    def trigger_crash_dump(self, instance: dict) -> None: ...
    def snapshot(self, instance: dict) -> None: ...
    def inject_network_info(self, instance: dict, network_info: list) -> None: ...
    def get_console_output(self, instance: dict) -> str: ...
    def get_diagnostics(self, instance: dict) -> dict: ...
    def extend_volume(self, instance: dict, volume_id: str, size_gb: int) -> None: ...
    def list_instances(self) -> list[str]: ...
    def get_available_resource(self) -> dict: ...


class FakeDriver:
    """One fake hypervisor per compute host."""

    def __init__(self, host: str, vcpus: int, memory_mb: int, local_gb: int,
                 snapshot_seconds: float = 0.0) -> None:
        self.host = host
        self.snapshot_seconds = snapshot_seconds
        self.resources = {"vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb}
        self._instances: dict[str, dict] = {}
        self._lock = threading.Lock()

    def spawn(self, instance: dict) -> None:
        with self._lock:
            self._instances[instance["uuid"]] = {
                "state": RUNNING, "vcpus": instance["vcpus"],
                "memory_mb": instance["memory_mb"], "disk_gb": instance["root_gb"],
                "console": boot_log(instance)}

    def destroy(self, instance: dict) -> None:
        with self._lock:
            self._instances.pop(instance["uuid"], None)

    def _set(self, instance: dict, state: int, console: list[str] | None = None) -> None:
        """The new power state, and what the guest prints on its console meanwhile
        (pausing, suspending and the like print nothing)."""
        with self._lock:
            rec = self._instances.get(instance["uuid"])
            if rec is None:
                raise RuntimeError(f"Instance {instance['uuid']} not found on {self.host}")
            rec["state"] = state
            rec.setdefault("console", []).extend(console or ())

    def power_off(self, instance: dict) -> None:
        self._set(instance, SHUTDOWN, ["\n[   61.402118] reboot: Power down\n"])

    def power_on(self, instance: dict) -> None:
        self._set(instance, RUNNING, boot_log(instance))

    def reboot(self, instance: dict, reboot_type: str) -> None:
        self._set(instance, RUNNING,
                  ["\n[   61.402118] reboot: Restarting system\n", *boot_log(instance)])

    def pause(self, instance: dict) -> None:
        self._set(instance, PAUSED)

    def unpause(self, instance: dict) -> None:
        self._set(instance, RUNNING)

    def suspend(self, instance: dict) -> None:
        self._set(instance, SUSPENDED)

    def resume(self, instance: dict) -> None:
        self._set(instance, RUNNING)

    def rescue(self, instance: dict, admin_password: str) -> None:
        self._set(instance, RUNNING)

    def unrescue(self, instance: dict) -> None:
        self._set(instance, RUNNING)

    def set_admin_password(self, instance: dict, new_pass: str) -> None:
        self._set(instance, self.get_power_state(instance))

    def trigger_crash_dump(self, instance: dict) -> None:
        self._set(instance, self.get_power_state(instance))

    def snapshot(self, instance: dict) -> None:
        """The guest's disk is read as it is (the manager uploads its bytes); reading it
        takes ``[fake_driver] snapshot_seconds``, as a real hypervisor takes time."""
        self._set(instance, self.get_power_state(instance))
        if self.snapshot_seconds:
            time.sleep(self.snapshot_seconds)

    def inject_network_info(self, instance: dict, network_info: list) -> None:
        """Nothing to inject: as libvirt (ComputeDriver's no-op), the guest reads its
        network from the metadata service or the config drive."""

    def get_console_output(self, instance: dict) -> str:
        """What a serial console shows of a fake guest: the boot and every state change."""
        with self._lock:
            if instance["uuid"] not in self._instances:
                raise RuntimeError(f"Instance {instance['uuid']} not found on {self.host}")
            return "".join(self._instances[instance["uuid"]].setdefault("console", []))

    def extend_volume(self, instance: dict, volume_id: str, size_gb: int) -> None:
        """The guest sees the attached volume's new size (a console line says so)."""
        with self._lock:
            rec = self._instances.get(instance["uuid"])
            if rec is not None:
                rec.setdefault("console", []).append(
                    f"[fake] volume {volume_id} is now {size_gb} GiB\n")

    def get_diagnostics(self, instance: dict) -> dict:
        """nova/virt/diagnostics.py Diagnostics with a fake guest's numbers, labelled as
        Nova's fake driver labels them (libvirt/kvm/ubuntu: the API's ``driver`` enum
        has no ``fake``)."""
        with self._lock:
            rec = self._instances.get(instance["uuid"])
            if rec is None:
                raise RuntimeError(f"Instance {instance['uuid']} not found on {self.host}")
            vcpus, memory = rec["vcpus"], rec["memory_mb"]
        return {"state": _POWER_NAMES.get(self.get_power_state(instance), "pending"),
                "driver": "libvirt", "hypervisor": "kvm", "hypervisor_os": "ubuntu",
                "uptime": 46664, "config_drive": False, "num_cpus": vcpus, "num_nics": 0,
                "num_disks": 1,
                "cpu_details": [{"id": i, "time": 17300000000, "utilisation": 15}
                                for i in range(vcpus)],
                "nic_details": [],
                "disk_details": [{"read_bytes": 262144, "read_requests": 112,
                                  "write_bytes": 5778432, "write_requests": 488,
                                  "errors_count": 1}],
                "memory_details": {"maximum": memory, "used": 0}}

    def get_power_state(self, instance: dict) -> int:
        with self._lock:
            return self._instances.get(instance["uuid"], {}).get("state", NOSTATE)

    def list_instances(self) -> list[str]:
        with self._lock:
            return list(self._instances)

    def get_available_resource(self) -> dict:
        with self._lock:
            used = {"vcpus_used": sum(i["vcpus"] for i in self._instances.values()),
                    "memory_mb_used": sum(i["memory_mb"] for i in self._instances.values()),
                    "local_gb_used": sum(i["disk_gb"] for i in self._instances.values())}
        return {**self.resources, **used, "hypervisor_type": "fake",
                "hypervisor_hostname": self.host}
