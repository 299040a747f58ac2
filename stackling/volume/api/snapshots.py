"""Volume snapshots: create (quota, cast to the volume's backend), list, show, update, delete."""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Snapshot, Volume, VolumeType
from stackling.volume import errors
from stackling.volume.api import common, metadata, schemas, views
from stackling.volume.api.volumes import paginate
from stackling.volume.objects import backends, quota
from stackling.web import validation as web_validation
from stackling.web.app import Request, empty_response, json_response, read_json

CREATE_KEYS = {"volume_id", "name", "description", "display_name", "display_description",
               "force", "metadata"}


# Snapshot columns Cinder sorts by (an unknown sort key is a 400 there).
SORT_KEYS = {"id", "created_at", "updated_at", "name", "display_name", "description",
             "display_description", "status", "size", "volume_size", "volume_id",
             "project_id", "user_id", "progress", "deleted_at", "deleted",
             "volume_type_id", "group_snapshot_id", "cgsnapshot_id", "provider_id",
             "encryption_key_id"}


def _body(req: Request) -> dict:
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get("snapshot"), dict):
        raise exception.ValidationError(field="snapshot", value=None,
                                        detail="'snapshot' is a required property")
    return body["snapshot"]


@web_validation.schema(schemas.SNAPSHOT_CREATE)
def create_snapshot(req: Request):
    data = _body(req)
    cloud = req.app.cloud
    if req.version is not None and req.version.matches("3.53"):
        extra = sorted(set(data) - CREATE_KEYS)
        if extra:
            raise exception.BadRequest("Additional properties are not allowed ("
                                       + ", ".join(f"'{k}'" for k in extra)
                                       + (" was" if len(extra) == 1 else " were")
                                       + " unexpected)")
    if "volume_id" not in data:
        raise exception.ValidationError(field="volume_id", value=None,
                                        detail="'volume_id' is a required property")
    if data["volume_id"] is not None and not isinstance(data["volume_id"], str):
        raise exception.ValidationError(field="volume_id", value=data["volume_id"],
                                        detail=f"{data['volume_id']!r} is not a 'uuid'")
    if not data["volume_id"]:   # null passes Cinder's schema; the volume lookup is a 404
        raise errors.VolumeNotFound(volume_id=data["volume_id"])
    force = backends.is_true(data.get("force", False))
    new_style = req.version is not None and req.version.matches("3.66")
    with cloud.db.reader() as s:
        vol = common.get_volume(s, req, data["volume_id"])
        common.authorize(req, "volume:create_snapshot", {"project_id": vol.project_id})
        allowed = ("available", "in-use") if force or new_style else ("available",)
        if vol.status not in allowed:
            raise errors.InvalidVolume(
                reason=f"Volume {vol.id} status must be available, but current status is: "
                       f"{vol.status}.")
        if not vol.host:
            raise errors.InvalidVolume(reason="Volume has no host.")
        vtype = s.get(VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        size, host, type_id = vol.size, vol.host.split("#")[0], vol.volume_type_id
    reservations = quota.reserve(cloud, req.context.project_id,
                                 quota.snapshot_deltas(size, vtype.name if vtype else None))
    try:
        with cloud.db.writer() as s:
            row = Snapshot(volume_id=data["volume_id"], project_id=req.context.project_id,
                           user_id=req.context.user_id, status="creating", progress="0%",
                           volume_size=size, volume_type_id=type_id,
                           display_name=data.get("name", data.get("display_name")),
                           display_description=data.get("description",
                                                        data.get("display_description")),
                           metadata_={str(k): str(v) for k, v in
                                      (data.get("metadata") or {}).items()})
            s.add(row)
            s.flush()
            out = views.snapshot_view(req, row, extensions=False)
    except Exception:
        quota.rollback(cloud, reservations)
        raise
    quota.commit(cloud, reservations)
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "create_snapshot", snapshot_id=out["id"])
    return json_response({"snapshot": out}, status=202)


def _list(req: Request, detailed: bool):
    common.authorize(req, "volume:get_all_snapshots")
    ctx = req.context
    all_tenants = ctx.is_admin and backends.is_true(req.GET.get("all_tenants", "0"))
    with req.app.cloud.db.reader() as s:
        q = select(Snapshot)
        if not all_tenants:
            q = q.where(Snapshot.project_id == ctx.project_id)
        items = [views.snapshot_view(req, r) for r in s.scalars(q)]
    for key in ("name", "status", "volume_id"):
        if key in req.GET:
            items = [i for i in items if str(i.get(key)) == req.GET[key]]
    out = paginate(req, items, "snapshots", "snapshots/detail" if detailed else "snapshots",
                   valid_keys=SORT_KEYS)
    if not detailed:
        keep = ("id", "created_at", "name", "description", "volume_id", "status", "size",
                "metadata", "updated_at")
        out["snapshots"] = [{k: v for k, v in i.items() if k in keep}
                            for i in out["snapshots"]]
    return json_response(out)


def list_snapshots(req: Request):
    return _list(req, False)


def list_snapshots_detail(req: Request):
    return _list(req, True)


def show_snapshot(req: Request, snapshot_id: str):
    with req.app.cloud.db.reader() as s:
        row = common.get_snapshot(s, req, snapshot_id)
        common.authorize(req, "volume:get_snapshot", {"project_id": row.project_id})
        return json_response({"snapshot": views.snapshot_view(req, row)})


@web_validation.schema(schemas.SNAPSHOT_UPDATE)
def update_snapshot(req: Request, snapshot_id: str):
    data = _body(req)
    with req.app.cloud.db.writer() as s:
        row = common.get_snapshot(s, req, snapshot_id)
        common.authorize(req, "volume:update_snapshot", {"project_id": row.project_id})
        if "name" in data or "display_name" in data:
            row.display_name = data.get("name", data.get("display_name"))
        if "description" in data or "display_description" in data:
            row.display_description = data.get("description", data.get("display_description"))
        if "metadata" in data:
            row.metadata_ = {str(k): str(v) for k, v in (data["metadata"] or {}).items()}
        s.flush()
        return json_response({"snapshot": views.snapshot_view(req, row, extensions=False)})


def _delete(req: Request, snapshot_id: str, force: bool):
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = common.get_snapshot(s, req, snapshot_id)
        common.authorize(req, "volume:delete_snapshot", {"project_id": row.project_id})
        if row.group_snapshot_id or (not force and row.status not in ("available",
                                                                     "error")):
            raise errors.InvalidSnapshot(reason="Volume Snapshot status must be available or "
                                                "error and must not be part of a group.")
        vol = s.get(Volume, row.volume_id)
        row.status = "deleting"
        host = vol.host.split("#")[0] if vol is not None and vol.host else None
    if host is None:
        with cloud.db.writer() as s:
            s.delete(s.get(Snapshot, snapshot_id))
        return empty_response(202)
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "delete_snapshot", snapshot_id=snapshot_id)
    return empty_response(202)


def delete_snapshot(req: Request, snapshot_id: str):
    return _delete(req, snapshot_id, force=False)


policy.register({"volume_extension:snapshot_actions:update_snapshot_status":
                 common.OWNER_MEMBER})
# Cinder's allowed transitions of os-update_snapshot_status (for drivers that create
# snapshots out of band): from creating or deleting only.
STATUS_MAP = {"creating": ("creating", "available", "error"),
              "deleting": ("deleting", "error_deleting")}


def _update_status(req: Request, snapshot_id: str, args):
    if not isinstance(args, dict) or not isinstance(args.get("status"), str):
        raise exception.ValidationError(field="status", value=None,
                                        detail="'status' is a required property")
    extra = sorted(set(args) - {"status", "progress"})
    if extra:
        raise exception.ValidationError(field="os-update_snapshot_status", value=args,
                                        detail=f"Additional properties are not allowed "
                                               f"({', '.join(repr(k) for k in extra)} "
                                               "unexpected)")
    status, progress = args["status"], args.get("progress")
    if progress is not None and not isinstance(progress, str):
        raise exception.ValidationError(field="progress", value=progress,
                                        detail=f"{progress!r} is not of type 'string'")
    with req.app.cloud.db.writer() as s:
        row = common.get_snapshot(s, req, snapshot_id)
        common.authorize(req, "volume_extension:snapshot_actions:update_snapshot_status",
                         {"project_id": row.project_id})
        if row.status not in STATUS_MAP:
            raise exception.BadRequest(f"Snapshot status {row.status} not allowed for "
                                       "update_snapshot_status")
        if status not in STATUS_MAP[row.status]:
            raise exception.BadRequest(f"Provided snapshot status {status} not allowed for "
                                       f"snapshot with status {row.status}.")
        row.status = status
        if progress:
            row.progress = progress
    return empty_response(202)


@web_validation.action_schemas({"os-reset_status": schemas.RESET_STATUS_SNAPSHOT,
                            "os-update_snapshot_status": schemas.UPDATE_SNAPSHOT_STATUS})
def snapshot_action(req: Request, snapshot_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    name, args = next(iter(body.items()))
    if name == "os-force_delete":
        common.authorize(req, "volume_extension:snapshot_admin_actions:reset_status")
        return _delete(req, snapshot_id, force=True)
    if name == "os-reset_status":
        common.authorize(req, "volume_extension:snapshot_admin_actions:reset_status")
        with req.app.cloud.db.writer() as s:
            common.get_snapshot(s, req, snapshot_id).status = (args or {}).get("status")
        return empty_response(202)
    if name == "os-update_snapshot_status":
        return _update_status(req, snapshot_id, args)
    if name != "os-unmanage":
        raise exception.BadRequest(f"There is no such action: {name}")
    raise exception.NotImplementedYet(f"Snapshot action {name} is not implemented by "
                                      "stackling yet.")


# -- metadata (snapshots/{id}/metadata) ---------------------------------------------------

policy.register({"volume:get_snapshot_metadata": common.OWNER_READER,
                 "volume:update_snapshot_metadata": common.OWNER_MEMBER,
                 "volume:delete_snapshot_metadata": common.OWNER_MEMBER})


def _store_metadata(row: Snapshot, md: dict) -> None:
    row.metadata_ = md


METADATA = metadata.MetadataApi(
    "Snapshot", "snapshot_id", common.get_snapshot, read_rule="volume:get_snapshot_metadata",
    write_rule="volume:update_snapshot_metadata", delete_rule="volume:delete_snapshot_metadata",
    store=_store_metadata)
get_metadata, create_metadata, replace_metadata = METADATA.get, METADATA.create, METADATA.replace
show_metadata_item, update_metadata_item, delete_metadata_item = (
    METADATA.show_item, METADATA.update_item, METADATA.delete_item)
