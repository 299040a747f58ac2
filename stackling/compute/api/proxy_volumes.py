"""/os-volumes and /os-snapshots: Nova's deprecated proxies to the Block Storage API.

Nova answers them up to microversion 2.35 and with 404 from 2.36 on (the proxy APIs
were removed then). Every call goes to Cinder through ``volume_api.CinderAPI`` with the
caller's token; the bodies are Nova's camelCase views of Cinder's volumes and
snapshots (``displayName``, ``availabilityZone``, ``attachments: [{}]`` when detached).
Create answers 200 and delete 202, as Nova does.
"""

from __future__ import annotations

from typing import Any

from stackling import exception, policy
from stackling.compute import cinder as volume_api
from stackling.compute.api import common
from stackling.web.app import Request, empty_response, json_response, read_json

MAX_PROXY_VERSION = "2.35"

policy.register({
    "os_compute_api:os-volumes:list": common.OWNER_READER,
    "os_compute_api:os-volumes:detail": common.OWNER_READER,
    "os_compute_api:os-volumes:show": common.OWNER_READER,
    "os_compute_api:os-volumes:create": common.OWNER,
    "os_compute_api:os-volumes:delete": common.OWNER,
    "os_compute_api:os-volumes:snapshots:list": common.OWNER_READER,
    "os_compute_api:os-volumes:snapshots:detail": common.OWNER_READER,
    "os_compute_api:os-volumes:snapshots:show": common.OWNER_READER,
    "os_compute_api:os-volumes:snapshots:create": common.OWNER,
    "os_compute_api:os-volumes:snapshots:delete": common.OWNER,
})


def _start(req: Request, rule: str) -> volume_api.CinderAPI:
    """404 from 2.36 (the proxies are gone there); policy; a Cinder client for the caller."""
    if not req.version.matches(None, MAX_PROXY_VERSION):
        raise exception.NotFound("The resource could not be found.")
    common.authorize(req, rule, {"project_id": req.context.project_id})
    return volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))


def _limited(req: Request, items: list) -> list:
    """nova.api.openstack.common.limited: ``offset`` and ``limit`` (capped by max_limit)."""
    params = req.GET
    offset = common.validate_integer(params.get("offset", 0), "offset", 0)
    max_limit = common.conf(req).api.max_limit
    limit = common.validate_integer(params.get("limit", max_limit), "limit", 0)
    limit = min(limit, max_limit)
    return items[offset:offset + limit]


# -- volumes ---------------------------------------------------------------------------


def volume_view(vol: dict) -> dict:
    attachments: list[dict] = []
    for att in vol.get("attachments") or []:
        item = {"id": vol["id"], "volumeId": vol["id"], "serverId": att.get("server_id")}
        if att.get("device"):
            item["device"] = att["device"]
        attachments.append(item)
    return {
        "id": vol["id"], "status": vol["status"], "size": vol["size"],
        "availabilityZone": vol.get("availability_zone") or "",
        "createdAt": vol.get("created_at"),
        "attachments": attachments or [{}],
        "displayName": vol.get("name"), "displayDescription": vol.get("description"),
        "volumeType": vol.get("volume_type"), "snapshotId": vol.get("snapshot_id"),
        "metadata": vol.get("metadata") or {},
    }


def delete_without_id(req: Request):
    """DELETE of a proxy collection (``/os-volumes/``, ``/os-security-groups/`` ...): no
    such route in Nova, 404."""
    raise exception.NotFound("The resource could not be found.")


def _list_volumes(req: Request, rule: str):
    cinder = _start(req, rule)
    vols = cinder._call("GET", "volumes/detail")["volumes"]
    return json_response({"volumes": [volume_view(v) for v in _limited(req, vols)]})


def list_volumes(req: Request):
    return _list_volumes(req, "os_compute_api:os-volumes:list")


def list_volumes_detail(req: Request):
    return _list_volumes(req, "os_compute_api:os-volumes:detail")


def show_volume(req: Request, volume_id: str):
    cinder = _start(req, "os_compute_api:os-volumes:show")
    return json_response({"volume": volume_view(cinder.get(volume_id))})


def _size(value: Any) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or
                                       (isinstance(value, str) and value.isdigit())):
        raise exception.ValidationError(field="size", value=value,
                                        detail=f"{value!r} is not a positive integer")
    size = int(value)
    if size < 1:
        raise exception.ValidationError(field="size", value=value,
                                        detail=f"{value!r} is less than the minimum of 1")
    return size


def create_volume(req: Request):
    cinder = _start(req, "os_compute_api:os-volumes:create")
    data = common.body_key(read_json(req), "volume")
    common.reject_extra("volume", data, {"volume_type", "metadata", "snapshot_id", "size",
                                         "availability_zone", "display_name",
                                         "display_description"})
    if "size" not in data:
        raise exception.ValidationError(field="volume", value=data,
                                        detail="'size' is a required property")
    size = _size(data["size"])
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise exception.ValidationError(field="metadata", value=metadata,
                                        detail=f"{metadata!r} is not of type 'object'")
    snapshot_id = data.get("snapshot_id")
    if snapshot_id:
        cinder.get_snapshot(snapshot_id)          # 404 as Nova's SnapshotNotFound
    vol = cinder.create(size, name=data.get("display_name") or "",
                        description=data.get("display_description") or "",
                        snapshot_id=snapshot_id, volume_type=data.get("volume_type"),
                        availability_zone=data.get("availability_zone"), metadata=metadata)
    return json_response({"volume": volume_view(vol)})


def delete_volume(req: Request, volume_id: str):
    cinder = _start(req, "os_compute_api:os-volumes:delete")
    cinder.delete(volume_id)
    return empty_response(202)


# -- snapshots -------------------------------------------------------------------------


def snapshot_view(snap: dict) -> dict:
    return {"id": snap["id"], "volumeId": snap["volume_id"], "status": snap["status"],
            "size": snap["size"], "createdAt": snap.get("created_at"),
            "displayName": snap.get("name"), "displayDescription": snap.get("description")}


def _list_snapshots(req: Request, rule: str):
    cinder = _start(req, rule)
    snaps = cinder._call("GET", "snapshots/detail")["snapshots"]
    return json_response({"snapshots": [snapshot_view(s) for s in _limited(req, snaps)]})


def list_snapshots(req: Request):
    return _list_snapshots(req, "os_compute_api:os-volumes:snapshots:list")


def list_snapshots_detail(req: Request):
    return _list_snapshots(req, "os_compute_api:os-volumes:snapshots:detail")


def show_snapshot(req: Request, snapshot_id: str):
    cinder = _start(req, "os_compute_api:os-volumes:snapshots:show")
    return json_response({"snapshot": snapshot_view(cinder.get_snapshot(snapshot_id))})


def create_snapshot(req: Request):
    cinder = _start(req, "os_compute_api:os-volumes:snapshots:create")
    data = common.body_key(read_json(req), "snapshot")
    common.reject_extra("snapshot", data, {"volume_id", "force", "display_name",
                                           "display_description"})
    if "volume_id" not in data:
        raise exception.ValidationError(field="snapshot", value=data,
                                        detail="'volume_id' is a required property")
    force = data.get("force", False)
    if not isinstance(force, bool):
        if isinstance(force, str) and force.lower() in ("true", "false", "1", "0", "yes",
                                                        "no", "on", "off"):
            force = force.lower() in ("true", "1", "yes", "on")
        else:
            raise exception.ValidationError(field="force", value=force,
                                            detail=f"{force!r} is not a boolean")
    body = {"snapshot": {"volume_id": data["volume_id"], "force": force,
                         "name": data.get("display_name"),
                         "description": data.get("display_description")}}
    snap = cinder._call("POST", "snapshots", body,
                        not_found=volume_api.VolumeNotFound(volume_id=data["volume_id"]))
    return json_response({"snapshot": snapshot_view(snap["snapshot"])})


def delete_snapshot(req: Request, snapshot_id: str):
    cinder = _start(req, "os_compute_api:os-volumes:snapshots:delete")
    cinder._call("DELETE", f"snapshots/{snapshot_id}",
                 not_found=volume_api.SnapshotNotFound(snapshot_id=snapshot_id))
    return empty_response(202)
