"""The workers: conductor/scheduler (pick a host, claim) and a compute manager per host.

Build: the API writes the instance (BUILD/scheduling) and casts ``build_instance`` to the
``scheduler`` topic. The conductor reads host states, runs the pure scheduler, claims the
resources with a compare-and-swap UPDATE on the compute node (placement's job), records
host/node/zone and casts ``build_and_run_instance`` to ``compute.<host>``, whose driver
spawns it. No host → ERROR with fault ``No valid host was found. ...``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import traceback
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from stackling import exception
from stackling.compute import cinder as volume_api
from stackling.compute import neutron as network_api
from stackling.compute import volume_zones
from stackling.compute.host import driver as virt
from stackling.compute.host import volumes as volume_attach
from stackling.compute.host.events import ExternalEventsManager
from stackling.compute.host.lifecycle import LifecycleManager
from stackling.compute.objects import (
    bdm,
    console_auth_token,
    instance_action,
    migration,
    server_group,
)
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


class BuildFailed(Exception):
    """The build failed: the server goes to ERROR with this message and details."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.message, self.details = message, details


def _move_step(step):
    """One step of a move on this host (``ComputeManager`` methods cast by name with the
    instance, the migration and the request): the migration and the instance are read
    (either gone: nothing to do), ``step(self, mig, inst)`` runs inside the
    ``compute_<step>`` instance-action event, and the (host, method) it returns, if any,
    is cast the same arguments as the next step."""
    event = f"compute_{step.__name__}"

    @functools.wraps(step)
    def run(self, instance_uuid: str, migration_id: int,
            request_id: str | None = None) -> None:
        move = self._move(migration_id)
        if move is None:
            return
        with instance_action.event(self.cloud, instance_uuid, request_id, event, self.host):
            following = step(self, *move)
        if following:
            host, method = following
            self.cloud.rpc.cast(f"compute.{host}", method, instance_uuid=instance_uuid,
                                migration_id=migration_id, request_id=request_id)
    return run


def _networking(row) -> dict:
    """What the instance asked of the network, and has (from its row)."""
    return {"requested": list(row.requested_networks or []),
            "security_groups": list(row.security_groups or []),
            "info": list(row.network_info or []), "project_id": row.project_id,
            "zone": row.availability_zone}


class ComputeManager(LifecycleManager, ExternalEventsManager):
    """The ``compute.<host>`` topic."""

    def __init__(self, cloud: Cloud, host: str, driver: virt.ComputeDriver) -> None:
        self.cloud = cloud
        self.host = host
        self.driver = driver
        self.locks = InstanceLocks()
        # Nova's [DEFAULT] max_concurrent_builds: at most that many builds run at once on
        # this host (0: no limit); the others wait in line holding their instance's lock.
        limit = cloud.config.nova.max_concurrent_builds
        self._build_semaphore = threading.Semaphore(limit) if limit else contextlib.nullcontext()

    def _load(self, instance_uuid: str) -> dict | None:
        with self.cloud.db.reader() as s:
            inst = instances.fields(s, instance_uuid)
            return None if inst is None or inst.deleted else instances.instance_dict(inst)

    def _finish(self, instance_uuid: str, **values) -> None:
        """End an action with a compare-and-swap on the task state it found, so that a
        delete (``deleting``) that came meanwhile is never overwritten."""
        with self.cloud.db.reader() as s:
            task = s.scalar(select(Instance.task_state).where(Instance.uuid == instance_uuid,
                                                              Instance.deleted == 0))
        if task == "deleting":
            return
        try:
            instances.save(self.cloud, instance_uuid, expected_task_state=task, **values)
        except (instances.InstanceNotFound, instances.UnexpectedTaskState) as exc:
            LOG.info("Instance %s: %s", instance_uuid, exc)

    def build_and_run_instance(self, instance_uuid: str, caller: dict | None = None,
                               tried: list[str] | None = None) -> None:
        try:
            if self._group_moves_elsewhere(instance_uuid, caller, tried or []):
                return
            with self.locks.get(instance_uuid), self._build_semaphore:
                try:
                    with instance_action.event(self.cloud, instance_uuid,
                                               (caller or {}).get("request_id"),
                                               "compute__do_build_and_run_instance",
                                               self.host) as ev:
                        self._build_and_run(instance_uuid, caller, ev)
                except BuildFailed as failed:
                    # After the event closed, so that ERROR is never seen before the
                    # failed event.
                    instances.set_error(self.cloud, instance_uuid, failed.message,
                                        failed.details, host=self.host)
        except Exception as exc:
            # Nova's _do_build_and_run_instance: whatever else failed (the database
            # unreachable while loading the instance or recording its event), the
            # server goes to ERROR off this host, never left in BUILD/spawning.
            LOG.exception("Build of instance %s failed", instance_uuid)
            instances.fail_build(self.cloud, instance_uuid,
                                 getattr(exc, "message", None) or type(exc).__name__,
                                 traceback.format_exc(), host=self.host)

    def _group_moves_elsewhere(self, instance_uuid: str, caller: dict | None,
                               tried: list[str]) -> bool:
        """Nova's late affinity check: placed here against its group's hard policy (two
        schedulers chose at once), the server gives its claim back and is scheduled
        again without this host (RescheduledException)."""
        with self.cloud.db.reader_connection() as s:
            row = instances.fields(s, instance_uuid)
            group = (row.scheduler_hints or {}).get("group") if row is not None else None
        if not group:
            return False
        with self.locks.get(f"group:{group}"):
            with self.cloud.db.reader() as s:
                if not server_group.violates(s, group, instance_uuid, self.host):
                    return False
            inst = self._load(instance_uuid)
            if inst is None:
                return True
            try:
                with self.cloud.db.writer() as s:
                    instances.conditional_update(s, instance_uuid, expected_task_state="spawning",
                                                 host=None, node=None, task_state="scheduling")
                    instances.release(s, inst["node"], inst["vcpus"], inst["memory_mb"],
                                      inst["root_gb"])
            except (instances.InstanceNotFound, instances.UnexpectedTaskState):
                return True
        LOG.info("Instance %s breaks its server group's policy on %s: rescheduling",
                 instance_uuid, self.host)
        self.cloud.rpc.cast("scheduler", "build_instance", instance_uuid=instance_uuid,
                            caller=caller, tried=[*tried, self.host])
        return True

    def _build_and_run(self, instance_uuid: str, caller: dict | None,
                       ev: instance_action.Event) -> None:
        """Build; on failure the server goes to ERROR with its fault and BuildFailed says
        so to the instance action's event. ACTIVE and the event's success are one write."""
        cloud = self.cloud
        with cloud.db.reader_connection() as s:     # one read of the row for both
            row = instances.fields(s, instance_uuid)
            if row is None or row.deleted:
                return
            inst, networking = instances.instance_dict(row), _networking(row)
            bdms = bdm.of_instance(s, instance_uuid)
        mode = cloud.config.stackling.stackling.behaviour_release
        who = volume_api.Caller(**caller) if caller else None
        cinder = volume_api.CinderAPI(cloud, who) if who else None
        try:
            if networking["requested"]:
                self._allocate_network(instance_uuid, who, networking)
            if any(b["destination_type"] == "volume" for b in bdms):
                if cinder is None:
                    raise RuntimeError("no user context to call the Block Storage API with")
                instances.save(cloud, instance_uuid, expected_task_state="spawning",
                               task_state="block_device_mapping")
                with cloud.db.reader_connection() as s:
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
                           launched_at=utcnow(), then=ev.succeeded_in)
        except (instances.InstanceNotFound, instances.UnexpectedDeletingTaskState):
            # "Instance disappeared during build": undo what this build did (Nova's
            # _shutdown_instance); the delete, waiting for this instance's lock, ends it.
            LOG.info("Instance %s was deleted during its build; cleaning up", instance_uuid)
            self.driver.destroy(inst)
            if networking["requested"]:
                self._deallocate_network(instance_uuid, caller, networking)
            if cinder is not None:
                volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                              bdm.load(cloud, instance_uuid), mode)
        except Exception as exc:  # the build failed on this host
            self._build_failed(instance_uuid, inst, cinder, mode, exc, caller, networking)

    def _build_failed(self, instance_uuid: str, inst: dict, cinder, mode: str,
                      exc: Exception, caller: dict | None, networking: dict) -> None:
        cloud = self.cloud
        details = traceback.format_exc()
        if networking["requested"]:
            self._deallocate_network(instance_uuid, caller, networking)
        if cinder is not None:
            volume_attach.cleanup_volumes(cloud, cinder, self.host, instance_uuid,
                                          bdm.load(cloud, instance_uuid), mode)
        with cloud.db.writer() as s:
            row = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
            instances.leave_host(s, row, inst["vcpus"], inst["memory_mb"], inst["root_gb"])
        reason = exc.reason if isinstance(exc, BuildAbort) else str(exc)
        raise BuildFailed(f"Build of instance {instance_uuid} aborted: {reason}",
                          details) from exc

    def _network_request(self, instance_uuid: str) -> dict:
        with self.cloud.db.reader() as s:
            row = instances.fields(s, instance_uuid)
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return _networking(row)

    def _allocate_network(self, instance_uuid: str, who, networking: dict) -> None:
        """allocate_for_instance: ports made with the user's token, bound to this host."""
        if who is None:
            raise RuntimeError("no user context to call the Networking API with")
        instances.save(self.cloud, instance_uuid, expected_task_state="spawning",
                       task_state="networking")
        neutron = network_api.NeutronAPI(self.cloud, who.token, who.project_id)
        try:
            info = neutron.allocate(instance_uuid, self.host, networking["zone"],
                                    networking["requested"], networking["security_groups"])
        except network_api.PortBindingFailed as exc:
            raise BuildAbort(str(exc)) from exc
        except exception.StacklingError as exc:
            raise BuildAbort(exc.message) from exc
        instances.save(self.cloud, instance_uuid, expected_task_state="networking",
                       task_state="spawning", network_info=info)

    def _deallocate_network(self, instance_uuid: str, caller: dict | None,
                            networking: dict) -> None:
        """deallocate_for_instance: delete the ports Nova made, unbind the user's."""
        network_api.deallocate_for_instance(self.cloud, instance_uuid, networking,
                                            (caller or {}).get("token", ""))

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

    def _transition(self, instance_uuid: str, request_id: str | None, event: str,
                    step, **end) -> None:
        """Run one driver step inside its instance-action event; on success set ``end``
        (vm_state, ...) with the power state the driver reports, on failure only clear the
        task state, as Nova's ``reverts_task_state`` does."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id, event,
                                       self.host):
                step(inst)
        except Exception:
            LOG.exception("%s failed for instance %s", event, instance_uuid)
            self._finish(instance_uuid, task_state=None)
            return
        self._finish(instance_uuid, task_state=None,
                     power_state=self.driver.get_power_state(inst), **end)

    def start_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_start_instance",
                         self.driver.power_on, vm_state="active")

    def stop_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_stop_instance",
                         self.driver.power_off, vm_state="stopped")

    def reboot_instance(self, instance_uuid: str, reboot_type: str,
                        request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_reboot_instance",
                         lambda inst: self.driver.reboot(inst, reboot_type), vm_state="active")

    def pause_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_pause_instance",
                         self.driver.pause, vm_state="paused")

    def unpause_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_unpause_instance",
                         self.driver.unpause, vm_state="active")

    def suspend_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_suspend_instance",
                         self.driver.suspend, vm_state="suspended")

    def resume_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_resume_instance",
                         self.driver.resume, vm_state="active")

    def rescue_instance(self, instance_uuid: str, rescue_password: str,
                        request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_rescue_instance",
                         lambda inst: self.driver.rescue(inst, rescue_password),
                         vm_state="rescued")

    def unrescue_instance(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_unrescue_instance",
                         self.driver.unrescue, vm_state="active")

    def trigger_crash_dump(self, instance_uuid: str, request_id: str | None = None) -> None:
        self._transition(instance_uuid, request_id, "compute_trigger_crash_dump",
                         self.driver.trigger_crash_dump)

    def set_admin_password(self, instance_uuid: str, new_pass: str,
                           request_id: str | None = None) -> None:
        """A synchronous call (the API waits): errors reach the caller."""
        inst = self._load(instance_uuid)
        if inst is None:
            return
        try:
            with instance_action.event(self.cloud, instance_uuid, request_id,
                                       "compute_set_admin_password", self.host):
                self.driver.set_admin_password(inst, new_pass)
        finally:
            self._finish(instance_uuid, task_state=None)

    def get_console_output(self, instance_uuid: str) -> str:
        inst = self._load(instance_uuid)
        return "" if inst is None else self.driver.get_console_output(inst)

    def inject_network_info(self, instance_uuid: str, request_id: str | None = None) -> None:
        """``inject_network_info``: the driver gets the instance's network info. The
        libvirt driver injects nothing (ComputeDriver's no-op), nor does the fake one."""
        inst = self._load(instance_uuid)
        if inst is not None:
            self.driver.inject_network_info(inst, self._network_request(instance_uuid)["info"])

    def get_diagnostics(self, instance_uuid: str) -> dict:
        inst = self._load(instance_uuid)
        return {} if inst is None else self.driver.get_diagnostics(inst)

    # -- moves: resize, cold and live migration (nova/compute/manager.py) ------------------

    def _move(self, migration_id: int) -> tuple[dict, dict] | None:
        """(the migration's fields, the instance dict) or None when either is gone."""
        with self.cloud.db.reader() as s:
            mig = migration.get(s, migration_id)
            inst = instances.by_uuid(s, mig.instance_uuid) if mig is not None else None
            if mig is None or inst is None or inst.deleted:
                return None
            fields = {k: getattr(mig, k) for k in (
                "id", "instance_uuid", "source_compute", "source_node", "dest_compute",
                "dest_node", "old_flavor", "new_flavor", "old_vm_state", "migration_type")}
            return fields, instances.instance_dict(inst)

    def _sized(self, inst: dict, flavor: dict) -> dict:
        vcpus, ram, disk = migration.sized(flavor)
        return {**inst, "vcpus": vcpus, "memory_mb": ram, "root_gb": disk}

    def _zone(self) -> str:
        with self.cloud.db.reader() as s:
            return az.zone_of_host(s, self.cloud.config.nova, self.host)

    def _spawn_as(self, inst: dict, flavor: dict, vm_state: str | None) -> int:
        """Start the guest here; a server that was stopped stays powered off."""
        guest = self._sized(inst, flavor)
        self.driver.spawn(guest)
        if vm_state == "stopped":
            self.driver.power_off(guest)
        return self.driver.get_power_state(guest)

    @_move_step
    def prep_resize(self, mig: dict, inst: dict) -> tuple[str, str]:
        """On the destination: the claim is the conductor's; hand over to the source."""
        migration.set_status(self.cloud, mig["id"], "pre-migrating")
        return mig["source_compute"], "resize_instance"

    @_move_step
    def resize_instance(self, mig: dict, inst: dict) -> tuple[str, str]:
        """On the source: power off and send the disk (the fake guest leaves this host)."""
        self._finish(inst["uuid"], task_state="resize_migrating")
        migration.set_status(self.cloud, mig["id"], "migrating")
        self.driver.destroy(inst)
        self._finish(inst["uuid"], task_state="resize_migrated")
        migration.set_status(self.cloud, mig["id"], "post-migrating")
        return mig["dest_compute"], "finish_resize"

    @_move_step
    def finish_resize(self, mig: dict, inst: dict) -> None:
        """On the destination: the guest runs here with the new flavor; VERIFY_RESIZE."""
        self._finish(inst["uuid"], task_state="resize_finish")
        power = self._spawn_as(inst, mig["new_flavor"], mig["old_vm_state"])
        migration.place(self.cloud, inst["uuid"], self.host, mig["dest_node"], self._zone(),
                        mig["new_flavor"], vm_state="resized", task_state=None,
                        power_state=power)
        migration.set_status(self.cloud, mig["id"], "finished")

    @_move_step
    def confirm_resize(self, mig: dict, inst: dict) -> None:
        """On the source: forget the old guest and give its claim back."""
        migration.release_claim(self.cloud, mig["source_node"], mig["old_flavor"],
                                bool(inst.get("bfv")))
        self._finish(inst["uuid"], vm_state=mig["old_vm_state"] or "active", task_state=None)
        migration.set_status(self.cloud, mig["id"], "confirmed")

    @_move_step
    def revert_resize(self, mig: dict, inst: dict) -> tuple[str, str]:
        """On the destination: drop the new guest and its claim; the source takes over."""
        self.driver.destroy(inst)
        migration.release_claim(self.cloud, mig["dest_node"], mig["new_flavor"],
                                bool(inst.get("bfv")))
        return mig["source_compute"], "finish_revert_resize"

    @_move_step
    def finish_revert_resize(self, mig: dict, inst: dict) -> None:
        """On the source: the guest runs here again with its old flavor."""
        power = self._spawn_as(inst, mig["old_flavor"], mig["old_vm_state"])
        migration.place(self.cloud, inst["uuid"], self.host, mig["source_node"], self._zone(),
                        mig["old_flavor"], vm_state=mig["old_vm_state"] or "active",
                        task_state=None, power_state=power)
        migration.set_status(self.cloud, mig["id"], "reverted")

    @_move_step
    def live_migration(self, mig: dict, inst: dict) -> tuple[str, str]:
        """On the source: the guest leaves, its claim here is given back and its console
        tokens (this host's console) go, as in _post_live_migration."""
        self.driver.destroy(inst)
        console_auth_token.clean_for_instance(self.cloud, inst["uuid"])
        migration.release_claim(self.cloud, mig["source_node"], mig["old_flavor"],
                                bool(inst.get("bfv")))
        return mig["dest_compute"], "post_live_migration_at_destination"

    @_move_step
    def post_live_migration_at_destination(self, mig: dict, inst: dict) -> None:
        """On the destination: the guest runs here, paused again if it was."""
        guest = self._sized(inst, mig["old_flavor"])
        self.driver.spawn(guest)
        if mig["old_vm_state"] == "paused":
            self.driver.pause(guest)
        migration.place(self.cloud, inst["uuid"], self.host, mig["dest_node"], self._zone(),
                        vm_state=mig["old_vm_state"] or "active", task_state=None,
                        power_state=self.driver.get_power_state(guest))
        migration.set_status(self.cloud, mig["id"], "completed")


    def terminate_instance(self, instance_uuid: str, caller: dict | None = None,
                           request_id: str | None = None) -> None:
        with self.locks.get(instance_uuid):   # after a build under way, as in Nova
            self._terminate_locked(instance_uuid, caller, request_id)

    def _terminate_locked(self, instance_uuid: str, caller: dict | None,
                          request_id: str | None) -> None:
        with self.cloud.db.reader() as s:
            row = instances.fields(s, instance_uuid)
            inst = None if row is None else instances.instance_dict(row)
        if inst is None:
            return
        with instance_action.event(self.cloud, instance_uuid, request_id,
                                   "compute_terminate_instance", self.host):
            self._terminate(instance_uuid, inst, caller)

    def _terminate(self, instance_uuid: str, inst: dict, caller: dict | None) -> None:
        self.driver.destroy(inst)
        # Always: ports attached later (os-interface) are Nova's too, whatever was asked.
        self._deallocate_network(instance_uuid, caller, self._network_request(instance_uuid))
        if caller:
            # _shutdown_instance + _cleanup_volumes: detach everything, delete DOT volumes.
            volume_attach.cleanup_volumes(
                self.cloud, volume_api.CinderAPI(self.cloud, volume_api.Caller(**caller)),
                self.host, instance_uuid, bdm.load(self.cloud, instance_uuid),
                self.cloud.config.stackling.stackling.behaviour_release)
        instances.delete_instance_row(self.cloud, instance_uuid, release_claim=True)
