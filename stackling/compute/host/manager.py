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

from stackling import exception
from stackling.compute import cinder as volume_api
from stackling.compute import volume_zones
from stackling.compute.host import driver as virt
from stackling.compute.host import volumes as volume_attach
from stackling.compute.objects import bdm
from stackling.compute.objects import instance as instances
from stackling.compute.objects import zones as az
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)



class BuildAbort(Exception):
    """BuildAbortException: the build stops here, no reschedule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason



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
            return None if inst is None or inst.deleted else instances.instance_dict(inst)

    def _finish(self, instance_uuid: str, expected_task_state, **values) -> None:
        """End a power action, unless the instance was deleted (or reset) meanwhile."""
        try:
            instances.save(self.cloud, instance_uuid,
                           expected_task_state=expected_task_state, **values)
        except (instances.InstanceNotFound, instances.UnexpectedTaskState) as exc:
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
        bdms = bdm.load(cloud, instance_uuid)
        who = volume_api.Caller(**caller) if caller else None
        cinder = volume_api.CinderAPI(cloud, who) if who else None
        try:
            if any(b["destination_type"] == "volume" for b in bdms):
                if cinder is None:
                    raise RuntimeError("no user context to call the Block Storage API with")
                instances.save(cloud, instance_uuid, expected_task_state="spawning",
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
                instances.save(cloud, instance_uuid,
                               expected_task_state="block_device_mapping",
                               task_state="spawning")
            self.driver.spawn(inst)
            instances.save(cloud, instance_uuid, expected_task_state="spawning",
                           vm_state="active", task_state=None,
                           power_state=self.driver.get_power_state(inst),
                           launched_at=utcnow())
        except (instances.InstanceNotFound, instances.UnexpectedDeletingTaskState):
            # "Instance disappeared during build": undo what this build did (Nova's
            # _shutdown_instance); the delete, waiting for this instance's lock, ends it.
            LOG.info("Instance %s was deleted during its build; cleaning up", instance_uuid)
            self.driver.destroy(inst)
            if cinder is not None:
                volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                              bdm.load(cloud, instance_uuid), mode)
        except Exception as exc:  # the build failed on this host
            self._build_failed(instance_uuid, inst, cinder, mode, exc)

    def _build_failed(self, instance_uuid: str, inst: dict, cinder, mode: str,
                      exc: Exception) -> None:
        cloud = self.cloud
        details = traceback.format_exc()
        if cinder is not None:
            volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                          bdm.load(cloud, instance_uuid), mode)
        with cloud.db.writer() as s:
            row = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            if row is not None and row.node:
                instances.release(s, row.node, inst["vcpus"], inst["memory_mb"],
                                  inst["root_gb"])
                row.host = row.node = None
        reason = exc.reason if isinstance(exc, BuildAbort) else str(exc)
        instances.set_error(cloud, instance_uuid,
                            f"Build of instance {instance_uuid} aborted: {reason}",
                            details, host=self.host)

    def _volume_job(self, instance_uuid: str, bdm_id: int, caller: dict):
        """(cloud, Cinder client, the BDM, release mode) for an attach or detach; BDM None
        when it is gone."""
        cloud = self.cloud
        cinder = volume_api.CinderAPI(cloud, volume_api.Caller(**caller))
        b = next((x for x in bdm.load(cloud, instance_uuid) if x["id"] == bdm_id),
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
            bdm.destroy(cloud, bdm_id)

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
        bdm.destroy(cloud, bdm_id)

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
            inst = None if row is None else instances.instance_dict(row)
        if inst is None:
            return
        self.driver.destroy(inst)
        if caller:
            # _shutdown_instance + _cleanup_volumes: detach everything, delete DOT volumes.
            volume_attach.cleanup_volumes(
                self.cloud, volume_api.CinderAPI(self.cloud, volume_api.Caller(**caller)),
                self.host, instance_uuid, bdm.load(self.cloud, instance_uuid),
                self.cloud.config.stackling.stackling.behaviour_release)
        instances.delete_instance_row(self.cloud, instance_uuid, release_claim=True)
