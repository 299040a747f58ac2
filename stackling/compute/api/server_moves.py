"""Server moves: resize, confirmResize, revertResize, migrate and os-migrateLive.

The API checks and records, then casts to the conductor, which schedules with the
instance's pinned zone (``requested_az``) as Nova's stored request spec does: scheduling
errors never reach the HTTP answer; the server goes back to its state, the migration to
``error`` and the action to ``Error`` (nova-lifecycle reference §§3-4).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute.api import common, disk_config, flavors, quotas
from stackling.compute.api.server_actions import (
    check_host,
    check_locked,
    check_state,
)
from stackling.compute.objects import instance as instances
from stackling.compute.objects import instance_action, migration
from stackling.compute.objects import zones as az
from stackling.db.models import Service, utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response

MANAGER = "role:admin or (role:manager and owner)"
policy.register({
    "os_compute_api:servers:resize": common.OWNER,
    "os_compute_api:servers:confirm_resize": common.OWNER,
    "os_compute_api:servers:revert_resize": common.OWNER,
    "os_compute_api:os-migrate-server:migrate": MANAGER,
    "os_compute_api:os-migrate-server:migrate:host": common.ADMIN,
    "os_compute_api:os-migrate-server:migrate_live": MANAGER,
    "os_compute_api:os-migrate-server:migrate_live:host": common.ADMIN,
})


def _source_up(req: Request, s, inst: Instance) -> None:
    """``check_instance_host(check_is_up=True)``."""
    check_host(inst)
    conf = common.conf(req)
    for svc in az.nova_services(s, conf, host=inst.host, binary="nova-compute"):
        if not svc.up:
            raise exception.Conflict("Service is unavailable at this time.")


def _known_host(s, host: str) -> None:
    if s.scalar(select(Service.id).where(Service.project == "nova",
                                         Service.binary == "nova-compute",
                                         Service.host == host)) is None:
        raise exception.BadRequest(f"Compute host {host} could not be found.")


def _start_move(req: Request, server_id: str, rule: str, action: str, kind: str,
                new_flavor: dict | None, host: str | None, task: str,
                status: str = "pre-migrating",
                vm_states: tuple[str, ...] = ("active", "stopped"),
                auto_disk: bool | None = None) -> tuple[int, Instance]:
    """Checks in Nova's order, then the migration record, the task state and the action;
    a resize also sets the disk config (``auto_disk``)."""
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        target = {"project_id": inst.project_id}
        common.authorize(req, rule, target)
        if host is not None:
            common.authorize(req, f"{rule}:host", target)
        check_locked(req, inst)
        check_state(inst, action, vm_states)
        _source_up(req, s, inst)
        if host is not None:
            if host == inst.host and kind != "live-migration":
                raise exception.BadRequest("Cannot migrate to the host where the server "
                                           "exists.")
            _known_host(s, host)
        if new_flavor is not None and new_flavor["id"] == (inst.flavor or {}).get("id"):
            raise exception.BadRequest("When resizing, instances must change flavor!")
        if new_flavor is not None and not (inst.scheduler_hints or {}).get("_is_bfv") \
                and not new_flavor["disk"] and (inst.flavor or {}).get("disk"):
            raise exception.BadRequest("Server disk was unable to be resized because: "
                                       "Resize to zero disk flavor is not allowed.")
        if new_flavor is not None:
            quotas.check_upsize(s, common.conf(req), inst.project_id, inst.flavor or {},
                                new_flavor)
        mig = migration.create(s, inst, kind, status, new_flavor)
        values = {"task_state": task, "updated_at": utcnow()}
        if auto_disk is not None:
            values["scheduler_hints"] = disk_config.with_setting(inst.scheduler_hints, auto_disk)
        instances.update_fields(inst, **values)
        instance_action.record(s, ctx, inst.uuid, action if kind != "live-migration"
                               else "live-migration")
        return mig.id, inst


def _resize(req: Request, server_id: str, data: Any):
    if not isinstance(data, dict) or "flavorRef" not in data:
        raise exception.ValidationError(field="resize", value=data,
                                        detail="'flavorRef' is a required property")
    common.reject_extra("resize", data, {"flavorRef", "OS-DCF:diskConfig"})
    ref = data["flavorRef"]
    if not isinstance(ref, (str, int)) or isinstance(ref, bool) or str(ref) == "":
        raise exception.ValidationError(field="resize/flavorRef", value=ref,
                                        detail=f"{ref!r} is not valid under any of the given "
                                               "schemas")
    flavor_id = str(ref).rstrip("/").rsplit("/", 1)[-1]
    auto_disk = bool(disk_config.from_api("resize", data))   # nothing asked: MANUAL
    try:
        flavor = flavors.get(req.app.cloud, flavor_id, req.context)
    except exception.NotFound:
        raise exception.BadRequest(f"Flavor {flavor_id} could not be found.") from None
    new = migration.flavor_snapshot(flavor)
    mig_id, _ = _start_move(req, server_id, "os_compute_api:servers:resize", "resize",
                            "resize", new, None, "resize_prep", auto_disk=auto_disk)
    req.app.cloud.rpc.cast("conductor", "migrate_server", instance_uuid=server_id,
                           migration_id=mig_id, flavor=new,
                           request_id=req.context.request_id)
    return empty_response(202)


def _migrate(req: Request, server_id: str, data: Any):
    host = None
    if req.version.matches("2.56"):
        if data is not None:
            if not isinstance(data, dict):
                raise exception.ValidationError(field="migrate", value=data,
                                                detail=f"{data!r} is not of type 'object', "
                                                       "'null'")
            common.reject_extra("migrate", data, {"host"})
            host = data.get("host")
            if host is not None and (not isinstance(host, str) or not host):
                raise exception.ValidationError(field="migrate/host", value=host,
                                                detail=f"{host!r} is not a 'hostname'")
    mig_id, inst = _start_move(req, server_id, "os_compute_api:os-migrate-server:migrate",
                               "migrate", "migration", None, host, "resize_prep")
    req.app.cloud.rpc.cast("conductor", "migrate_server", instance_uuid=server_id,
                           migration_id=mig_id, flavor=dict(inst.flavor or {}), host=host,
                           request_id=req.context.request_id)
    return empty_response(202)


def _finished_migration(s, inst: Instance):
    mig = migration.latest(s, inst.uuid, "finished")
    if mig is None:
        raise exception.BadRequest("Instance has not been resized.")
    return mig


def _confirm(req: Request, server_id: str, data: Any):
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:servers:confirm_resize",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "confirmResize", ("resized",))
        mig = _finished_migration(s, inst)
        source = mig.source_compute
        mig.status = "confirming"
        instance_action.record(s, ctx, inst.uuid, "confirmResize")
        mig_id = mig.id
    req.app.cloud.rpc.cast(f"compute.{source}", "confirm_resize", instance_uuid=server_id,
                           migration_id=mig_id, request_id=ctx.request_id)
    return empty_response(204)


def _revert(req: Request, server_id: str, data: Any):
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:servers:revert_resize",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "revertResize", ("resized",))
        mig = _finished_migration(s, inst)
        dest = mig.dest_compute
        mig.status = "reverting"
        instances.update_fields(
            inst, task_state="resize_reverting", updated_at=utcnow(),
            availability_zone=az.zone_of_host(s, common.conf(req), mig.source_compute))
        instance_action.record(s, ctx, inst.uuid, "revertResize")
        mig_id = mig.id
    req.app.cloud.rpc.cast(f"compute.{dest}", "revert_resize", instance_uuid=server_id,
                           migration_id=mig_id, request_id=ctx.request_id)
    return empty_response(202)


def _live_body(req: Request, data: Any) -> tuple[str | None, bool]:
    """The ``os-migrateLive`` schema of each microversion range: (host, force)."""
    if not isinstance(data, dict):
        raise exception.ValidationError(field="os-migrateLive", value=data,
                                        detail=f"{data!r} is not of type 'object'")
    keys = {"block_migration", "host"}
    if not req.version.matches("2.25"):
        keys.add("disk_over_commit")
    optional = {"force"} if req.version.matches("2.30") and \
        not req.version.matches("2.68") else set()
    for key in sorted(keys):
        if key not in data:
            raise exception.ValidationError(field="os-migrateLive", value=data,
                                            detail=f"'{key}' is a required property")
    common.reject_extra("os-migrateLive", data, keys | optional)
    block = data["block_migration"]
    if not isinstance(block, bool) and not (req.version.matches("2.25") and block == "auto"):
        raise exception.ValidationError(field="os-migrateLive/block_migration", value=block,
                                        detail=f"{block!r} is not of type 'boolean'")
    return host_and_force("os-migrateLive", data)


def host_and_force(section: str, data: dict) -> tuple[str | None, bool]:
    """The ``host`` and ``force`` of a move body (live migration, evacuation)."""
    host = data.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        raise exception.ValidationError(field=f"{section}/host", value=host,
                                        detail=f"{host!r} is not a 'hostname'")
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise exception.ValidationError(field=f"{section}/force", value=force,
                                        detail=f"{force!r} is not of type 'boolean'")
    if force and host is None:
        raise exception.BadRequest("Can't force to a non-provided destination")
    return host, force


def _live_migrate(req: Request, server_id: str, data: Any):
    host, force = _live_body(req, data)
    mig_id, _ = _start_move(req, server_id, "os_compute_api:os-migrate-server:migrate_live",
                            "os-migrateLive", "live-migration", None, host, "migrating",
                            status="accepted", vm_states=("active", "paused"))
    args = dict(instance_uuid=server_id, migration_id=mig_id, host=host, force=force,
                request_id=req.context.request_id)
    if req.version.matches("2.34"):
        req.app.cloud.rpc.cast("conductor", "live_migrate_instance", **args)
        return empty_response(202)
    # Before 2.34 the API waits for the conductor's checks and answers their errors.
    error = req.app.cloud.rpc.call("conductor", "live_migrate_instance",
                                   event="conductor_migrate_server", **args)
    if error:
        raise exception.BadRequest(error)
    return empty_response(202)


HANDLERS = {"resize": _resize, "confirmResize": _confirm, "revertResize": _revert,
            "migrate": _migrate, "os-migrateLive": _live_migrate}
