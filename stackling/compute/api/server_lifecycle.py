"""rebuild, shelve, shelveOffload, unshelve and evacuate (nova-lifecycle reference §§2,5,6).

The API checks in Nova's order and records the action; the host (rebuild, shelve), or the
conductor (evacuate, unshelve of an offloaded server: scheduling with the pinned zone) does
the rest. Scheduling failures never reach the HTTP answer.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from stackling import exception, policy
from stackling.compute import cinder as volume_api
from stackling.compute.api import (
    common,
    disk_config,
    keypairs,
    server_images,
    server_moves,
    servers,
    views,
)
from stackling.compute.api.server_actions import (
    ANY_TASK,
    _password,
    check_host,
    check_locked,
    check_state,
)
from stackling.compute.objects import bdm, instance_action, migration
from stackling.compute.objects import instance as instances
from stackling.compute.objects import zones as az
from stackling.db.models import Service, utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response

policy.register({
    "os_compute_api:servers:rebuild": common.OWNER,
    "os_compute_api:os-shelve:shelve": common.OWNER,
    "os_compute_api:os-shelve:shelve_offload": common.ADMIN,
    "os_compute_api:os-shelve:unshelve": common.OWNER,
    "os_compute_api:os-shelve:unshelve_to_host": common.ADMIN,
    "os_compute_api:os-evacuate": common.ADMIN,
})


def _caller(req: Request) -> dict:
    return volume_api.Caller.from_context(req.context).as_dict()


def _bfv(inst: Instance) -> bool:
    return bool((inst.scheduler_hints or {}).get("_is_bfv"))


def _object(action: str, data: Any) -> dict:
    if not isinstance(data, dict):
        raise exception.ValidationError(field=action, value=data,
                                        detail=f"{data!r} is not of type 'object'")
    return data


# -- rebuild ---------------------------------------------------------------------------

def _rebuild_keys(req: Request) -> set[str]:
    """``schemas/servers.py rebuild*`` of each microversion range."""
    keys = {"imageRef", "name", "adminPass", "metadata", "preserve_ephemeral",
            "OS-DCF:diskConfig", "accessIPv4", "accessIPv6"}
    if not req.version.matches("2.57"):
        keys.add("personality")
    for version, key in (("2.19", "description"), ("2.54", "key_name"),
                         ("2.57", "user_data"), ("2.63", "trusted_image_certificates"),
                         ("2.90", "hostname")):
        if req.version.matches(version):
            keys.add(key)
    return keys


def _root_image(req: Request, inst: Instance) -> str | None:
    root = next((b for b in bdm.load(req.app.cloud, inst.uuid)
                 if b["boot_index"] == 0 and b["volume_id"]), None)
    if root is None:
        return None
    cinder = volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))
    meta = cinder.get(root["volume_id"]).get("volume_image_metadata") or {}
    return meta.get("image_id")


def _rebuild(req: Request, server_id: str, data: Any):
    data = _object("rebuild", data)
    if "imageRef" not in data:
        raise exception.ValidationError(field="rebuild", value=data,
                                        detail="'imageRef' is a required property")
    common.reject_extra("rebuild", data, _rebuild_keys(req))
    image_id = str(data["imageRef"]).rstrip("/").rsplit("/", 1)[-1]
    name = common.check_name("rebuild/name", data["name"]) if "name" in data else None
    metadata = data.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or any(
            not isinstance(v, str) or not 1 <= len(k) <= 255 or len(v) > 255
            for k, v in metadata.items())):
        raise exception.ValidationError(field="rebuild/metadata", value=metadata,
                                        detail="is not a valid metadata dict")
    preserve = data.get("preserve_ephemeral", False)
    if not isinstance(preserve, bool):
        raise exception.ValidationError(field="rebuild/preserve_ephemeral", value=preserve,
                                        detail=f"{preserve!r} is not of type 'boolean'")
    key_name = data.get("key_name")
    if key_name is not None:     # 2.54: the caller's keypair, or null to drop the key
        key_name = keypairs.check_key_name(req.app.cloud, req.context.user_id,
                                           common.check_name("rebuild/key_name", key_name))
    auto_disk = disk_config.from_api("rebuild", data)
    access = {f: servers.access_ip(f, data.get(f), n)
              for f, n in (("accessIPv4", 4), ("accessIPv6", 6)) if f in data}
    ctx = req.context
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:servers:rebuild",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "rebuild", ("active", "stopped", "error"))
        s.expunge(inst)
    try:
        image = server_images.glance(req).get(image_id)
    except exception.StacklingError:
        raise exception.BadRequest("Cannot find image for rebuild") from None
    if image.get("status") != "active":
        raise exception.BadRequest(f"Image {image_id} is not active.")
    auto_disk = disk_config.inherit(image_id, image["properties"].get("auto_disk_config"),
                                    auto_disk)
    volume_backed = _bfv(inst)
    if volume_backed:
        if data.get("trusted_image_certificates"):
            raise exception.BadRequest("Image certificate validation is not supported for "
                                       "volume-backed servers.")
        if not req.version.matches("2.93") and _root_image(req, inst) != image_id:
            raise exception.BadRequest(
                f"Image {image_id} is unacceptable: Unable to rebuild with a different "
                "image for a volume-backed server.")
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id, metadata=metadata is not None)
        check_state(inst, "rebuild", ("active", "stopped", "error"))
        check_host(inst)
        old_state, host = inst.vm_state, inst.host
        values = {"task_state": "rebuilding", "updated_at": utcnow()}
        if not volume_backed:
            values["image_ref"] = image_id
        if name is not None:
            values["display_name"] = name
        if "description" in data:
            values["display_description"] = data["description"]
        if "user_data" in data:
            values["user_data"] = data["user_data"]
        if "key_name" in data:
            values["key_name"] = key_name
        values["scheduler_hints"] = disk_config.with_setting(inst.scheduler_hints, auto_disk)
        for key, column in (("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
            if key in access:
                values[column] = access[key]
        instances.update_fields(inst, **values)
        if metadata is not None:
            instances.set_metadata(inst, metadata, replace=True)
        instance_action.record(s, ctx, inst.uuid, "rebuild")
    req.app.cloud.rpc.cast("conductor", "rebuild_instance", instance_uuid=server_id,
                           host=host, orig_vm_state=old_state, preserve_ephemeral=preserve,
                           reimage=volume_backed and req.version.matches("2.93"),
                           caller=_caller(req), request_id=ctx.request_id)
    body = _rebuild_view(req, server_id)
    body["server"]["adminPass"] = data.get("adminPass") or _password()
    return json_response(body, status=202,
                         headers={"Location": body["server"]["links"][0]["href"]})


def _rebuild_view(req: Request, server_id: str) -> dict:
    """GET's body from 2.75; before, without the extended attributes (addresses without
    their type and MAC), keeping the fields the view gained one microversion at a time.
    From 2.57 ``user_data`` is added at every microversion (nova's _action_rebuild)."""
    body = json.loads(servers.show_server(req, server_id).body)
    server = body["server"]
    if not req.version.matches("2.75"):
        kept = {key for version, key in REBUILD_VIEW_FIELDS if req.version.matches(version)}
        server = {k: v for k, v in server.items() if not k.startswith(
            ("OS-EXT-", "OS-SRV-USG:", "os-extended-volumes:")) and (
            k not in ALL_REBUILD_VIEW_FIELDS or k in kept)}
        server["addresses"] = views.plain_addresses(server["addresses"])
    if req.version.matches("2.57"):
        # In place of the admin's OS-EXT-SRV-ATTR:user_data (show_user_data=False).
        server.pop("OS-EXT-SRV-ATTR:user_data", None)
        with req.app.cloud.db.reader() as s:
            server["user_data"] = instances.get(s, req.context, server_id).user_data
    return {"server": server}


# The fields the rebuild view gained before 2.75 showed it all (nova's views/servers.py).
REBUILD_VIEW_FIELDS = (("2.9", "locked"), ("2.26", "tags"), ("2.54", "key_name"),
                       ("2.71", "server_groups"), ("2.73", "locked_reason"))
ALL_REBUILD_VIEW_FIELDS = {key for _, key in REBUILD_VIEW_FIELDS} | {
    "config_drive", "security_groups", "host_status"}


# -- shelve, shelveOffload, unshelve --------------------------------------------------

def _shelve(req: Request, server_id: str, data: Any):
    # Nova's schema takes any value here ("restrict to null in a future version").
    ctx = req.context
    states = ("active", "stopped", "paused", "suspended")
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:os-shelve:shelve",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "shelve", states)
        s.expunge(inst)
    image_id = None
    if not _bfv(inst):
        image_id = server_images.create_queued(req, inst, server_images.snapshot_meta(
            req, inst, f"{inst.display_name}-shelved", "snapshot", {}))
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        check_state(inst, "shelve", states)
        check_host(inst)
        instances.update_fields(inst, task_state="shelving", updated_at=utcnow())
        instance_action.record(s, ctx, inst.uuid, "shelve")
        host = inst.host
    offload_time = common.conf(req).shelved_offload_time
    if image_id is None:
        # A volume-backed server is offloaded at once, whatever the option says.
        req.app.cloud.rpc.cast(f"compute.{host}", "shelve_offload_instance",
                               instance_uuid=server_id, caller=_caller(req),
                               request_id=ctx.request_id)
    else:
        req.app.cloud.rpc.cast(f"compute.{host}", "shelve_instance", instance_uuid=server_id,
                               image_id=image_id, offload=offload_time == 0,
                               caller=_caller(req), request_id=ctx.request_id)
    return empty_response(202)


def _shelve_offload(req: Request, server_id: str, data: Any):
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:os-shelve:shelve_offload",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "shelveOffload", ("shelved",))
        check_host(inst)
        instances.update_fields(inst, task_state="shelving_offloading", updated_at=utcnow())
        instance_action.record(s, ctx, inst.uuid, "shelveOffload")
        host = inst.host
    req.app.cloud.rpc.cast(f"compute.{host}", "shelve_offload_instance",
                           instance_uuid=server_id, caller=_caller(req),
                           request_id=ctx.request_id)
    return empty_response(202)


_NOT_SET = object()


def _unshelve_body(req: Request, data: Any) -> tuple[Any, str | None]:
    """(availability_zone or _NOT_SET, host) of each microversion's schema."""
    if not req.version.matches("2.77") or data is None:
        return _NOT_SET, None
    data = _object("unshelve", data)
    allowed = {"availability_zone", "host"} if req.version.matches("2.91") \
        else {"availability_zone"}
    common.reject_extra("unshelve", data, allowed)
    if not req.version.matches("2.91") and "availability_zone" not in data:
        raise exception.ValidationError(field="unshelve", value=data,
                                        detail="'availability_zone' is a required property")
    zone = data.get("availability_zone", _NOT_SET)
    if zone is not _NOT_SET and not (zone is None and req.version.matches("2.91")):
        common.check_name("unshelve/availability_zone", zone)
    host = data.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        raise exception.ValidationError(field="unshelve/host", value=host,
                                        detail=f"{host!r} is not a 'hostname'")
    return zone, host


def _check_volume_zones(req: Request, inst: Instance, zone: str) -> None:
    """``_validate_unshelve_az`` with ``cross_az_attach = False``."""
    cinder = volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))
    for b in bdm.load(req.app.cloud, inst.uuid):
        if not b["volume_id"]:
            continue
        vaz = cinder.get(b["volume_id"]).get("availability_zone")
        if vaz != zone:
            raise exception.Conflict(
                "The availability zone between the server and its attached volumes do not "
                "match: The specified availability zone does not match the volume "
                f"{b['volume_id']} attached to the server. Specified availability zone is "
                f"{zone}. Volume is in {vaz}..")


def _unshelve(req: Request, server_id: str, data: Any):
    zone, host = _unshelve_body(req, data)
    ctx, conf = req.context, common.conf(req)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:os-shelve:unshelve",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        check_state(inst, "unshelve", ("shelved", "shelved_offloaded"))
        if (zone is not _NOT_SET or host) and inst.vm_state != "shelved_offloaded":
            raise exception.Conflict(
                "Specifying an availability zone or a host when unshelving server "
                f'"{server_id}" with status "{inst.vm_state}" is not supported. The server '
                "status must be SHELVED_OFFLOADED.")
        if zone not in (_NOT_SET, None) and zone not in az.available_zones(s, conf):
            raise exception.BadRequest("The requested availability zone is not available")
        s.expunge(inst)
        if zone not in (_NOT_SET, None) and not conf.cinder.cross_az_attach:
            _check_volume_zones(req, inst, zone)
        if host:
            common.authorize(req, "os_compute_api:os-shelve:unshelve_to_host",
                             {"project_id": inst.project_id})
            if s.scalar(select(Service.id).where(
                    Service.project == "nova", Service.binary == "nova-compute",
                    Service.host == host)) is None:
                raise exception.BadRequest(f"Compute host {host} could not be found.")
            effective = inst.requested_az if zone is _NOT_SET else zone
            if effective and az.zone_of_host(s, conf, host) != effective:
                raise exception.Conflict(
                    f'Host "{host}" is not in the availability zone "{effective}".')
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        check_state(inst, "unshelve", ("shelved", "shelved_offloaded"))
        pin = {} if zone is _NOT_SET else {"requested_az": zone}   # null unpins (2.91)
        instances.update_fields(inst, task_state="unshelving", updated_at=utcnow(), **pin)
        instance_action.record(s, ctx, inst.uuid, "unshelve")
        offloaded, current = inst.vm_state == "shelved_offloaded", inst.host
    if offloaded:
        req.app.cloud.rpc.cast("conductor", "unshelve_instance", instance_uuid=server_id,
                               host=host, caller=_caller(req), request_id=ctx.request_id)
    else:
        req.app.cloud.rpc.cast(f"compute.{current}", "unshelve_instance",
                               instance_uuid=server_id, caller=_caller(req),
                               request_id=ctx.request_id)
    return empty_response(202)


# -- evacuate --------------------------------------------------------------------------

def _evacuate_body(req: Request, data: Any) -> tuple[str | None, bool, str | None]:
    data = _object("evacuate", data)
    keys = {"host", "adminPass"}
    if not req.version.matches("2.14"):
        keys.add("onSharedStorage")
        if "onSharedStorage" not in data:
            raise exception.ValidationError(field="evacuate", value=data,
                                            detail="'onSharedStorage' is a required property")
    if req.version.matches("2.29") and not req.version.matches("2.68"):
        keys.add("force")
    common.reject_extra("evacuate", data, keys)
    host, force = server_moves.host_and_force("evacuate", data)
    password = data.get("adminPass")
    if password is not None and data.get("onSharedStorage") is True:
        raise exception.BadRequest("admin password can't be changed on existing disk")
    return host, force, password


def _evacuate(req: Request, server_id: str, data: Any):
    host, force, password = _evacuate_body(req, data)
    ctx, conf = req.context, common.conf(req)
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:os-evacuate", {"project_id": inst.project_id})
        if host is not None:
            if not az.nova_services(s, conf, host=host, binary="nova-compute"):
                raise exception.NotFound(f"Compute host {host} not found.")
            if host == inst.host:
                raise exception.BadRequest("The target host can't be the same one.")
        # Neither the lock nor the task state is checked (nova/compute/api.py evacuate).
        check_state(inst, "evacuate", ("active", "stopped", "error"), ANY_TASK)
        check_host(inst)
        if any(svc.up for svc in az.nova_services(s, conf, host=inst.host,
                                                  binary="nova-compute")):
            raise exception.BadRequest(f"Compute service of {inst.host} is still in use.")
        mig = migration.create(s, inst, "evacuation", "accepted", dest=host)
        instances.update_fields(inst, task_state="rebuilding", updated_at=utcnow())
        instance_action.record(s, ctx, inst.uuid, "evacuate")
        mig_id = mig.id
    req.app.cloud.rpc.cast("conductor", "evacuate_instance", instance_uuid=server_id,
                           migration_id=mig_id, host=host, force=force,
                           stop=req.version.matches("2.95"), caller=_caller(req),
                           request_id=ctx.request_id)
    if req.version.matches("2.14"):
        return empty_response(200)
    return json_response({"adminPass": password or _password()})


HANDLERS = {"rebuild": _rebuild, "shelve": _shelve, "shelveOffload": _shelve_offload,
            "unshelve": _unshelve, "evacuate": _evacuate}
