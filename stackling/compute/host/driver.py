"""The virt driver interface and the in-process fake hypervisor.

A real driver (libvirt, ...) implements ``ComputeDriver``; the compute manager only calls
these methods. The fake one changes state instantly and keeps per-instance records so
that resource tracking and power states are real.
"""

from __future__ import annotations

import threading
from typing import Protocol

# nova/compute/power_state.py
from stackling.compute.power_state import NOSTATE, RUNNING, SHUTDOWN  # noqa: F401


class ComputeDriver(Protocol):
    def spawn(self, instance: dict) -> None: ...
    def destroy(self, instance: dict) -> None: ...
    def power_off(self, instance: dict) -> None: ...
    def power_on(self, instance: dict) -> None: ...
    def reboot(self, instance: dict, reboot_type: str) -> None: ...
    def get_power_state(self, instance: dict) -> int: ...
    def list_instances(self) -> list[str]: ...
    def get_available_resource(self) -> dict: ...


class FakeDriver:
    """One fake hypervisor per compute host."""

    def __init__(self, host: str, vcpus: int, memory_mb: int, local_gb: int) -> None:
        self.host = host
        self.resources = {"vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb}
        self._instances: dict[str, dict] = {}
        self._lock = threading.Lock()

    def spawn(self, instance: dict) -> None:
        with self._lock:
            self._instances[instance["uuid"]] = {
                "state": RUNNING, "vcpus": instance["vcpus"],
                "memory_mb": instance["memory_mb"], "disk_gb": instance["root_gb"]}

    def destroy(self, instance: dict) -> None:
        with self._lock:
            self._instances.pop(instance["uuid"], None)

    def _set(self, instance: dict, state: int) -> None:
        with self._lock:
            if instance["uuid"] not in self._instances:
                raise RuntimeError(f"Instance {instance['uuid']} not found on {self.host}")
            self._instances[instance["uuid"]]["state"] = state

    def power_off(self, instance: dict) -> None:
        self._set(instance, SHUTDOWN)

    def power_on(self, instance: dict) -> None:
        self._set(instance, RUNNING)

    def reboot(self, instance: dict, reboot_type: str) -> None:
        self._set(instance, RUNNING)

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
