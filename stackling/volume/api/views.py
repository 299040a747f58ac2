"""Cinder v3 views for volumes, snapshots and volume types, microversion by microversion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling.db.models_volume import Snapshot, Volume, VolumeAttachment, VolumeType

if TYPE_CHECKING:
    from stackling.web.app import Request


def ts(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def _links(req: Request, kind: str, obj_id: str) -> list[dict]:
    base = req.app.cloud.public_url("volume")
    project = req.context.project_id
    return [{"rel": "self", "href": f"{base}/v3/{project}/{kind}/{obj_id}"},
            {"rel": "bookmark", "href": f"{base}/{project}/{kind}/{obj_id}"}]


def volume_summary(req: Request, row: Volume) -> dict:
    return {"id": row.id, "name": row.display_name, "links": _links(req, "volumes", row.id)}


def volume_attachments(req: Request, attachments: list[VolumeAttachment]) -> list[dict]:
    """The volume view's ``attachments``: only ``attached`` ones; host_name for admins."""
    show_host = req.context.is_admin or "service" in req.context.roles
    return [{"id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id,
             "server_id": a.instance_uuid,
             "host_name": a.attached_host if show_host else None,
             "device": a.mountpoint, "attached_at": ts(a.attach_time)}
            for a in sorted(attachments, key=lambda a: (a.created_at, a.id))
            if a.attach_status == "attached"]


def attachment_summary(row: VolumeAttachment) -> dict:
    return {"id": row.id, "status": row.attach_status, "instance": row.instance_uuid,
            "volume_id": row.volume_id}


def attachment_detail(row: VolumeAttachment) -> dict:
    out = attachment_summary(row)
    out.update(attached_at=ts(row.attach_time) or "", detached_at=ts(row.detach_time) or "",
               attach_mode=row.attach_mode, connection_info=row.connection_info)
    return out


# cinder/api/api_utils.py: admin metadata keys shown to everyone, over the user's own.
VISIBLE_ADMIN_METADATA = ("readonly", "attached_mode")


def visible_metadata(row: Volume) -> dict:
    admin_md = row.admin_metadata or {}
    return {**(row.metadata_ or {}),
            **{k: admin_md[k] for k in VISIBLE_ADMIN_METADATA if k in admin_md}}


def volume_detail(req: Request, row: Volume, type_name: str | None,
                  attachments: list[VolumeAttachment] = (), extensions: bool = True) -> dict:
    """The detail view of ``row`` (a Volume, or a Core row with its attribute names).
    ``extensions`` is False for the create response: Cinder's extension attributes
    (tenant, host, migration, image metadata) extend show and list, not create."""
    v = req.version
    admin = req.context.is_admin
    out = {
        "id": row.id, "status": row.status, "size": row.size,
        "availability_zone": row.availability_zone, "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at), "name": row.display_name,
        "description": row.display_description,
        "volume_type": type_name,
        "snapshot_id": row.snapshot_id, "source_volid": row.source_volid,
        "metadata": visible_metadata(row), "links": _links(req, "volumes", row.id),
        "user_id": row.user_id, "bootable": "true" if row.bootable else "false",
        "encrypted": False, "replication_status": row.replication_status,
        "consistencygroup_id": None, "multiattach": row.multiattach,
        "attachments": volume_attachments(req, list(attachments)),
    }
    if extensions:
        out["os-vol-tenant-attr:tenant_id"] = row.project_id
        if row.glance_metadata:
            out["volume_image_metadata"] = dict(row.glance_metadata)
        if admin:
            out["os-vol-host-attr:host"] = row.host
            out["os-vol-mig-status-attr:migstat"] = row.migration_status
            out["os-vol-mig-status-attr:name_id"] = None
    if admin:
        out["migration_status"] = row.migration_status
    if v is not None:
        if v.matches("3.13"):
            out["group_id"] = row.group_id
        if v.matches("3.21") and admin:
            out["provider_id"] = row.provider_id
        if v.matches("3.48"):
            out["shared_targets"] = False
            out["service_uuid"] = None
        if v.matches("3.61") and admin:
            out["cluster_name"] = None
        if v.matches("3.63"):
            out["volume_type_id"] = row.volume_type_id
        if v.matches("3.64"):
            out["encryption_key_id"] = row.encryption_key_id
        if v.matches("3.65"):
            out["consumes_quota"] = row.use_quota
    return out


def snapshot_view(req: Request, row: Snapshot, extensions: bool = True) -> dict:
    """``extensions`` is False for create and update: Cinder's extended snapshot
    attributes (progress, project id) extend show and detail only."""
    v = req.version
    out = {
        "id": row.id, "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
        "name": row.display_name, "description": row.display_description,
        "volume_id": row.volume_id, "status": row.status, "size": row.volume_size,
        "metadata": dict(row.metadata_ or {}),
    }
    if extensions:
        out["os-extended-snapshot-attributes:progress"] = row.progress or "0%"
        out["os-extended-snapshot-attributes:project_id"] = row.project_id
    if v is not None:
        if v.matches("3.14"):
            out["group_snapshot_id"] = row.group_snapshot_id
        if v.matches("3.41"):
            out["user_id"] = row.user_id
        if v.matches("3.65"):
            out["consumes_quota"] = row.use_quota
    return out


def type_view(req: Request, row: VolumeType, specs: bool = True, action: str = "show") -> dict:
    """``action`` is show (also index), create or update: Cinder's extensions differ.

    The type-access extension adds ``os-volume-type-access:is_public`` to show, index and
    create, not to update; ``qos_specs_id`` appears on show and index only (as tempest's
    response schemas, checked against real Cinder, expect).
    """
    out = {"id": row.id, "name": row.name, "description": row.description,
           "is_public": row.is_public}
    if action in ("show", "create"):
        out["os-volume-type-access:is_public"] = row.is_public
    if action == "show":
        out["qos_specs_id"] = row.qos_specs_id
    if specs or req.context.is_admin:
        out["extra_specs"] = dict(row.extra_specs or {})
    return out
