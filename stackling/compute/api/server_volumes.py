"""The API side of boot from volume (nova/compute/api.py): what ``POST /servers`` checks
about block devices, in Nova's order, and the reservation of existing volumes.

``prepare`` runs after the server-level checks and before the instance rows are
written: boot image metadata (from the image or the root volume/snapshot), legacy BDM
conversion, the flavor/image checks, the volumes' zones (``cross_az_attach``), the BDM
validation and, last, the reservation (``POST /attachments`` → ``reserved``; in the 2016
release modes ``check_attach`` only). ``local_cleanup`` is ``_local_cleanup_bdm_volumes``
for servers that never reached a host.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stackling import clients, exception
from stackling.compute import block_device as bd
from stackling.compute import cinder as volume_api
from stackling.compute import volume_zones
from stackling.compute.objects import bdm

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3


class InvalidBDMVolume(exception.BadRequest):
    msg_fmt = "Block Device Mapping is Invalid: failed to get volume %(id)s."


class InvalidBDMImage(exception.BadRequest):
    msg_fmt = "Block Device Mapping is Invalid: failed to get image %(id)s."


class InvalidBDMSnapshot(exception.BadRequest):
    msg_fmt = "Block Device Mapping is Invalid: failed to get snapshot %(id)s."


@dataclass
class Plan:
    """What create_server needs from the block-device checks."""

    bdms: list[dict]
    image_ref: str            # "" for a volume-backed server
    is_bfv: bool
    zone: str | None          # the server's zone (may be inherited from the volumes)
    volumes: dict[str, dict] = field(default_factory=dict)


def parse(server: dict, version) -> tuple[list[dict], bool, str | None]:
    """Schema, ``_process_bdms_for_create`` and ``_image_from_req_data``, in order."""
    legacy_items = server.get("block_device_mapping")
    v2_items = server.get("block_device_mapping_v2")
    legacy = bd.schema_legacy(legacy_items) if legacy_items is not None else []
    v2 = bd.schema_v2(v2_items, version) if v2_items is not None else []
    if legacy and v2:
        raise exception.BadRequest("Using different block_device_mapping syntaxes is not "
                                   "allowed in the same request.")
    image_ref = server.get("imageRef")
    if v2:
        bdms = [bd.from_api(item, image_ref not in (None, "")) for item in v2]
    else:
        bdms = legacy
    if not image_ref and not bdms:
        raise exception.BadRequest("Missing imageRef attribute")
    return bdms, bool(legacy), image_ref or ""


def _cinder(req) -> volume_api.CinderAPI:
    return volume_api.CinderAPI(req.app.cloud, volume_api.Caller.from_context(req.context))


def _image(req, image_id: str) -> dict:
    glance = clients.ServiceClient.for_context(req.context, "image")
    return glance.get(f"/v2/images/{image_id}")


def boot_meta(req, cinder: volume_api.CinderAPI, bdms: list[dict], legacy: bool) -> dict:
    """``get_bdm_image_metadata``: the image a volume-backed server boots, as metadata."""
    for item in bdms:
        if legacy:
            if bd.device_letter(item.get("device_name")) != "a":
                continue
        elif item.get("boot_index") != 0:
            continue
        volume_id = item.get("volume_id")
        if item.get("snapshot_id"):
            volume_id = cinder.get_snapshot(item["snapshot_id"])["volume_id"]
        if item.get("image_id"):
            try:
                return _image(req, item["image_id"])
            except clients.ApiError:
                raise InvalidBDMImage(id=item["image_id"]) from None
        if volume_id:
            try:
                volume = cinder.get(volume_id)
            except exception.StacklingError:
                raise InvalidBDMVolume(id=volume_id) from None
            if volume.get("bootable", "true") in (False, "false"):
                raise exception.BadRequest(f"Block Device {volume_id} is not bootable.")
            meta = dict(volume.get("volume_image_metadata") or {})
            return {"id": meta.get("image_id"), "status": "active",
                    "min_ram": int(meta.get("min_ram") or 0),
                    "min_disk": int(meta.get("min_disk") or 0),
                    "size": int(volume.get("size") or 0) * GiB, "properties": meta,
                    "from_volume": True}
    return {}


def check_flavor_image(image_id: str | None, image: dict, flavor: dict,
                       root: dict | None) -> None:
    """``_checks_for_create_and_rebuild``: the image state and disk sizes."""
    if image and image.get("status", "active") != "active":
        raise exception.BadRequest(f"Image {image_id or image.get('id')} is not active.")
    min_disk = int(image.get("min_disk") or 0) * GiB
    if root is not None and bd.is_volume(root):
        size = root.get("volume_size")
        if size is not None and min_disk > size * GiB:
            raise exception.BadRequest(
                "Volume is smaller than the minimum size specified in image metadata. "
                f"Volume size is {size * GiB} bytes, minimum size is {min_disk} bytes.")
    elif flavor["disk"] == 0:
        raise exception.Forbidden("Only volume-backed servers are allowed for flavors with "
                                  "zero disk.")


def transform(bdms: list[dict], legacy: bool, image_ref: str, min_count: int,
              max_count: int) -> list[dict]:
    """``_check_and_transform_bdm``."""
    if image_ref:
        for b in bdms:
            if b.get("destination_type") == "volume" and \
                    bd.strip_dev(b.get("device_name")) == "vda":
                raise exception.BadRequest("The volume cannot be assigned the same device "
                                           "name as the root device vda")
    if legacy:
        bdms = bd.from_legacy(bdms, image_ref or None)
    elif image_ref and not any(b.get("boot_index") == 0 for b in bdms):
        bdms = [{"source_type": "image", "destination_type": "local", "boot_index": 0,
                 "image_id": image_ref, "delete_on_termination": True}, *bdms]
    if (min_count > 1 or max_count > 1) and any(b.get("source_type") == "volume"
                                                for b in bdms):
        raise exception.BadRequest("Cannot attach one or more volumes to multiple instances")
    return bdms


def prepare(req, server: dict, bdms: list[dict], legacy: bool, image_ref: str,
            flavor: dict, image: dict | None, zone: str | None, min_count: int,
            max_count: int) -> Plan:
    """Everything between the server-level checks and writing the rows (no reservation)."""
    try:
        return _prepare(req, bdms, legacy, image_ref, flavor, image, zone, min_count,
                        max_count, bd.image_defined(image or {}))
    except (volume_api.VolumeNotFound, volume_api.SnapshotNotFound) as err:
        # servers.py create: VolumeNotFound and SnapshotNotFound are 400s there.
        raise exception.BadRequest(err.message) from None


def _prepare(req, bdms: list[dict], legacy: bool, image_ref: str, flavor: dict,
             image: dict | None, zone: str | None, min_count: int, max_count: int,
             image_bdms: list[dict]) -> Plan:
    conf = req.app.cloud.config
    cinder = _cinder(req)
    checked_image = image_ref   # the image already read from Glance for this request
    if not image_ref:
        image = boot_meta(req, cinder, bdms, legacy)
        if image and not image.get("from_volume"):
            checked_image = image.get("id") or ""
    bdms = transform(bdms, legacy, image_ref, min_count, max_count)
    if image_bdms:
        # A snapshot of a volume-backed server: its mappings boot new volumes.
        bdms = bd.merge_image_defined(image_bdms, bdms)
    root = bd.root_bdm(bdms)
    check_flavor_image(image_ref or None, image or {}, flavor, root)
    is_bfv = bool(root and bd.is_volume(root))
    volumes: dict[str, dict] = {}
    for b in bdms:
        if b.get("volume_id"):
            volumes[b["volume_id"]] = cinder.get(b["volume_id"])
    release = conf.stackling.stackling.behaviour_release
    cross_az = conf.nova.cinder.cross_az_attach
    if not volume_zones.is_2016(release):
        pinned = volume_zones.validate_vol_az_for_create(
            cross_az, zone, [v.get("availability_zone") for v in volumes.values()],
            conf.nova.default_availability_zone)
        if pinned:
            zone = pinned
    validate(req, cinder, bdms, checked_image, flavor, volumes, zone, release, cross_az)
    return Plan(bdms=bdms, image_ref=image_ref, is_bfv=is_bfv, zone=zone, volumes=volumes)


def validate(req, cinder: volume_api.CinderAPI, bdms: list[dict], checked_image: str,
             flavor: dict, volumes: dict[str, dict], zone: str | None, release: str,
             cross_az: bool) -> None:
    """``_validate_bdm`` (the reservation itself is ``reserve``, run last); every image
    but ``checked_image`` (the boot image, already read) must exist."""
    bd.check_boot_sequence(bdms)
    types = None
    for b in bdms:
        if b.get("volume_type"):
            if types is None:
                types = cinder.volume_types()
            if not any(b["volume_type"] in (t["id"], t["name"]) for t in types):
                raise exception.BadRequest(
                    f"Volume type {b['volume_type']} could not be found.")
        if b.get("image_id"):
            if b["image_id"] != checked_image:
                try:
                    _image(req, b["image_id"])
                except clients.ApiError:
                    raise InvalidBDMImage(id=b["image_id"]) from None
            if b.get("source_type") == "image" and b.get("destination_type") == "volume" \
                    and not b.get("volume_size"):
                raise bd.InvalidBDM("Images with destination_type 'volume' need to have a "
                                    "non-zero size specified")
        elif b.get("volume_id"):
            volume = volumes[b["volume_id"]]
            if volume_zones.is_2016(release):
                check_attach(volume, zone, cross_az)
            if volume.get("multiattach") and not req.version.matches("2.60"):
                raise exception.BadRequest(
                    "Multiattach volumes are only supported starting with compute API "
                    "version 2.60.")
            b["volume_size"] = volume.get("size")
        elif b.get("snapshot_id"):
            try:
                snap = cinder.get_snapshot(b["snapshot_id"])
            except exception.StacklingError:
                raise InvalidBDMSnapshot(id=b["snapshot_id"]) from None
            b["volume_size"] = b.get("volume_size") or snap.get("size")
        elif b.get("source_type") == "blank" and b.get("destination_type") == "volume" \
                and not b.get("volume_size"):
            raise bd.InvalidBDM("Blank volumes (source: 'blank', dest: 'volume') need to "
                                "have non-zero size")
    ephemeral = sum(b.get("volume_size") or flavor["ephemeral"] for b in bdms
                    if b.get("source_type") == "blank" and
                    b.get("destination_type") == "local" and b.get("guest_format") != "swap")
    if ephemeral > flavor["ephemeral"]:
        raise bd.InvalidBDM("Ephemeral disks requested are larger than the instance type "
                            "allows. If no size is given in one block device mapping, "
                            "flavor ephemeral size will be used.")
    max_local = req.app.cloud.config.nova.max_local_block_devices
    if max_local >= 0 and sum(b.get("destination_type") == "local" for b in bdms) > max_local:
        raise bd.InvalidBDM("Block Device Mapping is Invalid: You specified more local "
                            "devices than the limit allows")


def check_attach(volume: dict, zone: str | None, cross_az: bool) -> None:
    """2016's ``check_attach`` at the API (Liberty-Newton)."""
    vid = volume["id"]
    if volume.get("status") != "available":
        raise volume_api.InvalidVolume(reason=f"volume '{vid}' status must be 'available'. "
                                              f"Currently in '{volume.get('status')}'")
    if volume.get("attach_status") == "attached" or volume.get("attachments"):
        raise volume_api.InvalidVolume(reason=f"volume {vid} already attached")
    if not cross_az and zone != volume.get("availability_zone"):
        # Newton referenced the still unset instance here (nova bug 1648324): the user
        # saw the generic "failed to get volume".
        raise InvalidBDMVolume(id=vid)


def reserve(req, instance_uuid: str, bdms: list[dict], release: str) -> None:
    """Queens+: one attachment (no connector) per existing volume → ``reserved``.

    On a failure the attachments made so far are deleted and the error is re-raised in
    Nova's wording (``Invalid volume: <InvalidInput text>``).
    """
    if volume_zones.is_2016(release):
        return
    cinder = _cinder(req)
    done: list[str] = []
    try:
        for b in bdms:
            if b.get("source_type") == "volume" and b.get("volume_id"):
                try:
                    b["attachment_id"] = cinder.attachment_create(b["volume_id"],
                                                                  instance_uuid)["id"]
                except exception.InvalidInput as err:
                    raise volume_api.InvalidVolume(reason=err.message) from None
                except exception.NotFound:
                    raise InvalidBDMVolume(id=b["volume_id"]) from None
                done.append(b["attachment_id"])
    except Exception:
        for attachment_id in done:
            try:
                cinder.attachment_delete(attachment_id)
            except exception.StacklingError:
                LOG.warning("could not delete attachment %s", attachment_id)
        raise



def local_cleanup(cloud, caller: volume_api.Caller, instance_uuid: str,
                  bdms: list[dict] | None = None) -> None:
    """``_local_cleanup_bdm_volumes``: delete attachments, then the DOT volumes (of
    ``bdms`` when the rows are already gone)."""
    cinder = volume_api.CinderAPI(cloud, caller)
    for b in bdm.load(cloud, instance_uuid) if bdms is None else bdms:
        if not b["volume_id"]:
            continue
        if b["attachment_id"]:
            try:
                cinder.attachment_delete(b["attachment_id"])
            except exception.StacklingError as err:
                LOG.warning("attachment delete %s failed: %s", b["attachment_id"], err)
        if b["delete_on_termination"]:
            try:
                cinder.delete(b["volume_id"])
            except exception.StacklingError as err:
                LOG.warning("volume delete %s failed: %s", b["volume_id"], err)


def local_cleanup_reservations(cloud, ctx, bdms: list[dict]) -> None:
    """Give back the reservations of a create that failed before its rows were written."""
    cinder = volume_api.CinderAPI(cloud, volume_api.Caller.from_context(ctx))
    for b in bdms:
        if b.get("attachment_id"):
            try:
                cinder.attachment_delete(b["attachment_id"])
            except exception.StacklingError as err:
                LOG.warning("attachment delete %s failed: %s", b["attachment_id"], err)
