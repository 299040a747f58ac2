"""The workers: conductor/scheduler (pick a host, claim) and a compute manager per host.

Build: the API writes the instance (BUILD/scheduling) and casts ``build_instance`` to the
``scheduler`` topic. The conductor reads host states, runs the pure scheduler, claims the
resources with a compare-and-swap UPDATE on the compute node (placement's job), records
host/node/zone and casts ``build_and_run_instance`` to ``compute.<host>``, whose driver
spawns it. No host → ERROR with fault ``No valid host was found. ...``.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from stackling import decisions, exception
from stackling.compute import availability_zones as az
from stackling.compute import driver as virt
from stackling.compute import (scheduler, server_groups, server_volumes, volume_api,
                               volume_attach, volume_zones)
from stackling.compute.objects import instance as inst_obj
from stackling.db.api import retry_on_deadlock
from stackling.db.models import utcnow
from stackling.db.models_compute import BlockDeviceMapping, ComputeNode, Instance, InstanceFault

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


def claimed_disk(inst: Instance) -> int:
    """Local disk a server takes: a volume-backed server's root is not on the host."""
    bfv = bool((inst.scheduler_hints or {}).get("_is_bfv"))
    return inst.ephemeral_gb + (0 if bfv else inst.root_gb)


def instance_dict(inst: Instance) -> dict:
    return {"uuid": inst.uuid, "vcpus": inst.vcpus, "memory_mb": inst.memory_mb,
            "root_gb": claimed_disk(inst), "host": inst.host, "node": inst.node,
            "availability_zone": inst.availability_zone, "requested_az": inst.requested_az}


def claim(cloud: Cloud, node: str, vcpus: int, memory_mb: int, disk_gb: int) -> bool:
    """Take the resources on ``node`` if they still fit (compare-and-swap); True on success."""
    n = ComputeNode
    with cloud.db.writer() as s:
        result = s.execute(
            update(n).where(
                n.hypervisor_hostname == node,
                n.vcpus_used + vcpus <= (n.vcpus - n.reserved_vcpus) * n.cpu_allocation_ratio,
                n.memory_mb_used - n.reserved_memory_mb + memory_mb
                <= (n.memory_mb - n.reserved_memory_mb) * n.ram_allocation_ratio,
                n.local_gb_used + disk_gb
                <= (n.local_gb - n.reserved_disk_gb) * n.disk_allocation_ratio)
            .values(vcpus_used=n.vcpus_used + vcpus, memory_mb_used=n.memory_mb_used + memory_mb,
                    local_gb_used=n.local_gb_used + disk_gb, running_vms=n.running_vms + 1,
                    updated_at=utcnow()))
        return result.rowcount == 1


def release(s, node: str | None, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    """Give a claim back (inside the caller's write transaction)."""
    if not node:
        return
    n = ComputeNode
    s.execute(update(n).where(n.hypervisor_hostname == node).values(
        vcpus_used=n.vcpus_used - vcpus, memory_mb_used=n.memory_mb_used - memory_mb,
        local_gb_used=n.local_gb_used - disk_gb, running_vms=n.running_vms - 1,
        updated_at=utcnow()))


def set_error(cloud: Cloud, instance_uuid: str, message: str, details: str,
              code: int = 500, host: str | None = None) -> None:
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        if inst.task_state != "deleting":   # a delete under way keeps its task state
            inst.vm_state, inst.task_state = "error", None
        s.add(InstanceFault(instance_uuid=instance_uuid, code=code, message=message[:255],
                            details=details, host=host))


class BuildAbort(Exception):
    """BuildAbortException: the build stops here, no reschedule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _group_filter(states: list, group_policy: str, member_hosts: set[str]) -> list:
    """ServerGroupAffinityFilter / ServerGroupAntiAffinityFilter."""
    if group_policy == "affinity":
        return [h for h in states if h.host in member_hosts] if member_hosts else states
    return [h for h in states if h.host not in member_hosts]


class Conductor:
    """The ``scheduler`` topic: schedule_and_build_instances, as nova-conductor does."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def build_instance(self, instance_uuid: str, caller: dict | None = None) -> None:
        with self.cloud.db.reader() as s:
            inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            group = (inst.scheduler_hints or {}).get("group") if inst is not None else None
        if not group:
            return self._build_instance(instance_uuid, caller)
        # Members of a group are placed one at a time so that each sees the others' hosts.
        with server_groups.SCHEDULE_LOCK:
            return self._build_instance(instance_uuid, caller, group)

    def _build_instance(self, instance_uuid: str, caller: dict | None = None,
                        group: str | None = None) -> None:
        cloud = self.cloud
        conf = cloud.config.nova
        with cloud.db.reader() as s:
            inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            if inst is None or inst.deleted:
                return
            hints = inst.scheduler_hints or {}
            spec = scheduler.RequestSpec(
                vcpus=inst.vcpus, memory_mb=inst.memory_mb,
                disk_gb=claimed_disk(inst),
                availability_zone=inst.requested_az,
                force_host=hints.get("_force_host"), force_node=hints.get("_force_node"),
                requested_host=hints.get("_requested_host"),
                requested_node=hints.get("_requested_node"))
            states = scheduler.read_host_states(s, conf)
            rule = server_groups.placement_rule(s, group, instance_uuid) if group else None
        if rule is not None:
            states = _group_filter(states, *rule)
        chosen = None
        try:
            for _ in range(conf.scheduler.max_attempts):
                hosts = scheduler.select_hosts(scheduler.HostIndex.build(states), spec)
                chosen = next((h for h in hosts if claim(cloud, h.node, spec.vcpus,
                                                         spec.memory_mb, spec.disk_gb)), None)
                if chosen is not None:
                    break
                with cloud.db.reader() as s:
                    states = scheduler.read_host_states(s, conf)
                if rule is not None:
                    states = _group_filter(states, *rule)
            if chosen is None:
                raise scheduler.NoValidHost()
        except scheduler.NoValidHost as exc:
            # Reserved volumes stay reserved until the server is deleted.
            set_error(cloud, instance_uuid, str(exc), traceback.format_exc())
            decisions.record(cloud, resource_type="server", resource_id=instance_uuid,
                             service="nova-conductor", step="host", outcome=decisions.FAILED,
                             summary=f"No host passed the filters for zone "
                                     f"{spec.availability_zone or '(any)'}: {exc}",
                             inputs={"requested_az": spec.availability_zone})
            return
        release_mode = cloud.config.stackling.stackling.behaviour_release
        with cloud.db.writer() as s:
            host_zone = az.zone_of_host(s, conf, chosen.host)
            try:
                # Since Pike the instance takes the chosen host's zone; in 2016 it kept
                # the requested one (or none).
                inst_obj.conditional_update(
                    s, instance_uuid, expected_task_state="scheduling", host=chosen.host,
                    node=chosen.node, task_state="spawning",
                    availability_zone=volume_zones.instance_zone(
                        release_mode, spec.availability_zone, host_zone))
                placed = True
            except (inst_obj.InstanceNotFound, inst_obj.UnexpectedTaskState):
                placed = False
        if not placed:   # deleted while being scheduled: give the claim back
            with cloud.db.writer() as s:
                release(s, chosen.node, spec.vcpus, spec.memory_mb, spec.disk_gb)
            return
        decisions.record(
            cloud, resource_type="server", resource_id=instance_uuid,
            service="nova-conductor", step="host", outcome=decisions.OK,
            summary=f"Scheduled to {chosen.host} (zone {host_zone}) for requested zone "
                    f"{spec.availability_zone or '(any)'}; the instance's zone is now "
                    f"{volume_zones.instance_zone(release_mode, spec.availability_zone, host_zone)}"
                    + (" (2016: the requested zone)" if volume_zones.is_2016(release_mode)
                       else " (the host's zone, as since Pike)"),
            inputs={"requested_az": spec.availability_zone, "host": chosen.host,
                    "host_zone": host_zone, "release": release_mode})
        cloud.rpc.cast(f"compute.{chosen.host}", "build_and_run_instance",
                       instance_uuid=instance_uuid, caller=caller)


class InstanceLocks:
    """One lock per instance uuid, held by build, terminate, attach and detach on a host
    (Nova's ``@utils.synchronized(instance.uuid)``); unused locks are dropped.

    NOTE: a dozen lines rather than oslo.concurrency's lockutils, whose imports would add
    about 18 ms to every start-up.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def get(self, key: str) -> threading.RLock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.RLock()
            return lock


class ComputeManager:
    """The ``compute.<host>`` topic."""

    def __init__(self, cloud: Cloud, host: str, driver: virt.ComputeDriver) -> None:
        self.cloud = cloud
        self.host = host
        self.driver = driver
        self.locks = InstanceLocks()

    def _load(self, instance_uuid: str) -> dict | None:
        with self.cloud.db.reader() as s:
            inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            return None if inst is None or inst.deleted else instance_dict(inst)

    def _finish(self, instance_uuid: str, expected_task_state, **values) -> None:
        """End a power action, unless the instance was deleted (or reset) meanwhile."""
        try:
            inst_obj.save(self.cloud, instance_uuid, expected_task_state=expected_task_state,
                          **values)
        except (inst_obj.InstanceNotFound, inst_obj.UnexpectedTaskState) as exc:
            LOG.info("Instance %s: %s", instance_uuid, exc)

    def build_and_run_instance(self, instance_uuid: str, caller: dict | None = None) -> None:
        with self.locks.get(instance_uuid):
            self._build_and_run(instance_uuid, caller)

    def _build_and_run(self, instance_uuid: str, caller: dict | None) -> None:
        inst = self._load(instance_uuid)
        if inst is None:
            return
        cloud = self.cloud
        mode = cloud.config.stackling.stackling.behaviour_release
        bdms = server_volumes.load(cloud, instance_uuid)
        who = volume_api.Caller(**caller) if caller else None
        cinder = volume_api.CinderAPI(cloud, who) if who else None
        try:
            if any(b["destination_type"] == "volume" for b in bdms):
                if cinder is None:
                    raise RuntimeError("no user context to call the Block Storage API with")
                inst_obj.save(cloud, instance_uuid, expected_task_state="spawning",
                              task_state="block_device_mapping")
                with cloud.db.reader() as s:
                    inst["host_zone"] = az.zone_of_host(s, cloud.config.nova, self.host)
                try:
                    volume_attach.Builder(cloud, self.host, who, inst).prep(bdms)
                except volume_api.OverQuota as exc:
                    raise BuildAbort("Volume resource quota exceeded"
                                     if volume_zones.is_2016(mode) else exc.message) from exc
                except Exception as exc:
                    # _prep_block_device: since Pike the original message, in 2016 the bare
                    # InvalidBDM.
                    raise BuildAbort("Block Device Mapping is Invalid."
                                     if volume_zones.is_2016(mode) else
                                     getattr(exc, "message", None) or str(exc)) from exc
                inst_obj.save(cloud, instance_uuid, expected_task_state="block_device_mapping",
                              task_state="spawning")
            self.driver.spawn(inst)
            inst_obj.save(cloud, instance_uuid, expected_task_state="spawning",
                          vm_state="active", task_state=None,
                          power_state=self.driver.get_power_state(inst), launched_at=utcnow())
        except (inst_obj.InstanceNotFound, inst_obj.UnexpectedDeletingTaskState):
            # "Instance disappeared during build": undo what this build did (Nova's
            # _shutdown_instance); the delete, waiting for this instance's lock, ends it.
            LOG.info("Instance %s was deleted during its build; cleaning up", instance_uuid)
            self.driver.destroy(inst)
            if cinder is not None:
                volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                              server_volumes.load(cloud, instance_uuid), mode)
        except Exception as exc:  # the build failed on this host
            self._build_failed(instance_uuid, inst, cinder, mode, exc)

    def _build_failed(self, instance_uuid: str, inst: dict, cinder, mode: str,
                      exc: Exception) -> None:
        cloud = self.cloud
        details = traceback.format_exc()
        if cinder is not None:
            volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                          server_volumes.load(cloud, instance_uuid), mode)
        with cloud.db.writer() as s:
            row = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            if row is not None and row.node:
                release(s, row.node, inst["vcpus"], inst["memory_mb"], inst["root_gb"])
                row.host = row.node = None
        reason = exc.reason if isinstance(exc, BuildAbort) else str(exc)
        set_error(cloud, instance_uuid, f"Build of instance {instance_uuid} aborted: {reason}",
                  details, host=self.host)

    def _volume_job(self, instance_uuid: str, bdm_id: int, caller: dict):
        """(cloud, Cinder client, the BDM, release mode) for an attach or detach; BDM None
        when it is gone."""
        cloud = self.cloud
        cinder = volume_api.CinderAPI(cloud, volume_api.Caller(**caller))
        b = next((x for x in server_volumes.load(cloud, instance_uuid) if x["id"] == bdm_id),
                 None)
        return cloud, cinder, b, cloud.config.stackling.stackling.behaviour_release

    def attach_volume(self, instance_uuid: str, bdm_id: int, caller: dict) -> None:
        with self.locks.get(instance_uuid):
            self._attach_volume(instance_uuid, bdm_id, caller)

    def _attach_volume(self, instance_uuid: str, bdm_id: int, caller: dict) -> None:
        """Connect a volume the API reserved; on failure drop the attachment and the BDM."""
        cloud, cinder, b, mode = self._volume_job(instance_uuid, bdm_id, caller)
        if b is None:
            return
        try:
            volume_attach.attach(cloud, cinder, self.host, instance_uuid, b, mode)
        except Exception:
            LOG.exception("Failed to attach volume %s to %s", b["volume_id"], instance_uuid)
            try:
                volume_attach.detach(cloud, cinder, self.host, instance_uuid, b, mode)
            except exception.StacklingError:
                pass
            volume_attach.destroy(cloud, bdm_id)

    def detach_volume(self, instance_uuid: str, bdm_id: int, caller: dict) -> None:
        with self.locks.get(instance_uuid):
            self._detach_volume(instance_uuid, bdm_id, caller)

    def _detach_volume(self, instance_uuid: str, bdm_id: int, caller: dict) -> None:
        cloud, cinder, b, mode = self._volume_job(instance_uuid, bdm_id, caller)
        if b is None:
            return
        try:
            volume_attach.detach(cloud, cinder, self.host, instance_uuid, b, mode)
        except Exception:
            LOG.exception("Failed to detach volume %s from %s", b["volume_id"], instance_uuid)
            try:
                cinder.action(b["volume_id"], "os-roll_detaching")
            except exception.StacklingError:
                pass
            return
        volume_attach.destroy(cloud, bdm_id)

    def start_instance(self, instance_uuid: str) -> None:
        inst = self._load(instance_uuid)
        if inst is not None:
            self.driver.power_on(inst)
            self._finish(instance_uuid, "powering-on", vm_state="active", task_state=None,
                         power_state=self.driver.get_power_state(inst))

    def stop_instance(self, instance_uuid: str) -> None:
        inst = self._load(instance_uuid)
        if inst is not None:
            self.driver.power_off(inst)
            self._finish(instance_uuid, "powering-off", vm_state="stopped", task_state=None,
                         power_state=self.driver.get_power_state(inst))

    def reboot_instance(self, instance_uuid: str, reboot_type: str) -> None:
        inst = self._load(instance_uuid)
        if inst is not None:
            self.driver.reboot(inst, reboot_type)
            self._finish(instance_uuid, ("rebooting", "rebooting_hard"), vm_state="active",
                         task_state=None, power_state=self.driver.get_power_state(inst))

    def terminate_instance(self, instance_uuid: str, caller: dict | None = None) -> None:
        with self.locks.get(instance_uuid):   # after a build under way, as in Nova
            self._terminate(instance_uuid, caller)

    def _terminate(self, instance_uuid: str, caller: dict | None) -> None:
        with self.cloud.db.reader() as s:
            row = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            inst = None if row is None else instance_dict(row)
        if inst is None:
            return
        self.driver.destroy(inst)
        if caller:
            # _shutdown_instance + _cleanup_volumes: detach everything, delete DOT volumes.
            volume_attach.cleanup_volumes(
                self.cloud, volume_api.CinderAPI(self.cloud, volume_api.Caller(**caller)),
                self.host, instance_uuid, server_volumes.load(self.cloud, instance_uuid),
                self.cloud.config.stackling.stackling.behaviour_release)
        delete_instance_row(self.cloud, instance_uuid, release_claim=True)


@retry_on_deadlock
def delete_instance_row(cloud: Cloud, instance_uuid: str, release_claim: bool) -> bool:
    """Soft-delete the instance (Nova: deleted = id), drop its BDMs and give its claim
    back; only the caller that deleted it gives the claim back. True when deleted here."""
    with cloud.db.writer() as s:
        inst = s.execute(select(Instance.node, Instance.vcpus, Instance.memory_mb,
                                Instance.ephemeral_gb, Instance.root_gb,
                                Instance.scheduler_hints)
                         .where(Instance.uuid == instance_uuid, Instance.deleted == 0)).first()
        if inst is None or not inst_obj.mark_deleted(s, instance_uuid):
            return False
        if release_claim and inst.node:
            release(s, inst.node, inst.vcpus, inst.memory_mb, claimed_disk(inst))
        s.execute(delete(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == instance_uuid))
        return True
