"""Volume transfers (os-volume-transfer): offer a volume to another project with an
auth key; the accepting project takes the volume, its snapshots and their quota usage.

Behaviour as Cinder's transfer API: creating puts the volume in ``awaiting-transfer``
(it must be ``available``), deleting the offer puts it back, accepting checks the key
(400 when wrong), books the volume's quota in the new project and gives it back in the
old one, then hands the volume (and its snapshots) over.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import Snapshot, Transfer, Volume, VolumeType
from stackling.volume import errors
from stackling.volume.api import common, views
from stackling.volume.objects import backends, quota
from stackling.volume.objects import volume as vol_obj
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "volume:create_transfer": common.OWNER_MEMBER,
    "volume:accept_transfer": common.OWNER_MEMBER,
    "volume:delete_transfer": common.OWNER_MEMBER,
    "volume:get_transfer": common.OWNER_READER,
    "volume:get_all_transfers": common.OWNER_READER,
})

AUTH_KEY_LENGTH = 16       # Cinder's volume_transfer_key_length
SALT_LENGTH = 8            # Cinder's volume_transfer_salt_length
_ALPHABET = string.ascii_letters + string.digits


class TransferNotFound(exception.NotFound):
    msg_fmt = "Transfer %(transfer_id)s could not be found."


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _hash(salt: str, key: str) -> str:
    return hashlib.sha1((salt + key).encode()).hexdigest()


def _summary(req: Request, row: Transfer) -> dict:
    base = req.app.cloud.public_url("volume")
    project = req.context.project_id
    links = [{"rel": "self", "href": f"{base}/v3/{project}/os-volume-transfer/{row.id}"},
             {"rel": "bookmark", "href": f"{base}/{project}/os-volume-transfer/{row.id}"}]
    return {"id": row.id, "name": row.display_name, "volume_id": row.volume_id,
            "links": links}


def _detail(req: Request, row: Transfer) -> dict:
    out = _summary(req, row)
    out["created_at"] = views.ts(row.created_at)
    v = req.version
    if v is not None and v.matches("3.55"):
        out["no_snapshots"] = row.no_snapshots
    if v is not None and v.matches("3.57"):
        out["destination_project_id"] = None
        out["source_project_id"] = row.source_project_id
        out["accepted"] = False
    return out


def _get(s, req: Request, transfer_id: str) -> Transfer:
    row = s.get(Transfer, transfer_id)
    ctx = req.context
    if row is None or (not ctx.is_admin and row.source_project_id != ctx.project_id):
        raise TransferNotFound(transfer_id=transfer_id)
    return row


def create_transfer(req: Request):
    body = read_json(req)
    data = body.get("transfer") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise exception.ValidationError(field="transfer", value=None,
                                        detail="'transfer' is a required property")
    volume_id = data.get("volume_id")
    if not isinstance(volume_id, str) or not volume_id:
        raise exception.ValidationError(field="volume_id", value=volume_id,
                                        detail="'volume_id' is a required property")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise exception.ValidationError(field="name", value=name,
                                        detail=f"{name!r} is not a valid name")
    no_snapshots = False
    if req.version is not None and req.version.matches("3.55"):
        no_snapshots = backends.is_true(data.get("no_snapshots", False))
    key, salt = _random(AUTH_KEY_LENGTH), _random(SALT_LENGTH)
    with req.app.cloud.db.writer() as s:
        vol = common.get_volume(s, req, volume_id)
        common.authorize(req, "volume:create_transfer", {"project_id": vol.project_id})
        if vol.status != "available":
            raise errors.InvalidVolume(reason="status must be available")
        if vol.encryption_key_id:
            raise errors.InvalidVolume(reason="transferring encrypted volume is not "
                                              "supported")
        snaps = s.scalars(select(Snapshot).where(Snapshot.volume_id == volume_id)).all()
        if not no_snapshots and any(sn.status != "available" for sn in snaps):
            raise errors.InvalidSnapshot(reason="snapshot status must be available")
        row = Transfer(volume_id=volume_id, display_name=name, salt=salt,
                       crypt_hash=_hash(salt, key), source_project_id=vol.project_id,
                       no_snapshots=no_snapshots)
        s.add(row)
        vol_obj.save(s, vol, status="awaiting-transfer")
        s.flush()
        out = _detail(req, row)
    out["auth_key"] = key
    return json_response({"transfer": out}, status=202)


def _list(req: Request, detailed: bool):
    common.authorize(req, "volume:get_all_transfers")
    ctx = req.context
    all_tenants = ctx.is_admin and backends.is_true(req.GET.get("all_tenants", "0"))
    with req.app.cloud.db.reader() as s:
        q = select(Transfer).order_by(Transfer.created_at, Transfer.id)
        if not all_tenants:
            q = q.where(Transfer.source_project_id == ctx.project_id)
        rows = s.scalars(q).all()
        view = _detail if detailed else _summary
        return json_response({"transfers": [view(req, r) for r in rows]})


def list_transfers(req: Request):
    return _list(req, False)


def list_transfers_detail(req: Request):
    return _list(req, True)


def show_transfer(req: Request, transfer_id: str):
    with req.app.cloud.db.reader() as s:
        row = _get(s, req, transfer_id)
        common.authorize(req, "volume:get_transfer", {"project_id": row.source_project_id})
        return json_response({"transfer": _detail(req, row)})


def delete_transfer(req: Request, transfer_id: str):
    with req.app.cloud.db.writer() as s:
        row = _get(s, req, transfer_id)
        common.authorize(req, "volume:delete_transfer",
                         {"project_id": row.source_project_id})
        vol = s.get(Volume, row.volume_id)
        if vol is not None and vol.status == "awaiting-transfer":
            vol_obj.save(s, vol, status="available")
        s.delete(row)
    return empty_response(202)


def accept_transfer(req: Request, transfer_id: str):
    """Any project that knows the id and the key may accept (Cinder looks the transfer up
    without a project filter here)."""
    common.authorize(req, "volume:accept_transfer", {"project_id": req.context.project_id})
    body = read_json(req)
    data = body.get("accept") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("auth_key"), str):
        raise exception.ValidationError(field="auth_key", value=None,
                                        detail="'auth_key' is a required property")
    cloud = req.app.cloud
    ctx = req.context
    with cloud.db.reader() as s:
        row = s.get(Transfer, transfer_id)
        if row is None:
            raise TransferNotFound(transfer_id=transfer_id)
        if _hash(row.salt, data["auth_key"]) != row.crypt_hash:
            raise exception.BadRequest(f"Invalid auth key: Attempt to transfer "
                                       f"{transfer_id} with invalid auth key.")
        vol = s.get(Volume, row.volume_id)
        if vol is None:
            raise errors.VolumeNotFound(volume_id=row.volume_id)
        if vol.status != "awaiting-transfer":
            raise errors.InvalidVolume(reason="status must be awaiting-transfer")
        vtype = s.get(VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        type_name = vtype.name if vtype else None
        snaps = [] if row.no_snapshots else s.scalars(
            select(Snapshot).where(Snapshot.volume_id == vol.id)).all()
        old_project, size, use_quota = vol.project_id, vol.size, vol.use_quota
        snap_sizes = [sn.volume_size for sn in snaps if sn.use_quota]
        summary = _summary(req, row)
    deltas: dict[str, int] = {}
    if use_quota:
        deltas = quota.volume_deltas(size, type_name)
    for snap_size in snap_sizes:
        for k, v in quota.snapshot_deltas(snap_size, type_name).items():
            deltas[k] = deltas.get(k, 0) + v
    reservations = quota.reserve(cloud, ctx.project_id, deltas) if deltas else []
    try:
        with cloud.db.writer() as s:
            row = s.get(Transfer, transfer_id)
            vol = s.get(Volume, row.volume_id) if row is not None else None
            if row is None or vol is None or vol.status != "awaiting-transfer":
                raise TransferNotFound(transfer_id=transfer_id)
            vol_obj.save(s, vol, project_id=ctx.project_id, user_id=ctx.user_id,
                         status="available")
            if not row.no_snapshots:
                for sn in s.scalars(select(Snapshot).where(Snapshot.volume_id == vol.id)):
                    sn.project_id, sn.user_id = ctx.project_id, ctx.user_id
            s.delete(row)
    except Exception:
        if reservations:
            quota.rollback(cloud, reservations)
        raise
    if reservations:
        quota.commit(cloud, reservations)
    if deltas:
        quota.release(cloud, old_project, deltas)
    return json_response({"transfer": summary}, status=202)
