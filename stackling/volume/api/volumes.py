"""Cinder v3 volume handlers: create (through the TaskFlow API flow), list, show, update,
delete, metadata and the volume actions we honour (os-extend, os-reset_status, ...)."""

from __future__ import annotations

import ast
import json
import logging
import re
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from stackling import clients, exception, policy
from stackling.db.models_volume import Snapshot, Volume, VolumeAttachment, VolumeType
from stackling.volume import errors
from stackling.volume.api import (
    common,
    legacy_attach,
    metadata,
    schemas,
    upload_image,
    validation,
    views,
)
from stackling.volume.objects import attachment as att_obj
from stackling.volume.objects import backends, quota, volume_types
from stackling.volume.objects import volume as vol_obj
from stackling.web import validation as web_validation
from stackling.web.app import Request, empty_response, json_response, read_json
from stackling.web.validation import MAX_INT

LOG = logging.getLogger(__name__)

CREATE_KEYS = {"name", "description", "display_name", "display_description", "size",
               "availability_zone", "volume_type", "metadata", "snapshot_id", "source_volid",
               "imageRef", "image_id", "consistencygroup_id", "multiattach", "group_id",
               "backup_id", "source_replica", "scheduler_hints"}
UPDATE_KEYS = {"name", "description", "display_name", "display_description", "metadata"}
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
DELETE_REFUSED = ("Volume status must be available or error or error_restoring or "
                  "error_extending or error_managing and must not be migrating, attached, "
                  "belong to a group, have snapshots, awaiting a transfer, or be "
                  "disassociated from snapshots after volume transfer.")
MULTIATTACH_REMOVED = ("multiattach parameter has been removed. The default behavior is to "
                       "use multiattach enabled volume types. Contact your administrator to "
                       "create a multiattach enabled volume type and use it to create "
                       "multiattach volumes.")
LIST_FILTERS = ("name", "status", "metadata", "bootable", "migration_status",
                "availability_zone", "group_id", "size", "volume_type", "volume_type_id",
                "id", "user_id", "consumes_quota")


def _body(req: Request, key: str) -> dict:
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.ValidationError(
            field=key, value=json.dumps(body) if not isinstance(body, dict) else None,
            detail=f"'{key}' is a required property")
    return body[key]


def _check_unknown(req: Request, data: dict, allowed: set[str]) -> None:
    """Unknown keys are tolerated before 3.53 and rejected from 3.53 (schema validation)."""
    if req.version is not None and req.version.matches("3.53"):
        extra = sorted(set(data) - allowed)
        if extra:
            quoted = ", ".join(f"'{k}'" for k in extra)
            verb = "was" if len(extra) == 1 else "were"
            raise exception.BadRequest(
                f"Additional properties are not allowed ({quoted} {verb} unexpected)")


def _check_size_schema(size: Any) -> None:
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise exception.ValidationError(field="size", value=size,
                                        detail=f"{size!r} is not of type 'integer', 'string', "
                                               "'null'")
    if isinstance(size, int) and size < 1:
        raise exception.ValidationError(field="size", value=size,
                                        detail=f"{size} is less than the minimum of 1")
    if isinstance(size, int) and size > MAX_INT:
        raise exception.ValidationError(
            field="size", value=size, detail=f"{size} is greater than the maximum of {MAX_INT}")
    if isinstance(size, str) and not re.match(r"^[0-9]+$", size):
        raise exception.ValidationError(field="size", value=size,
                                        detail=f"'{size}' does not match '^[0-9]+$'")


def attachments_of(s, volume_ids) -> dict[str, list]:
    """The volumes' attachments (read-only rows), by volume id."""
    out: dict[str, list] = {}
    ids = list(volume_ids)
    if not ids:
        return out
    for a in att_obj.of_volumes(s, ids):
        out.setdefault(a.volume_id, []).append(a)
    return out


def detail(s, req: Request, row: Volume, extensions: bool = True) -> dict:
    vtype = common.volume_type_of(s, row)
    return views.volume_detail(req, row, vtype.name if vtype else None,
                               attachments_of(s, [row.id]).get(row.id, []),
                               extensions=extensions)


# -- image reference -------------------------------------------------------------------


def resolve_image(req: Request, ref: str) -> dict:
    """Cinder's imageRef rules: id (last path segment) first, then a name search."""
    glance = clients.ServiceClient.for_context(req.context, "image", source="cinder")
    image_id = ref.rstrip("/").split("/")[-1]
    if common.UUID_RE.match(image_id):
        try:
            return glance.get(f"/v2/images/{image_id}")
        except clients.ApiError:
            pass
    try:
        from urllib.parse import quote

        found = glance.get(f"/v2/images?name={quote(ref)}&limit=1000")["images"]
    except clients.ApiError:
        found = []
    if len(found) > 1:
        raise exception.Conflict(f"Multiple matches found for '{ref}', use an ID to be more "
                                 "specific.")
    if not found:
        raise exception.BadRequest("Invalid image identifier or unable to access requested "
                                   "image.")
    return found[0]


# -- create ----------------------------------------------------------------------------


@web_validation.schema(schemas.VOLUME_CREATE)
def create_volume(req: Request):
    """POST /volumes: 202 with the detail view, status ``creating``; the rest is async."""
    data = _body(req, "volume")
    _check_unknown(req, data, CREATE_KEYS)
    cloud = req.app.cloud
    ctx = req.context
    name = data.get("name", data.get("display_name"))
    description = data.get("description", data.get("display_description"))
    image_ref = data.get("imageRef", data.get("image_id"))
    size = data.get("size")
    _check_size_schema(size)
    zone = data.get("availability_zone")
    if zone is not None and (not isinstance(zone, str) or not 1 <= len(zone) <= 255):
        raise exception.ValidationError(field="availability_zone", value=zone,
                                        detail=f"{zone!r} is not valid")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise exception.ValidationError(field="metadata", value=metadata,
                                        detail=f"{metadata!r} is not of type 'object'")
    if data.get("multiattach") is True or str(data.get("multiattach")).lower() == "true":
        raise exception.BadRequest(MULTIATTACH_REMOVED)
    vtype = snapshot = source = group = None
    with cloud.db.reader() as s:
        if data.get("volume_type"):
            vtype = volume_types.type_dict(volume_types.find_type(s, str(data["volume_type"]), ctx))
        if data.get("snapshot_id"):
            snap = common.get_snapshot(s, req, data["snapshot_id"])
            svol = s.get(Volume, snap.volume_id)
            snapshot = {"id": snap.id, "status": snap.status, "volume_size": snap.volume_size,
                        "volume_type_id": snap.volume_type_id,
                        "volume_availability_zone": svol.availability_zone if svol else None,
                        "volume_bootable": svol.bootable if svol else False,
                        "volume_host": svol.host if svol else None}
        if data.get("source_volid"):
            src = common.get_volume(s, req, data["source_volid"])
            source = {"id": src.id, "status": src.status, "size": src.size,
                      "availability_zone": src.availability_zone,
                      "volume_type_id": src.volume_type_id, "bootable": src.bootable,
                      "host": src.host}
        if data.get("backup_id"):
            raise exception.NotFound(f"Backup {data['backup_id']} could not be found.")
        group = _group_for(s, req, data.get("group_id"), vtype)
    image = resolve_image(req, str(image_ref)) if image_ref else None
    if size is None:
        if snapshot:
            size = snapshot["volume_size"]
        elif source:
            size = source["size"]
    # cinder/volume/api.py API.create
    common.authorize(req, "volume:create_from_image" if image else "volume:create")
    if size is not None:
        try:
            ok = int(size) > 0 and not isinstance(size, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise exception.InvalidInput(
                reason=f"Invalid volume size provided for create request: {size} (size "
                       "argument must be an integer (or string representation of an "
                       "integer) and greater than zero).")
    state = common.state(cloud)
    store = {
        "context": ctx, "raw_size": size, "raw_availability_zone": zone,
        "raw_volume_type": vtype, "snapshot": snapshot, "source_volume": source,
        "image_meta": image, "backup": None, "valid_zones": state.valid_zones(),
        "name": name, "description": description, "metadata": metadata, "group": group,
    }
    current = cloud.config.stackling.stackling.behaviour_release == "current"
    try:
        # NOTE: taskflow (and networkx under it) load on the first create, not at start-up.
        from stackling.volume.flows import create_volume as create_flow

        result = create_flow.run(cloud, store)
    except errors.InvalidAvailabilityZone:
        if current:
            state.zone_cache.get(refresh=True)
        raise
    if result["refresh_az"] and current:
        state.zone_cache.get(refresh=True)
    row = result["volume"]
    # A new volume (``creating``: nothing can attach to it) has no attachments.
    return json_response({"volume": views.volume_detail(req, row, row.type_name, [],
                                                        extensions=False)}, status=202)


def _group_for(s, req: Request, group_id: str | None, vtype: dict | None) -> dict | None:
    """The group a new volume joins (cinder/volume/api.py create): its type must be one
    of the group's; the volume goes to the group's backend."""
    if not group_id:
        return None
    from stackling.volume.api import groups   # groups imports this module (paginate)

    row = groups.get_group(s, req, group_id)
    if vtype is None:
        raise exception.InvalidInput(reason="volume_type must be provided when creating a "
                                            "volume in a group.")
    if vtype["id"] not in (row.volume_type_ids or []):
        raise exception.InvalidInput(reason=f"Invalid volume_type provided: {vtype} "
                                            "(requested type must be supported by this "
                                            "group).")
    return {"id": row.id, "host": row.host}


# -- read ------------------------------------------------------------------------------


def _parse_metadata_filter(value: str) -> dict:
    for parse in (json.loads, ast.literal_eval):
        try:
            out = parse(value)
            if isinstance(out, dict):
                return {str(k): str(v) for k, v in out.items()}
        except (ValueError, SyntaxError):
            continue
    raise exception.InvalidInput(reason=f"Invalid metadata filter: {value}")


def _sort_keys(params) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if "sort" in params:
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            keys.append((key, direction or "desc"))
    elif "sort_key" in params or "sort_dir" in params:
        keys.append((params.get("sort_key", "created_at"), params.get("sort_dir", "desc")))
    else:
        keys.append(("created_at", "desc"))
    for _, d in keys:
        if d not in ("asc", "desc"):
            raise exception.InvalidInput(reason=f"Invalid sort dirs passed: {d}")
    return keys


def paginate(req: Request, items: list[dict], rows_key: str, path: str,
             sort_map: dict | None = None, valid_keys: set[str] | None = None) -> dict:
    """Cinder's sort, marker, limit, offset and the ``<rows>_links`` next link."""
    params = req.GET
    keys = _sort_keys(params)
    if valid_keys is not None:
        for key, _ in keys:
            if key not in valid_keys:
                raise exception.InvalidInput(reason=f"Invalid sort key {key}")
    sort_map = {"size": "size", "display_name": "name", "display_description":
                "description", "volume_size": "size", **(sort_map or {})}
    for key, direction in reversed(keys + [("id", keys[-1][1])]):
        key = (sort_map or {}).get(key, key)
        items.sort(key=lambda i, k=key: (i.get(k) is not None, str(i.get(k) or "")),
                   reverse=direction == "desc")
    if "marker" in params:
        ids = [i["id"] for i in items]
        if params["marker"] not in ids:
            raise exception.NotFound(f"Marker {params['marker']} could not be found.")
        items = items[ids.index(params["marker"]) + 1:]
    if "offset" in params:
        try:
            items = items[int(params["offset"]):]
        except ValueError:
            raise exception.InvalidInput(reason="offset must be an integer") from None
    max_limit = req.app.cloud.config.cinder.osapi_max_limit
    limit = max_limit
    if "limit" in params:
        try:
            limit = min(int(params["limit"]), max_limit)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise exception.InvalidInput(reason="limit param must be an integer") from None
    page = items[:limit]
    out: dict = {rows_key: page}
    # Cinder's _get_collection_links: a full page gets a next link, even when it
    # happens to be the last one (the next page is then empty).
    if page and len(page) == limit:
        base = req.app.cloud.public_url("volume")
        query = "&".join(f"{k}={v}" for k, v in params.items() if k != "marker")
        query = (query + "&" if query else "") + f"marker={page[-1]['id']}"
        out[f"{rows_key}_links"] = [{"href": f"{base}/v3/{req.context.project_id}/{path}?"
                                     f"{query}", "rel": "next"}]
    return out


def _filter(req: Request, items: list[tuple[Volume, dict]]) -> list[dict]:
    params = req.GET
    out = []
    like = req.version is not None and req.version.matches("3.34")
    for row, view in items:
        keep = True
        for key in LIST_FILTERS:
            for pkey in (key, f"{key}~"):
                if pkey not in params:
                    continue
                wanted = params[pkey]
                if key == "metadata":
                    md = _parse_metadata_filter(wanted)
                    keep &= all(view["metadata"].get(k) == v for k, v in md.items())
                elif key == "bootable":
                    keep &= row.bootable == backends.is_true(wanted)
                elif key == "volume_type":
                    keep &= wanted in (view["volume_type"], row.volume_type_id)
                elif key == "consumes_quota":
                    keep &= row.use_quota == backends.is_true(wanted)
                elif pkey.endswith("~") and like:
                    keep &= wanted.lower() in str(view.get(key) or "").lower()
                elif key == "volume_type_id":
                    keep &= row.volume_type_id == wanted
                else:
                    keep &= str(view.get(key)) == wanted
        if keep:
            out.append(view)
    return out


def _list(req: Request, detailed: bool):
    common.authorize(req, "volume:get_all")
    ctx = req.context
    params = req.GET
    all_tenants = ctx.is_admin and backends.is_true(params.get("all_tenants", "0"))
    with req.app.cloud.db.reader() as s:
        q = select(Volume)
        if ctx.is_admin and "project_id" in params:   # also with all_tenants (Cinder)
            q = q.where(Volume.project_id == params["project_id"])
        elif not all_tenants:
            q = q.where(Volume.project_id == ctx.project_id)
        rows = s.scalars(q).all()
        types = dict(s.execute(select(VolumeType.id, VolumeType.name)).all())
        atts = attachments_of(s, [r.id for r in rows]) if detailed else {}
        items = [(r, views.volume_detail(req, r, types.get(r.volume_type_id),
                                         atts.get(r.id, []))) for r in rows]
    filtered = _filter(req, items)
    out = paginate(req, filtered, "volumes", "volumes/detail" if detailed else "volumes",
                   {"name": "name"})
    if not detailed:
        out["volumes"] = [{"id": v["id"], "name": v["name"], "links": v["links"]}
                          for v in out["volumes"]]
    if req.version is not None and req.version.matches("3.45") and \
            backends.is_true(params.get("with_count", "false")):
        out["count"] = len(filtered)
    return json_response(out)


def _empty_id(req: Request) -> None:
    """``/volumes/`` is a volume with an empty id for Cinder's router: 404, not the list."""
    if req.path.endswith("/"):
        raise errors.VolumeNotFound(volume_id="")


def list_volumes(req: Request):
    _empty_id(req)
    return _list(req, detailed=False)


def no_volume_id(req: Request):
    """PUT/DELETE on the collection (``volumes/`` with an empty id): 404 like Cinder."""
    raise errors.VolumeNotFound(volume_id="")


def list_volumes_detail(req: Request):
    return _list(req, detailed=True)


def volume_summary(req: Request):
    """GET /volumes/summary (3.12; distinct metadata values per key from 3.36)."""
    if req.version is None or not req.version.matches("3.12"):
        raise exception.NotFound("The resource could not be found.")
    common.authorize(req, "volume:get_all")
    ctx = req.context
    # Cinder's get_volume_summary looks at all_tenants only; other filters are ignored.
    all_tenants = ctx.is_admin and backends.is_true(req.GET.get("all_tenants", "0"))
    with req.app.cloud.db.reader() as s:
        q = select(Volume.size, Volume.metadata_)
        if not all_tenants:
            q = q.where(Volume.project_id == ctx.project_id)
        rows = s.execute(q).all()
    summary: dict = {"total_count": len(rows), "total_size": sum(r.size or 0 for r in rows)}
    if req.version.matches("3.36"):
        values: dict[str, set] = {}
        for r in rows:
            for key, value in (r.metadata_ or {}).items():
                values.setdefault(key, set()).add(value)
        summary["metadata"] = {k: sorted(v) for k, v in values.items()}
    return json_response({"volume-summary": summary})


def show_volume(req: Request, volume_id: str):
    with req.app.cloud.db.reader_connection() as s:     # Core only: Nova polls it
        row, attached = vol_obj.read_shown(s, volume_id)
    common.visible(req, row.project_id if row is not None else None, volume_id)
    common.authorize(req, "volume:get", {"project_id": row.project_id})
    return json_response({"volume": views.volume_detail(req, row, row.type_name, attached)})


@web_validation.schema(schemas.VOLUME_UPDATE)
def update_volume(req: Request, volume_id: str):
    data = _body(req, "volume")
    _check_unknown(req, data, UPDATE_KEYS)
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:update", {"project_id": row.project_id})
        values = {}
        if "name" in data or "display_name" in data:
            values["display_name"] = data.get("name", data.get("display_name"))
        if "description" in data or "display_description" in data:
            values["display_description"] = data.get("description",
                                                      data.get("display_description"))
        if "metadata" in data:
            values["metadata_"] = {str(k): str(v)
                                   for k, v in (data["metadata"] or {}).items()}
        vol_obj.update_fields(row, **values)
        s.flush()
        # Cinder's extension attributes extend show and list, not update (as for create).
        return json_response({"volume": detail(s, req, row, extensions=False)})


# -- delete ----------------------------------------------------------------------------


def delete_volume(req: Request, volume_id: str):
    """DELETE /volumes/{id}: 202; a never-scheduled volume is removed at once."""
    cloud = req.app.cloud
    cascade = backends.is_true(req.GET.get("cascade", "false"))
    force = backends.is_true(req.GET.get("force", "false"))
    if force:
        common.authorize(req, "volume:force_delete")
    with cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:delete", {"project_id": row.project_id})
        vtype = common.volume_type_of(s, row)
        snaps = s.scalars(select(Snapshot).where(Snapshot.volume_id == volume_id)).all()
        if not row.host:
            # Never scheduled: the row goes at once, its quota with it (one transaction).
            if vol_obj.destroy(s, volume_id, row.status) and row.use_quota:
                quota.release_in(s, row.project_id, quota.volume_deltas(
                    row.size, vtype.name if vtype else None))
            host = None
        else:
            ok = (force or row.status in DELETABLE) and row.attach_status != "attached" and \
                not row.migration_status and not row.group_id
            if snaps and not cascade:
                ok = False
            if cascade and any(sn.status not in ("available", "error") for sn in snaps):
                ok = False
            if not ok:
                raise errors.InvalidVolume(reason=DELETE_REFUSED)
            if not vol_obj.conditional_update(s, volume_id, row.status, status="deleting"):
                raise errors.InvalidVolume(reason=DELETE_REFUSED)   # changed meanwhile
            host = row.host.split("#")[0]
            for sn in snaps:
                sn.status = "deleting"
    if host is None:
        return empty_response(202)
    topic = f"{backends.VOLUME_TOPIC}.{host}"
    for sn in snaps:
        cloud.rpc.call(topic, "delete_snapshot", snapshot_id=sn.id)
    cloud.rpc.cast(topic, "delete_volume", volume_id=volume_id)
    return empty_response(202)


# -- actions ---------------------------------------------------------------------------


def _extend(req: Request, volume_id: str, args: dict):
    cloud = req.app.cloud
    new_size = args.get("new_size") if isinstance(args, dict) else None
    try:
        new_size = int(new_size)
        if isinstance(args["new_size"], bool):
            raise ValueError
    except (TypeError, ValueError, KeyError):
        raise exception.ValidationError(field="new_size", value=new_size,
                                        detail=f"{new_size!r} is not of type 'integer'"
                                        ) from None
    allowed = ("available", "in-use") if req.version and req.version.matches("3.42") \
        else ("available",)
    with cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:extend", {"project_id": row.project_id})
        if row.status not in allowed:
            expected = " or ".join(f"'{a}'" for a in allowed)
            raise errors.InvalidVolume(reason=f"Volume status must be {expected} to extend, "
                                              f"currently {row.status}.")
        if new_size <= row.size:
            raise exception.InvalidInput(
                reason=f"New size for extend must be greater than current size. (current: "
                       f"{row.size}, extended: {new_size}).")
        vtype = common.volume_type_of(s, row)
        project, old, host = row.project_id, row.size, row.host
    delta = new_size - old
    deltas = {"gigabytes": delta}
    if vtype is not None:
        deltas[f"gigabytes_{vtype.name}"] = delta
    quota.check_per_volume(cloud, project, new_size)
    reservations = quota.reserve(cloud, project, deltas)
    try:
        vol_obj.swap(cloud, volume_id, allowed, status="extending")
    except vol_obj.StatusChanged:
        quota.rollback(cloud, reservations)
        raise
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host.split('#')[0]}", "extend_volume",
                   volume_id=volume_id, new_size=new_size, reservations=reservations)
    return empty_response(202)


def _reset_status(req: Request, volume_id: str, args: dict):
    common.authorize(req, "volume_extension:volume_admin_actions:reset_status")
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)   # an admin's reset: no swap
        values = {k: args[k] for k in ("status", "attach_status") if k in args}
        if "migration_status" in args:
            values["migration_status"] = args["migration_status"] or None
        vol_obj.update_fields(row, **values)
        if args.get("attach_status") == "detached":   # _clean_volume_attachment
            s.execute(sa_delete(VolumeAttachment).where(VolumeAttachment.volume_id == row.id))
    return empty_response(202)


def _set_bootable(req: Request, volume_id: str, args: dict):
    value = args.get("bootable") if isinstance(args, dict) else None
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise exception.InvalidInput(reason="Bootable must be a boolean value.")
        value = backends.is_true(value)
    if not isinstance(value, bool):
        raise exception.InvalidInput(reason="Bootable must be a boolean value.")
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:update", {"project_id": row.project_id})
        vol_obj.update_fields(row, bootable=value)
    return empty_response(200)


# cinder/api/validation/parameter_types.py ``boolean``; strutils.bool_from_string(strict).
_BOOLEAN = {"type": ["boolean", "string"],
            "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                     "y", "t", False, "False", "FALSE", "false", "0", "OFF", "Off", "off",
                     "NO", "No", "no", "n", "f"]}
_READONLY_SCHEMA = validation.action_schema("os-update_readonly_flag", {
    "type": "object", "properties": {"readonly": _BOOLEAN}, "required": ["readonly"],
    "additionalProperties": False})
policy.register({"volume:update_readonly_flag": common.OWNER_MEMBER})


def _readonly(req: Request, volume_id: str, args: dict):
    validation.validate(_READONLY_SCHEMA, {"os-update_readonly_flag": args})
    flag = backends.is_true(args["readonly"])
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:update_readonly_flag", {"project_id": row.project_id})
        if row.status != "available":
            raise errors.InvalidVolume(
                reason=f"Volume {row.id} status must be available to update readonly flag, "
                       f"but current status is: {row.status}.")
        # Admin metadata as Cinder stores it: str(bool), read back as == 'True'.
        vol_obj.update_fields(row, admin_metadata={**(row.admin_metadata or {}),
                                                   "readonly": str(flag)})
    return empty_response(202)


def _force_delete(req: Request, volume_id: str, args: dict):
    common.authorize(req, "volume:force_delete")
    req.GET["force"] = "true"
    return delete_volume(req, volume_id)


policy.register({
    "volume_extension:volume_image_metadata:show": common.OWNER_READER,
    "volume_extension:volume_image_metadata:set": common.OWNER_MEMBER,
    "volume_extension:volume_image_metadata:remove": common.OWNER_MEMBER,
})


def _set_image_metadata(req: Request, volume_id: str, args: dict):
    """os-set_image_metadata: merge into the volume's glance metadata, answer it whole."""
    md = args.get("metadata") if isinstance(args, dict) else None
    if not isinstance(md, dict):
        raise exception.ValidationError(field="metadata", value=md,
                                        detail="'metadata' is a required property")
    for k, v in md.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255 or \
                not isinstance(v, str) or len(v) > 255:
            raise exception.ValidationError(field="metadata", value=md,
                                            detail=f"{k!r}: {v!r} is not a valid item")
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume_extension:volume_image_metadata:set",
                         {"project_id": row.project_id})
        vol_obj.update_fields(row, glance_metadata={**(row.glance_metadata or {}), **md})
        return json_response({"metadata": dict(row.glance_metadata)})


def _unset_image_metadata(req: Request, volume_id: str, args: dict):
    key = args.get("key") if isinstance(args, dict) else None
    if not isinstance(key, str) or not 1 <= len(key) <= 255:
        raise exception.ValidationError(field="key", value=key,
                                        detail="'key' is a required property")
    with req.app.cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume_extension:volume_image_metadata:remove",
                         {"project_id": row.project_id})
        md = dict(row.glance_metadata or {})
        if key not in md:
            raise exception.NotFound(f"Glance metadata for volume/snapshot {volume_id} "
                                     "cannot be found.")
        del md[key]
        vol_obj.update_fields(row, glance_metadata=md)
    return empty_response(200)


def _show_image_metadata(req: Request, volume_id: str, args: dict):
    with req.app.cloud.db.reader() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume_extension:volume_image_metadata:show",
                         {"project_id": row.project_id})
        return json_response({"metadata": dict(row.glance_metadata or {})})


policy.register({"volume:retype": common.OWNER_MEMBER})


def _retype(req: Request, volume_id: str, args: dict):
    """os-retype (cinder/volume/api.py ``retype``): check, mark ``retyping``, reserve the
    new type's quota and leave the choice of backend to cinder-scheduler.

    The file backends do not migrate volumes, so the scheduler accepts only the volume's
    own backend whatever the migration policy."""
    cloud = req.app.cloud
    new_ref = args.get("new_type")
    if not isinstance(new_ref, str) or not new_ref:
        raise exception.ValidationError(field="new_type", value=new_ref,
                                        detail="'new_type' is a required property")
    policy_ = args.get("migration_policy")
    if policy_ not in (None, "never", "on-demand"):
        raise exception.ValidationError(field="migration_policy", value=policy_,
                                        detail=f"{policy_!r} is not one of ['never', "
                                               "'on-demand', None]")
    with cloud.db.writer() as s:
        row = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:retype", {"project_id": row.project_id})
        if row.status not in ("available", "in-use"):
            raise errors.InvalidVolume(reason=f"Volume status must be available or in-use, "
                                              f"but current status is: {row.status}.")
        if row.migration_status and row.migration_status not in ("success", "error"):
            raise errors.InvalidVolume(reason="Volume is migrating.")
        new = volume_types.find_type(s, new_ref, req.context)
        old = common.volume_type_of(s, row)
        if old is not None and old.id == new.id:
            raise exception.InvalidInput(reason="Retype requires a different volume type.")
        previous, project, size, use_quota = row.status, row.project_id, row.size, row.use_quota
        new_id, new_name = new.id, new.name
        vol_obj.save(s, row, status="retyping", previous_status=previous)
    reservations: list[str] = []
    if use_quota:   # the new type's usage; the old type's is released once retyped
        try:
            reservations = quota.reserve(cloud, project, {
                k: v for k, v in quota.volume_deltas(size, new_name).items()
                if k.endswith("_" + new_name)})
        except Exception:
            vol_obj.set_status(cloud, volume_id, "retyping", status=previous)
            raise
    cloud.rpc.cast(backends.SCHEDULER_TOPIC, "retype", volume_id=volume_id,
                   new_type_id=new_id, migration_policy=policy_ or "never",
                   reservations=reservations, request_id=req.context.request_id)
    return empty_response(202)


ACTIONS = {"os-extend": _extend, "os-reset_status": _reset_status,
           "os-set_bootable": _set_bootable, "os-update_readonly_flag": _readonly,
           "os-force_delete": _force_delete, "os-set_image_metadata": _set_image_metadata,
           "os-unset_image_metadata": _unset_image_metadata,
           "os-show_image_metadata": _show_image_metadata, "os-retype": _retype,
           "os-volume_upload_image": upload_image.upload_image, **legacy_attach.ACTIONS}


# Every volume action real Cinder has: the others are 400 "There is no such action".
CINDER_ACTIONS = {
    "os-attach", "os-detach", "os-reserve", "os-unreserve", "os-begin_detaching",
    "os-roll_detaching", "os-initialize_connection", "os-terminate_connection",
    "os-volume_upload_image", "os-extend", "os-update_readonly_flag", "os-retype",
    "os-set_bootable", "os-reimage", "os-migrate_volume", "os-migrate_volume_completion",
    "os-reset_status", "os-force_delete", "os-force_detach", "os-set_image_metadata",
    "os-unset_image_metadata", "os-show_image_metadata", "os-enable_replication",
    "os-disable_replication", "os-failover_replication", "os-list_replication_targets",
    "revert"}


@web_validation.action_schemas({"os-reset_status": schemas.RESET_STATUS_VOLUME,
                            "os-extend": schemas.EXTEND})
def volume_action(req: Request, volume_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    name, args = next(iter(body.items()))
    handler = ACTIONS.get(name)
    if handler is None and name not in CINDER_ACTIONS:
        raise exception.BadRequest(f"There is no such action: {name}")
    if handler is None:
        raise exception.NotImplementedYet(f"Volume action {name} is not implemented by "
                                          "stackling yet.")
    return handler(req, volume_id, args if isinstance(args, dict) else {})


# -- metadata --------------------------------------------------------------------------


# Volume metadata reads need no rule beyond seeing the volume (as Cinder's defaults).
METADATA = metadata.MetadataApi(
    "Volume", "volume_id", common.get_volume, read_rule=None,
    write_rule="volume:update_volume_metadata", delete_rule="volume:update_volume_metadata",
    store=vol_obj.set_metadata)
get_metadata, create_metadata, replace_metadata = METADATA.get, METADATA.create, METADATA.replace
show_metadata_item, update_metadata_item, delete_metadata_item = (
    METADATA.show_item, METADATA.update_item, METADATA.delete_item)
