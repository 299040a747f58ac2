"""nova-conductor (with the scheduler): pick a host for a server, claim it, cast the build.

Build: the API writes the instance (BUILD/scheduling) and casts ``build_instance`` to the
``scheduler`` topic. The conductor reads host states, runs the pure scheduler, claims the
resources with a compare-and-swap UPDATE on the compute node (placement's job), records
host/node/zone and casts ``build_and_run_instance`` to ``compute.<host>``, whose driver
spawns it. No host → ERROR with fault ``No valid host was found. ...``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from typing import TYPE_CHECKING

from sqlalchemy import select

from stackling import decisions
from stackling.compute import scheduler, volume_zones
from stackling.compute.objects import instance as instances
from stackling.compute.objects import instance_action, migration, server_group
from stackling.compute.objects import zones as az
from stackling.db.api import retry_on_disconnect
from stackling.db.models_compute import Instance

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


def _group_filter(states: list, group_policy: str, member_hosts: Counter,
                  max_per_host: int) -> list:
    """ServerGroupAffinityFilter / ServerGroupAntiAffinityFilter (a host takes fewer
    than ``max_server_per_host`` members)."""
    if group_policy == "affinity":
        return [h for h in states if h.host in member_hosts] if member_hosts else states
    return [h for h in states if member_hosts[h.host] < max_per_host]


class MoveFailed(Exception):
    """A move found no destination: the server keeps its host and state."""


def _move_spec(inst: Instance, flavor: dict, target: str | None, force: bool,
               ignore: set[str]) -> scheduler.RequestSpec:
    vcpus, ram, disk = migration.sized(flavor)
    if (inst.scheduler_hints or {}).get("_is_bfv"):
        disk -= int(flavor.get("disk") or 0)
    return scheduler.RequestSpec(
        vcpus=vcpus, memory_mb=ram, disk_gb=disk, availability_zone=inst.requested_az,
        force_host=target if force else None, requested_host=None if force else target,
        ignore_hosts=frozenset(ignore))


class MoveTasks:
    """The conductor's side of resize, cold and live migration (``MigrationTask``,
    ``LiveMigrationTask``): schedule with the stored request spec (so a pinned server keeps
    its zone), claim the destination, and hand the move to the compute hosts."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.host_states = scheduler.HostStateCache(margin=0 if cloud.db.is_sqlite else 2)

    def _schedule(self, spec: scheduler.RequestSpec) -> scheduler.HostState:
        conf = self.cloud.config.nova
        for _ in range(conf.scheduler.max_attempts):
            with self.cloud.db.reader() as s:
                states = self.host_states.states(s, conf)
            hosts = scheduler.select_hosts(self.host_states.index(states), spec)
            chosen = next((h for h in hosts if instances.claim(
                self.cloud, h.node, spec.vcpus, spec.memory_mb, spec.disk_gb)), None)
            if chosen is not None:
                return chosen
        raise scheduler.NoValidHost()

    def migrate_server(self, instance_uuid: str, migration_id: int, flavor: dict,
                       host: str | None = None, request_id: str | None = None) -> None:
        """Resize (a new flavor) or cold migrate (the same one): ``_cold_migrate``."""
        cloud = self.cloud
        with cloud.db.reader() as s:
            inst = instances.by_uuid(s, instance_uuid)
            if inst is None or inst.deleted:
                return
            resize = flavor.get("id") != (inst.flavor or {}).get("id")
            exclude = set() if resize and cloud.config.nova.allow_resize_to_same_host \
                else {inst.host}
            spec = _move_spec(inst, flavor, host, False, exclude)
            kind = "resize" if resize else "cold migrate"
            old_state = inst.vm_state
        try:
            with instance_action.event(cloud, instance_uuid, request_id,
                                       "conductor_migrate_server"):
                try:
                    with instance_action.event(cloud, instance_uuid, request_id,
                                               "cold_migrate"):
                        chosen = self._schedule(spec)
                except scheduler.NoValidHost as exc:
                    raise MoveFailed(f"No valid host was found. No valid host found for "
                                     f"{kind}") from exc
        except MoveFailed as exc:
            migration.set_status(cloud, migration_id, "error")
            instances.add_fault(cloud, instance_uuid, str(exc), traceback.format_exc(),
                                vm_state=old_state, task_state=None)
            return
        with cloud.db.reader() as s:
            zone = az.zone_of_host(s, cloud.config.nova, chosen.host)
        migration.set_status(cloud, migration_id, "pre-migrating", dest_compute=chosen.host,
                             dest_node=chosen.node, dest_host=chosen.host)
        with cloud.db.writer() as s:
            row = instances.by_uuid(s, instance_uuid)
            if row is not None:
                instances.update_fields(row, availability_zone=zone)
        cloud.rpc.cast(f"compute.{chosen.host}", "prep_resize", instance_uuid=instance_uuid,
                       migration_id=migration_id, request_id=request_id)

    def live_migrate_instance(self, instance_uuid: str, migration_id: int,
                              host: str | None = None, force: bool = False,
                              request_id: str | None = None,
                              event: str = "conductor_live_migrate_instance") -> str | None:
        """``LiveMigrationTask``: returns the error text when it failed (the API of
        microversions before 2.34 turns it into a 400)."""
        cloud = self.cloud
        with cloud.db.reader() as s:
            inst = instances.by_uuid(s, instance_uuid)
            if inst is None or inst.deleted:
                return None
            source, old_state = inst.host, inst.vm_state
            spec = _move_spec(inst, dict(inst.flavor or {}), host, force, {source})
        try:
            with instance_action.event(cloud, instance_uuid, request_id, event):
                if host == source:
                    raise MoveFailed(f"Unable to migrate instance ({instance_uuid}) to "
                                     f"current host ({source}).")
                try:
                    chosen = self._schedule(spec)
                except scheduler.NoValidHost as exc:
                    raise MoveFailed(str(exc)) from exc
        except MoveFailed as exc:
            migration.set_status(cloud, migration_id, "error")
            instances.add_fault(cloud, instance_uuid, str(exc), traceback.format_exc(),
                                vm_state=old_state, task_state=None)
            return str(exc)
        migration.set_status(cloud, migration_id, "running", dest_compute=chosen.host,
                             dest_node=chosen.node, dest_host=chosen.host)
        cloud.rpc.cast(f"compute.{source}", "live_migration", instance_uuid=instance_uuid,
                       migration_id=migration_id, request_id=request_id)
        return None


class LifecycleTasks(MoveTasks):
    """The conductor's side of rebuild, evacuate and unshelve (``rebuild_instance``,
    ``unshelve_instance``): an evacuation or an offloaded server's unshelve is scheduled
    with the pinned zone; a rebuild stays on its host."""

    def rebuild_instance(self, instance_uuid: str, host: str, orig_vm_state: str,
                         caller: dict, preserve_ephemeral: bool = False,
                         reimage: bool = False, request_id: str | None = None) -> None:
        # The same host is asked to validate the image (force_hosts=[current]): a fake
        # host always fits what it already runs.
        with self.cloud.db.writer() as s:
            instance_action.succeeded(s, instance_uuid, request_id, "rebuild_server")
        self.cloud.rpc.cast(f"compute.{host}", "rebuild_instance",
                            instance_uuid=instance_uuid, orig_vm_state=orig_vm_state,
                            caller=caller, preserve_ephemeral=preserve_ephemeral,
                            reimage=reimage, request_id=request_id)

    def evacuate_instance(self, instance_uuid: str, migration_id: int, caller: dict,
                          host: str | None = None, force: bool = False, stop: bool = False,
                          request_id: str | None = None) -> None:
        """No host or a host not forced → the scheduler (source ignored, zone kept);
        NoValidHost → ERROR."""
        cloud = self.cloud
        with cloud.db.reader() as s:
            inst = instances.by_uuid(s, instance_uuid)
            if inst is None or inst.deleted:
                return
            source, old_state = inst.host, inst.vm_state
            spec = _move_spec(inst, dict(inst.flavor or {}), host, force, {source})
        try:
            with instance_action.event(cloud, instance_uuid, request_id, "rebuild_server"):
                chosen = self._schedule(spec)
        except scheduler.NoValidHost as exc:
            migration.set_status(cloud, migration_id, "error")
            instances.add_fault(cloud, instance_uuid, str(exc), traceback.format_exc(),
                                vm_state="error", task_state=None)
            return
        migration.set_status(cloud, migration_id, "pre-migrating", dest_compute=chosen.host,
                             dest_node=chosen.node, dest_host=chosen.host)
        cloud.rpc.cast(f"compute.{chosen.host}", "rebuild_instance",
                       instance_uuid=instance_uuid, orig_vm_state=old_state, caller=caller,
                       migration_id=migration_id, stop=stop, request_id=request_id)

    def unshelve_instance(self, instance_uuid: str, caller: dict, host: str | None = None,
                          request_id: str | None = None) -> None:
        """An offloaded server: schedule with the (possibly new) pinned zone; NoValidHost
        leaves it SHELVED_OFFLOADED (the new pin is kept, as upstream bug 1978573)."""
        cloud = self.cloud
        with cloud.db.reader() as s:
            inst = instances.by_uuid(s, instance_uuid)
            if inst is None or inst.deleted:
                return
            image_backed = not (inst.scheduler_hints or {}).get("_is_bfv")
            spec = scheduler.RequestSpec(
                vcpus=inst.vcpus, memory_mb=inst.memory_mb,
                disk_gb=instances.claimed_disk(inst), availability_zone=inst.requested_az,
                requested_host=host)
        if image_backed:
            with instance_action.event(cloud, instance_uuid, request_id, "get_image_info"):
                pass
        try:
            with instance_action.event(cloud, instance_uuid, request_id,
                                       "schedule_instances"):
                chosen = self._schedule(spec)
        except scheduler.NoValidHost:
            with cloud.db.writer() as s:
                row = instances.by_uuid(s, instance_uuid)
                if row is not None and not row.deleted:
                    instances.update_fields(row, task_state=None)
            return
        cloud.rpc.cast(f"compute.{chosen.host}", "unshelve_instance",
                       instance_uuid=instance_uuid, caller=caller, node=chosen.node,
                       request_id=request_id)


class Conductor(LifecycleTasks):
    """The ``scheduler`` topic: schedule_and_build_instances, as nova-conductor does."""

    def build_instance(self, instance_uuid: str, caller: dict | None = None,
                       tried: list[str] | None = None) -> None:
        """Schedule and build; ``tried`` are the hosts a reschedule (the compute host's late
        group check) ruled out, as Nova's ``filter_properties['retry']``. Whatever fails
        (a database error, the cast to the chosen host refused by the broker), the server
        goes to ERROR as Nova's schedule_and_build_instances buries it; it never stays
        BUILD/scheduling."""
        try:
            self._schedule_and_build(instance_uuid, caller, tried)
        except Exception as exc:
            LOG.exception("Failed to schedule instance %s", instance_uuid)
            self._bury(instance_uuid, caller, exc)

    def _bury(self, instance_uuid: str, caller: dict | None, exc: Exception) -> None:
        """ERROR with a fault and a failed schedule event, the chosen host's claim given
        back if the build never reached it; the message as Nova's exception_to_dict: its
        own text for our errors, the class name for any other (it may hold details a user
        must not see; they go to the fault's details). Retried while the database is
        unreachable: the outage that failed the schedule must not keep it in BUILD."""
        message = getattr(exc, "message", None) or type(exc).__name__
        details = traceback.format_exc()
        try:
            with self.cloud.db.reader() as s:
                state = s.execute(select(Instance.vm_state).where(
                    Instance.uuid == instance_uuid, Instance.deleted == 0)).first()
            if state is not None and state[0] != "building":
                return   # finished meanwhile (a reschedule that went on): not ours
        except Exception:   # the database still down: fail_build below waits for it
            LOG.exception("Could not read instance %s", instance_uuid)
        try:
            retry_on_disconnect(instance_action.fail)(
                self.cloud, instance_uuid, (caller or {}).get("request_id"),
                "conductor_schedule_and_build_instances", message)
        except Exception:   # the event is a record; the server's state must still change
            LOG.exception("Could not record the failed event of instance %s", instance_uuid)
        try:
            instances.fail_build(self.cloud, instance_uuid, message, details)
        except Exception:
            LOG.exception("Failed to set instance %s to ERROR", instance_uuid)

    def _schedule_and_build(self, instance_uuid: str, caller: dict | None,
                            tried: list[str] | None) -> None:
        with self.cloud.db.reader() as s:
            inst = instances.fields(s, instance_uuid)
            group = (inst.scheduler_hints or {}).get("group") if inst is not None else None
        if group:
            self._after_earlier_members(group, instance_uuid)
            inst = None     # read again after the wait
        self._build_instance(instance_uuid, caller, group, tried or [], inst)

    def _after_earlier_members(self, group: str, instance_uuid: str,
                               timeout: float = 10.0) -> None:
        """Wait (bounded) until the members created before this one have a host."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.cloud.db.reader() as s:
                if not server_group.earlier_unplaced(s, group, instance_uuid):
                    return
            time.sleep(0.02)

    def _build_instance(self, instance_uuid: str, caller: dict | None = None,
                        group: str | None = None, tried: list[str] | None = None,
                        inst=None) -> None:
        """``inst``: the instance's fields, if just read (``instances.fields``)."""
        cloud = self.cloud
        conf = cloud.config.nova
        with cloud.db.reader() as s:
            if inst is None:
                inst = instances.fields(s, instance_uuid)
            if inst is None or inst.deleted:
                return
            hints = inst.scheduler_hints or {}
            spec = scheduler.RequestSpec(
                vcpus=inst.vcpus, memory_mb=inst.memory_mb,
                disk_gb=instances.claimed_disk(inst),
                availability_zone=inst.requested_az,
                force_host=hints.get("_force_host"), force_node=hints.get("_force_node"),
                requested_host=hints.get("_requested_host"),
                requested_node=hints.get("_requested_node"),
                ignore_hosts=frozenset(tried or ()))
            states = self.host_states.states(s, conf)
            rule = server_group.placement_rule(s, group, instance_uuid) if group else None
        if rule is not None:
            states = _group_filter(states, *rule)
        chosen = None
        try:
            if len(tried or ()) >= conf.scheduler.max_attempts:
                raise scheduler.NoValidHost(f"Exceeded maximum number of retries. Exhausted "
                                            f"all hosts available for retrying build "
                                            f"failures for instance {instance_uuid}.")
            for _ in range(conf.scheduler.max_attempts):
                hosts = scheduler.select_hosts(self.host_states.index(states), spec)
                chosen = next((h for h in hosts if instances.claim(cloud, h.node, spec.vcpus,
                                                         spec.memory_mb, spec.disk_gb)), None)
                if chosen is not None:
                    break
                with cloud.db.reader() as s:
                    states = self.host_states.states(s, conf)
                if rule is not None:
                    states = _group_filter(states, *rule)
            if chosen is None:
                raise scheduler.NoValidHost()
        except scheduler.NoValidHost as exc:
            # Reserved volumes stay reserved until the server is deleted.
            # The action's event first: a client that sees ERROR sees the failed event too.
            instance_action.fail(cloud, instance_uuid, (caller or {}).get("request_id"),
                                 "conductor_schedule_and_build_instances", str(exc))
            instances.set_error(cloud, instance_uuid, str(exc), traceback.format_exc())
            decisions.record(cloud, resource_type="server", resource_id=instance_uuid,
                             service="nova-conductor", step="host", outcome=decisions.FAILED,
                             summary=f"No host passed the filters for zone "
                                     f"{spec.availability_zone or '(any)'}: {exc}",
                             inputs={"requested_az": spec.availability_zone})
            return
        release_mode = cloud.config.stackling.stackling.behaviour_release
        with cloud.db.writer_connection() as s:
            host_zone = az.zone_of_host(s, conf, chosen.host)
            zone = volume_zones.instance_zone(release_mode, spec.availability_zone, host_zone)
            try:
                # Since Pike the instance takes the chosen host's zone; in 2016 it kept
                # the requested one (or none).
                instances.conditional_update(
                    s, instance_uuid, expected_task_state="scheduling", host=chosen.host,
                    node=chosen.node, task_state="spawning", availability_zone=zone)
                placed = True
            except (instances.InstanceNotFound, instances.UnexpectedTaskState):
                placed = False
            if placed:
                decisions.record(
                    cloud, resource_type="server", resource_id=instance_uuid,
                    service="nova-conductor", step="host", outcome=decisions.OK,
                    summary=f"Scheduled to {chosen.host} (zone {host_zone}) for requested "
                            f"zone {spec.availability_zone or '(any)'}; the instance's zone "
                            f"is now {zone}"
                            + (" (2016: the requested zone)" if volume_zones.is_2016(release_mode)
                               else " (the host's zone, as since Pike)"),
                    inputs={"requested_az": spec.availability_zone, "host": chosen.host,
                            "host_zone": host_zone, "release": release_mode}, session=s)
                instance_action.succeeded(s, instance_uuid, (caller or {}).get("request_id"),
                                          "conductor_schedule_and_build_instances")
            else:   # deleted while being scheduled: give the claim back
                instances.release(s, chosen.node, spec.vcpus, spec.memory_mb, spec.disk_gb)
        if not placed:
            return
        cloud.rpc.cast(f"compute.{chosen.host}", "build_and_run_instance",
                       instance_uuid=instance_uuid, caller=caller, tried=list(tried or ()))

