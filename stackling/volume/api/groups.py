"""Generic volume groups (3.13+) and group snapshots (3.14+), as cinder/api/v3/groups.py,
group_snapshots.py and cinder/group/api.py.

The API writes the rows and casts; cinder-scheduler picks a backend for a new group
(one that every volume type of the group can use) and cinder-volume makes it
``available``. A group made from a group snapshot or another group is pinned to its
source's backend; its volumes are created there from the source's snapshots or volumes.
"""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Group, GroupSnapshot, Snapshot, Volume, VolumeType
from stackling.volume import errors
from stackling.volume.api import common, group_types, views
from stackling.volume.api.volumes import paginate
from stackling.volume.objects import backends, quota, volume_types
from stackling.volume.objects import groups as grp_obj
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "group:get": common.OWNER_READER, "group:get_all": common.OWNER_READER,
    "group:create": common.OWNER_MEMBER, "group:update": common.OWNER_MEMBER,
    "group:delete": common.OWNER_MEMBER, "group:reset_status": common.ADMIN,
    "group:group_project_attribute": common.ADMIN,
    "group:get_group_snapshot": common.OWNER_READER,
    "group:get_all_group_snapshots": common.OWNER_READER,
    "group:create_group_snapshot": common.OWNER_MEMBER,
    "group:delete_group_snapshot": common.OWNER_MEMBER,
    "group:reset_group_snapshot_status": common.ADMIN,
    "group:group_snapshot_project_attribute": common.ADMIN,
})

GROUP_VOLUME = "3.13"
GROUP_SNAPSHOTS = "3.14"
GROUP_SNAPSHOT_RESET_STATUS = "3.19"
GROUP_VOLUME_RESET_STATUS = "3.20"
SORT_KEYS = {"id", "name", "description", "status", "created_at", "updated_at",
             "availability_zone", "group_type", "group_type_id", "project_id"}


class GroupNotFound(exception.NotFound):
    msg_fmt = "Group %(group_id)s could not be found."


class GroupSnapshotNotFound(exception.NotFound):
    msg_fmt = "GroupSnapshot %(group_snapshot_id)s could not be found."


class InvalidGroup(errors.Invalid):
    msg_fmt = "Invalid Group: %(reason)s"


class InvalidGroupSnapshot(errors.Invalid):
    msg_fmt = "Invalid GroupSnapshot: %(reason)s"


# -- lookups and views -----------------------------------------------------------------


def _owned(req: Request, row) -> bool:
    return row is not None and (req.context.is_admin or
                                row.project_id == req.context.project_id)


def get_group(s, req: Request, group_id: str) -> Group:
    row = s.get(Group, group_id)
    if not _owned(req, row):
        raise GroupNotFound(group_id=group_id)
    return row


def get_group_snapshot(s, req: Request, group_snapshot_id: str) -> GroupSnapshot:
    row = s.get(GroupSnapshot, group_snapshot_id)
    if not _owned(req, row):
        raise GroupSnapshotNotFound(group_snapshot_id=group_snapshot_id)
    return row


def _check_not_cg(s, type_id: str | None) -> None:
    if group_types.is_cgsnapshot_type(s, type_id):
        raise exception.BadRequest(
            f"Group_type {type_id} is reserved for migrating CGs to groups. Migrated group "
            "can only be operated by CG APIs.")


def group_detail(req: Request, s, row: Group) -> dict:
    v = req.version
    out = {"id": row.id, "status": row.status, "availability_zone": row.availability_zone,
           "created_at": views.ts(row.created_at), "name": row.name,
           "description": row.description, "group_type": row.group_type_id,
           "volume_types": list(row.volume_type_ids or [])}
    if v.matches(GROUP_SNAPSHOTS):
        out["group_snapshot_id"] = row.group_snapshot_id
        out["source_group_id"] = row.source_group_id
    if v.matches("3.25") and backends.is_true(req.GET.get("list_volume", "false")):
        out["volumes"] = grp_obj.group_volume_ids(s, row.id)
    if v.matches("3.38"):
        out["replication_status"] = row.replication_status
    if v.matches("3.58") and policy.check(req.context, "group:group_project_attribute"):
        out["project_id"] = row.project_id
    return out


def group_snapshot_detail(req: Request, row: GroupSnapshot) -> dict:
    out = {"id": row.id, "group_id": row.group_id, "group_type_id": row.group_type_id,
           "status": row.status, "created_at": views.ts(row.created_at), "name": row.name,
           "description": row.description}
    if req.version.matches("3.58") and policy.check(
            req.context, "group:group_snapshot_project_attribute"):
        out["project_id"] = row.project_id
    return out


def _strings(data: dict, keys: tuple[str, ...], allowed: set[str]) -> None:
    """Cinder's schemas: no unknown keys; names and descriptions are strings."""
    extra = sorted(set(data) - allowed)
    if extra:
        raise exception.ValidationError(
            field=extra[0], value=None, detail="Additional properties are not allowed ("
            + ", ".join(f"'{k}'" for k in extra) + " unexpected)")
    for key in keys:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise exception.ValidationError(field=key, value=value,
                                            detail=f"Invalid input for field/attribute {key}.")


def _stripped(value: str | None) -> str | None:
    return value.strip() if value else value


def _zone(req: Request, requested: str | None) -> str:
    """cinder/group/api.py _extract_availability_zone."""
    conf = req.app.cloud.config.cinder
    fallback = conf.default_availability_zone or conf.storage_availability_zone
    zone = requested or fallback
    if zone not in common.state(req.app.cloud).valid_zones():
        if not conf.allow_availability_zone_fallback:
            raise exception.InvalidInput(reason=f"Availability zone '{zone}' is invalid.")
        zone = fallback
    return zone


def _list(req: Request, model, rows_key: str, path: str, view) -> dict:
    ctx = req.context
    all_tenants = ctx.is_admin and "all_tenants" in req.GET
    with req.app.cloud.db.reader() as s:
        q = select(model)
        if not all_tenants:
            q = q.where(model.project_id == ctx.project_id)
        rows = [r for r in s.scalars(q)
                if not group_types.is_cgsnapshot_type(s, getattr(r, "group_type_id", None))]
        items = [view(r, s) for r in rows]
    for key in ("name", "status", "group_id", "availability_zone"):
        if key in req.GET:
            items = [i for i in items if str(i.get(key)) == req.GET[key]]
    return paginate(req, items, rows_key, path, valid_keys=SORT_KEYS)


# -- groups ----------------------------------------------------------------------------


def create_group(req: Request):
    common.require_version(req, GROUP_VOLUME)
    common.authorize(req, "group:create")
    data = common.entity_body(req, "group")
    _strings(data, ("name", "description"),
             {"name", "description", "group_type", "volume_types", "availability_zone"})
    refs = data.get("volume_types")
    if not isinstance(data.get("group_type"), str):
        raise exception.ValidationError(field="group_type", value=data.get("group_type"),
                                        detail="'group_type' is a required property")
    if (not isinstance(refs, list) or not refs or len(set(map(str, refs))) != len(refs)
            or not all(isinstance(r, str) and len(r) <= 255 for r in refs)):
        raise exception.ValidationError(field="volume_types", value=refs,
                                        detail="Invalid input for field/attribute "
                                               "volume_types.")
    cloud = req.app.cloud
    zone = _zone(req, data.get("availability_zone"))
    with cloud.db.reader() as s:
        type_ids = [volume_types.find_type(s, ref).id for ref in refs]
        gtype = group_types.get_type(s, data["group_type"], req.context)
        _check_not_cg(s, gtype.id)
        gtype_id = gtype.id
    reservations = _reserve(req, [{"groups": 1}])
    try:
        out = _insert_group(req, name=_stripped(data.get("name")),
                            description=_stripped(data.get("description")),
                            availability_zone=zone, group_type_id=gtype_id,
                            volume_type_ids=type_ids)
    except Exception:
        quota.rollback(cloud, reservations)
        raise
    quota.commit(cloud, reservations)
    cloud.rpc.cast(backends.SCHEDULER_TOPIC, "create_group", group_id=out["id"])
    return json_response({"group": out}, status=202)


def _insert_group(req: Request, **values) -> dict:
    with req.app.cloud.db.writer() as s:
        row = Group(project_id=req.context.project_id, user_id=req.context.user_id,
                    status="creating", **values)
        s.add(row)
        s.flush()
        return {"id": row.id, "name": row.name}


def list_groups(req: Request):
    common.require_version(req, GROUP_VOLUME)
    common.authorize(req, "group:get_all")
    out = _list(req, Group, "groups", "groups", lambda r, s: group_detail(req, s, r))
    out["groups"] = [{"id": g["id"], "name": g["name"]} for g in out["groups"]]
    return json_response(out)


def list_groups_detail(req: Request):
    common.require_version(req, GROUP_VOLUME)
    common.authorize(req, "group:get_all")
    return json_response(_list(req, Group, "groups", "groups/detail",
                               lambda r, s: group_detail(req, s, r)))


def show_group(req: Request, group_id: str):
    common.require_version(req, GROUP_VOLUME)
    with req.app.cloud.db.reader() as s:
        row = get_group(s, req, group_id)
        common.authorize(req, "group:get", {"project_id": row.project_id})
        _check_not_cg(s, row.group_type_id)
        return json_response({"group": group_detail(req, s, row)})


def update_group(req: Request, group_id: str):
    """Name and description change at once; adding or removing volumes makes the group
    ``updating`` until its backend has moved them."""
    common.require_version(req, GROUP_VOLUME)
    data = common.entity_body(req, "group")
    keys = ("name", "description", "add_volumes", "remove_volumes")
    _strings(data, keys, set(keys))
    if not set(data) & set(keys):
        raise exception.ValidationError(field="group", value=data,
                                        detail=f"{data!r} is not valid under any of the "
                                               "given schemas")
    name, description = _stripped(data.get("name")), _stripped(data.get("description"))
    add = [v for v in (data.get("add_volumes") or "").strip(",").split(",") if v]
    remove = [v for v in (data.get("remove_volumes") or "").strip(",").split(",") if v]
    both = [v for v in add if v in remove]
    if both:
        raise errors.InvalidVolume(reason=f"UUIDs {both} are in both add and remove volume "
                                          "list.")
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = get_group(s, req, group_id)
        common.authorize(req, "group:update", {"project_id": row.project_id})
        _check_not_cg(s, row.group_type_id)
        name = None if name == row.name else name
        description = None if description == row.description else description
        members = grp_obj.group_volume_ids(s, row.id)
        add = _validate_add(s, row, [v for v in add if v not in members])
        remove = _validate_remove(s, row, members, remove)
        if name is None and description is None and not add and not remove:
            raise InvalidGroup(reason=f"Cannot update group {row.id} because no valid name, "
                                      "description, add_volumes, or remove_volumes were "
                                      "provided.")
        values = {k: v for k, v in (("name", name), ("description", description))
                  if v is not None}
        moving = bool(add or remove)
        if not grp_obj.group_update(s, row.id, "available" if moving else None,
                                    status="updating" if moving else "available", **values):
            raise InvalidGroup(reason="Group status must be available.")
        host = (row.host or "").split("#")[0]
    if moving:
        cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "update_group", group_id=group_id,
                       add_volumes=add, remove_volumes=remove)
    return empty_response(202)


def _validate_remove(s, group: Group, members: list[str], remove: list[str]) -> list[str]:
    for volume_id in remove:
        if volume_id not in members:
            raise errors.InvalidVolume(reason=f"Cannot remove volume {volume_id} from group "
                                              f"{group.id} because it is not in the group.")
        status = s.get(Volume, volume_id).status
        if status not in grp_obj.VALID_REMOVE_VOL_FROM_GROUP_STATUS:
            raise errors.InvalidVolume(
                reason=f"Cannot remove volume {volume_id} from group {group.id} because "
                       f"volume is in an invalid state: {status}. Valid states are: "
                       f"{grp_obj.VALID_REMOVE_VOL_FROM_GROUP_STATUS}.")
    return remove


def _add_problem(vol: Volume | None, group: Group) -> str | None:
    """Why ``vol`` cannot join ``group`` (cinder/group/api.py _validate_add_volumes)."""
    head = f"Cannot add volume {vol.id if vol else ''} to group {group.id} "
    if vol.group_id:
        return head + f"because it is already in group {vol.group_id}."
    if vol.project_id != group.project_id:
        return head + "as they belong to different projects."
    if not vol.volume_type_id:
        return head + "because it has no volume type."
    if vol.volume_type_id not in (group.volume_type_ids or []):
        return head + (f"because volume type {vol.volume_type_id} is not supported by "
                       "the group.")
    if vol.status not in grp_obj.VALID_ADD_VOL_TO_GROUP_STATUS:
        return head + (f"because volume is in an invalid state: {vol.status}. Valid states "
                       f"are: {grp_obj.VALID_ADD_VOL_TO_GROUP_STATUS}.")
    if (vol.host or "").split("#")[0] != (group.host or "").split("#")[0]:
        return "Volume is not local to this node."
    return None


def _validate_add(s, group: Group, add: list[str]) -> list[str]:
    for volume_id in add:
        vol = s.get(Volume, volume_id)
        if vol is None:
            raise errors.InvalidVolume(reason=f"Cannot add volume {volume_id} to group "
                                              f"{group.id} because volume cannot be found.")
        problem = _add_problem(vol, group)
        if problem:
            raise errors.InvalidVolume(reason=problem)
    return add


def group_action(req: Request, group_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    name, args = next(iter(body.items()))
    handler = {"delete": _delete_group, "reset_status": _reset_group_status}.get(name)
    if handler is None:
        raise exception.BadRequest(f"There is no such action: {name}")
    if not isinstance(args, dict):
        raise exception.ValidationError(field=name, value=args,
                                        detail=f"{args!r} is not of type 'object'")
    return handler(req, group_id, args)


def _delete_group(req: Request, group_id: str, args: dict):
    """cinder/group/api.py delete: with ``delete-volumes`` the volumes go too (none may be
    attached or have snapshots); a group with group snapshots stays."""
    common.require_version(req, GROUP_VOLUME)
    _strings(args, (), {"delete-volumes"})
    delete_volumes = backends.is_true(args.get("delete-volumes", False))
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = get_group(s, req, group_id)
        common.authorize(req, "group:delete", {"project_id": row.project_id})
        _check_not_cg(s, row.group_type_id)
        if not row.host:
            # never reached a backend: Cinder destroys the row (and gives the quota back)
            grp_obj.destroy(s, row)
            return empty_response(202)
        if not delete_volumes and row.status not in ("available", "error"):
            raise InvalidGroup(reason="Group status must be available or error, but current "
                                      f"status is: {row.status}")
        if s.scalar(select(GroupSnapshot.id).where(GroupSnapshot.group_id == row.id)):
            raise InvalidGroup(reason="Group has existing snapshots.")
        members = [s.get(Volume, v) for v in grp_obj.group_volume_ids(s, row.id)]
        if members and not delete_volumes:
            raise InvalidGroup(reason=f"Group {row.id} still contains volumes. The "
                                      "delete-volumes flag is required to delete it.")
        for vol in members:
            if vol.attach_status == "attached":
                raise InvalidGroup(reason=f"Volume in group {row.id} is attached. Need to "
                                          "detach first.")
            if s.scalar(select(Snapshot.id).where(Snapshot.volume_id == vol.id)):
                raise InvalidGroup(reason="Volume in group still has dependent snapshots.")
        grp_obj.set_volumes_status(s, [vol.id for vol in members], "deleting")
        expected = None if delete_volumes else ("available", "error")
        if not grp_obj.group_update(s, row.id, expected, status="deleting"):
            raise InvalidGroup(reason=f"Cannot delete group {row.id}. Group must not have "
                                      "attached volumes, volumes with snapshots, or "
                                      "dependent group snapshots, and it cannot be the source "
                                      "for an ongoing group or group snapshot creation.")
        host = row.host.split("#")[0]
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "delete_group", group_id=group_id)
    return empty_response(202)


def _reset_status(req: Request, args: dict, valid: tuple[str, ...], kind: str) -> str:
    _strings(args, (), {"status"})
    status = args.get("status")
    if not isinstance(status, str):
        raise exception.ValidationError(field="status", value=status,
                                        detail="'status' is a required property")
    status = status.lower()
    if status not in valid:
        raise exception.ValidationError(
            field="status", value=status,
            detail=f"Invalid input for field/attribute status. Value: {status}. "
                   f"{kind} status: {status} is invalid, valid statuses are: {list(valid)}")
    return status


def _reset_group_status(req: Request, group_id: str, args: dict):
    common.require_version(req, GROUP_VOLUME_RESET_STATUS)
    status = _reset_status(req, args, grp_obj.GROUP_STATUSES, "Group")
    with req.app.cloud.db.writer() as s:
        row = get_group(s, req, group_id)
        common.authorize(req, "group:reset_status", {"project_id": row.project_id})
        grp_obj.group_update(s, row.id, None, status=status)
    req.app.cloud.notifier.changed(group_id)
    return empty_response(202)


def groups_action(req: Request):
    """POST /groups/action: ``create-from-src`` (3.14) — a group from a group snapshot
    or a source group."""
    common.require_version(req, GROUP_SNAPSHOTS)
    data = common.entity_body(req, "create-from-src")
    _strings(data, ("name", "description"),
             {"name", "description", "source_group_id", "group_snapshot_id"})
    snap_id, src_id = data.get("group_snapshot_id"), data.get("source_group_id")
    if bool(snap_id) == bool(src_id):
        raise exception.ValidationError(field="create-from-src", value=data,
                                        detail=f"{data!r} is valid under each of / is not "
                                               "valid under any of the given schemas")
    for ref in (snap_id, src_id):
        if ref and not common.UUID_RE.match(str(ref)):
            raise exception.ValidationError(field="create-from-src", value=ref,
                                            detail=f"{ref!r} is not a 'uuid'")
    common.authorize(req, "group:create")
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        source, sources = _sources(req, s, snap_id, src_id)
    reservations = _reserve(req, [{"groups": 1}] + [quota.volume_deltas(size, type_name)
                                                     for size, _, type_name, _ in sources])
    try:
        with cloud.db.writer() as s:
            row = Group(project_id=req.context.project_id, user_id=req.context.user_id,
                        name=_stripped(data.get("name")),
                        description=_stripped(data.get("description")),
                        availability_zone=source.availability_zone, host=source.host,
                        group_type_id=source.group_type_id, status="creating",
                        group_snapshot_id=snap_id, source_group_id=src_id,
                        volume_type_ids=list(source.volume_type_ids or []))
            s.add(row)
            s.flush()
            for size, type_id, _, origin in sources:
                grp_obj.add_member_volume(
                    s, row, req.context, size=size, volume_type_id=type_id, **origin)
            out = {"id": row.id, "name": row.name}
    except Exception:
        quota.rollback(cloud, reservations)
        raise
    quota.commit(cloud, reservations)
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{source.host.split('#')[0]}",
                   "create_group_from_src", group_id=out["id"])
    return json_response({"group": out}, status=202)


def _reserve(req: Request, deltas: list[dict]) -> list[str]:
    """One reservation for all the volumes or snapshots a group operation makes."""
    total: dict[str, int] = {}
    for d in deltas:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return quota.reserve(req.app.cloud, req.context.project_id, total) if total else []


def _type_name(s, type_id: str | None) -> str | None:
    vtype = s.get(VolumeType, type_id) if type_id else None
    return vtype.name if vtype else None


def _sources(req: Request, s, snap_id: str | None, src_id: str | None):
    """The source group and, per new volume, (size, type id, type name, origin)."""
    if snap_id:
        gsnap = get_group_snapshot(s, req, snap_id)
        source = s.get(Group, gsnap.group_id)
        sources = [(sn.volume_size, sn.volume_type_id, _type_name(s, sn.volume_type_id),
                    {"snapshot_id": sn.id})
                   for sn in grp_obj.group_snapshot_members(s, snap_id)]
        empty = "Group snapshot is empty. No group will be created."
    else:
        source = get_group(s, req, src_id)
        sources = [(v.size, v.volume_type_id, _type_name(s, v.volume_type_id),
                    {"source_volid": v.id})
                   for v in (s.get(Volume, i) for i in grp_obj.group_volume_ids(s, src_id))]
        empty = "Source Group is empty. No group will be created."
    if source is None:
        raise GroupNotFound(group_id=src_id or snap_id)
    _check_not_cg(s, source.group_type_id)
    if not sources:
        raise InvalidGroup(reason=empty)
    if not source.host:
        raise InvalidGroup(reason=f"No valid host to create group {source.id}.")
    s.expunge(source)
    return source, sources


# -- group snapshots -------------------------------------------------------------------


def create_group_snapshot(req: Request):
    """cinder/group/api.py create_group_snapshot: one snapshot per volume of the group
    (with quota), all ``creating`` until the backend has taken them."""
    common.require_version(req, GROUP_SNAPSHOTS)
    data = common.entity_body(req, "group_snapshot")
    _strings(data, ("name", "description"), {"name", "description", "group_id"})
    group_id = data.get("group_id")
    if not isinstance(group_id, str) or not common.UUID_RE.match(group_id):
        raise exception.ValidationError(field="group_id", value=group_id,
                                        detail=f"{group_id!r} is not a 'uuid'")
    ctx = req.context
    cloud = req.app.cloud
    with cloud.db.reader() as s:
        group = get_group(s, req, group_id)
        common.authorize(req, "group:create_group_snapshot", {"project_id": group.project_id})
        _check_not_cg(s, group.group_type_id)
        members = [s.get(Volume, i) for i in grp_obj.group_volume_ids(s, group.id)]
        for vol in members:
            if vol.status not in ("available", "in-use"):
                raise errors.InvalidVolume(
                    reason=f"Volume {vol.id} status must be available or in-use, but current "
                           f"status is: {vol.status}")
        deltas = [quota.snapshot_deltas(v.size, _type_name(s, v.volume_type_id))
                  for v in members]
        host = (group.host or "").split("#")[0]
    reservations = _reserve(req, deltas)
    try:
        with cloud.db.writer() as s:
            taken = GroupSnapshot(group_id=group_id, project_id=ctx.project_id,
                                  user_id=ctx.user_id, status="creating",
                                  name=_stripped(data.get("name")),
                                  description=_stripped(data.get("description")),
                                  group_type_id=group.group_type_id)
            s.add(taken)
            s.flush()
            for vol in members:
                s.add(Snapshot(volume_id=vol.id, project_id=ctx.project_id,
                               user_id=ctx.user_id, status="creating", progress="0%",
                               volume_size=vol.size, volume_type_id=vol.volume_type_id,
                               display_name=taken.name, display_description=taken.description,
                               metadata_={}, group_snapshot_id=taken.id))
            out = {"id": taken.id, "name": taken.name, "group_type_id": taken.group_type_id}
    except Exception:
        quota.rollback(cloud, reservations)
        raise
    quota.commit(cloud, reservations)
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "create_group_snapshot",
                   group_snapshot_id=out["id"])
    return json_response({"group_snapshot": out}, status=202)


def list_group_snapshots(req: Request):
    common.require_version(req, GROUP_SNAPSHOTS)
    common.authorize(req, "group:get_all_group_snapshots")
    out = _list(req, GroupSnapshot, "group_snapshots", "group_snapshots",
                lambda r, s: group_snapshot_detail(req, r))
    out["group_snapshots"] = [{k: g[k] for k in ("id", "name", "group_type_id")}
                              for g in out["group_snapshots"]]
    return json_response(out)


def list_group_snapshots_detail(req: Request):
    common.require_version(req, GROUP_SNAPSHOTS)
    common.authorize(req, "group:get_all_group_snapshots")
    return json_response(_list(req, GroupSnapshot, "group_snapshots",
                               "group_snapshots/detail",
                               lambda r, s: group_snapshot_detail(req, r)))


def show_group_snapshot(req: Request, group_snapshot_id: str):
    common.require_version(req, GROUP_SNAPSHOTS)
    with req.app.cloud.db.reader() as s:
        row = get_group_snapshot(s, req, group_snapshot_id)
        common.authorize(req, "group:get_group_snapshot", {"project_id": row.project_id})
        _check_not_cg(s, row.group_type_id)
        return json_response({"group_snapshot": group_snapshot_detail(req, row)})


def delete_group_snapshot(req: Request, group_snapshot_id: str):
    common.require_version(req, GROUP_SNAPSHOTS)
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        row = get_group_snapshot(s, req, group_snapshot_id)
        common.authorize(req, "group:delete_group_snapshot", {"project_id": row.project_id})
        _check_not_cg(s, row.group_type_id)
        creating = s.scalar(select(Group.id).where(Group.group_snapshot_id == row.id,
                                                   Group.status == "creating"))
        if creating or not grp_obj.group_snapshot_update(s, row.id, ("available", "error"),
                                                         status="deleting"):
            raise InvalidGroupSnapshot(reason="GroupSnapshot status must be available or "
                                              "error, and no Group can be currently using it "
                                              "as source for its creation.")
        for snap in grp_obj.group_snapshot_members(s, row.id):
            snap.status = "deleting"
        group = s.get(Group, row.group_id)
        host = (group.host if group else "").split("#")[0]
    cloud.rpc.cast(f"{backends.VOLUME_TOPIC}.{host}", "delete_group_snapshot",
                   group_snapshot_id=group_snapshot_id)
    return empty_response(202)


def group_snapshot_action(req: Request, group_snapshot_id: str):
    common.require_version(req, GROUP_SNAPSHOT_RESET_STATUS)
    data = common.entity_body(req, "reset_status")
    status = _reset_status(req, data, grp_obj.GROUP_SNAPSHOT_STATUSES, "Group snapshot")
    with req.app.cloud.db.writer() as s:
        row = get_group_snapshot(s, req, group_snapshot_id)
        common.authorize(req, "group:reset_group_snapshot_status",
                         {"project_id": row.project_id})
        grp_obj.group_snapshot_update(s, row.id, None, status=status)
    return empty_response(202)
