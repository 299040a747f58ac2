"""Block device mappings: the request schema, the API-format checks and the legacy (v1)
conversion (nova/api/openstack/compute/schemas/servers.py, nova/block_device.py), pure.

A BDM here is a plain dict with Nova's internal keys: source_type, destination_type,
boot_index, device_name, volume_id / snapshot_id / image_id, volume_size, volume_type,
delete_on_termination, guest_format, device_type, disk_bus, no_device, tag.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stackling import exception
from stackling.web.microversion import Version

V2_KEYS = {"source_type", "destination_type", "uuid", "boot_index", "volume_size",
           "delete_on_termination", "device_name", "guest_format", "device_type",
           "disk_bus", "no_device", "image_id", "volume_id", "snapshot_id", "connection_info"}
LEGACY_KEYS = {"device_name", "virtual_name", "volume_id", "snapshot_id", "volume_size",
               "delete_on_termination", "no_device", "connection_info"}
SOURCE_TYPES = ("volume", "image", "snapshot", "blank")
DESTINATION_TYPES = ("local", "volume")
UUID_PATTERN = re.compile(r"^[a-zA-Z0-9._-]*$")
DISK_BUSES = ("fdc", "ide", "sata", "scsi", "usb", "virtio", "xen", "lxc", "uml")


class InvalidBDMFormat(exception.BadRequest):
    msg_fmt = "Block Device Mapping is Invalid: %(details)s"


class InvalidBDM(exception.BadRequest):
    msg_fmt = "Block Device Mapping is Invalid."


def _schema_error(field: str, value: Any, detail: str) -> exception.ValidationError:
    return exception.ValidationError(field=field, value=value, detail=detail)


def _allowed_v2_keys(version: Version) -> set[str]:
    keys = set(V2_KEYS)
    if version.matches("2.32", "2.32") or version.matches("2.42"):
        keys.add("tag")
    if version.matches("2.67"):
        keys.add("volume_type")
    return keys


def _check_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no",
                                                    "on", "off", "y", "n", "t", "f"):
        return value.lower() in ("true", "1", "yes", "on", "y", "t")
    raise _schema_error(field, value, f"{value!r} is not of type 'boolean', 'string'")


def _check_int(field: str, value: Any, minimum: int | None, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool):
        raise _schema_error(field, value, f"{value!r} is not valid under any of the given "
                                          "schemas")
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip() or "x"):
        value = int(value)
    if not isinstance(value, int):
        raise _schema_error(field, value, f"{value!r} is not valid under any of the given "
                                          "schemas")
    if minimum is not None and value < minimum:
        raise _schema_error(field, value, f"{value} is less than the minimum of {minimum}")
    return value


def schema_v2(items: Any, version: Version) -> list[dict]:
    """JSON-schema checks of ``block_device_mapping_v2``; returns shallow copies."""
    field = "block_device_mapping_v2"
    if not isinstance(items, list):
        raise _schema_error(field, items, f"{items!r} is not of type 'array'")
    allowed = _allowed_v2_keys(version)
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise _schema_error(field, item, f"{item!r} is not of type 'object'")
        extra = [k for k in item if k not in allowed]
        if extra:
            raise _schema_error(field, item, "Additional properties are not allowed ("
                                + ", ".join(repr(k) for k in extra)
                                + (" was" if len(extra) == 1 else " were") + " unexpected)")
        bdm = dict(item)
        if "source_type" in bdm and bdm["source_type"] not in SOURCE_TYPES:
            raise _schema_error(f"{field}/source_type", bdm["source_type"],
                                f"{bdm['source_type']!r} is not one of "
                                f"{list(SOURCE_TYPES)}")
        if "destination_type" in bdm and bdm["destination_type"] not in DESTINATION_TYPES:
            raise _schema_error(f"{field}/destination_type", bdm["destination_type"],
                                f"{bdm['destination_type']!r} is not one of "
                                f"{list(DESTINATION_TYPES)}")
        if "uuid" in bdm:
            uuid = bdm["uuid"]
            if not isinstance(uuid, str) or not 1 <= len(uuid) <= 255 or \
                    not UUID_PATTERN.match(uuid):
                raise _schema_error(f"{field}/uuid", uuid,
                                    f"{uuid!r} does not match '^[a-zA-Z0-9._-]*$'")
        if "boot_index" in bdm:
            bdm["boot_index"] = _check_int(f"{field}/boot_index", bdm["boot_index"], None,
                                           True)
        if "volume_size" in bdm:
            bdm["volume_size"] = _check_int(f"{field}/volume_size", bdm["volume_size"], 1,
                                            True)
        if "delete_on_termination" in bdm:
            bdm["delete_on_termination"] = _check_bool(f"{field}/delete_on_termination",
                                                       bdm["delete_on_termination"])
        if "no_device" in bdm:
            bdm["no_device"] = _check_bool(f"{field}/no_device", bdm["no_device"])
        out.append(bdm)
    return out


def schema_legacy(items: Any) -> list[dict]:
    field = "block_device_mapping"
    if not isinstance(items, list):
        raise _schema_error(field, items, f"{items!r} is not of type 'array'")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise _schema_error(field, item, f"{item!r} is not of type 'object'")
        extra = [k for k in item if k not in LEGACY_KEYS]
        if extra:
            raise _schema_error(field, item, "Additional properties are not allowed ("
                                + ", ".join(repr(k) for k in extra)
                                + (" was" if len(extra) == 1 else " were") + " unexpected)")
        bdm = dict(item)
        if "volume_size" in bdm:
            bdm["volume_size"] = _check_int(f"{field}/volume_size", bdm["volume_size"], 1,
                                            True)
        if "delete_on_termination" in bdm:
            # servers.py: strutils.bool_from_string (rally sends "0"/"1")
            bdm["delete_on_termination"] = str(bdm["delete_on_termination"]).strip().lower() \
                in ("1", "t", "true", "on", "y", "yes")
        out.append(bdm)
    return out


def from_api(api: dict, image_uuid_specified: bool) -> dict:
    """``BlockDeviceDict.from_api``: the API format → Nova's, with its format checks."""
    bdm = {k: v for k, v in api.items() if k != "uuid"}
    if not api.get("no_device"):
        source = api.get("source_type")
        device_uuid = api.get("uuid")
        destination = api.get("destination_type")
        volume_type = api.get("volume_type")
        if source == "blank" and device_uuid:
            raise InvalidBDMFormat(details="Invalid device UUID.")
        if source != "blank":
            if not device_uuid:
                raise InvalidBDMFormat(details="Missing device UUID.")
            bdm[f"{source}_id"] = device_uuid
        if source == "image" and destination == "local":
            boot_index = api.get("boot_index", -1)
            boot_index = -1 if boot_index is None else int(boot_index)
            if not (image_uuid_specified and boot_index == 0):
                raise InvalidBDMFormat(details="Mapping image to local is not supported.")
        if destination == "local" and volume_type:
            raise InvalidBDMFormat(details="Specifying a volume_type with destination_type="
                                           "local is not supported.")
        if source == "volume" and volume_type:
            raise InvalidBDMFormat(details="Specifying volume type to existing volume is "
                                           "not supported.")
        if not source:
            raise InvalidBDMFormat(details="Some required fields are missing")
    bdm.setdefault("destination_type", "volume" if bdm.get("source_type") in
                   ("volume", "snapshot") else "local")
    bdm.setdefault("delete_on_termination", False)
    if bdm.get("disk_bus") and bdm["disk_bus"] not in DISK_BUSES:
        raise exception.BadRequest(
            f"Block Device Mapping is Invalid: Device bus {bdm['disk_bus']} is not valid.")
    return bdm


def strip_dev(name: str | None) -> str | None:
    return name[5:] if name and name.startswith("/dev/") else name


def device_letter(name: str | None) -> str:
    name = strip_dev(name) or ""
    return re.sub(r"^(x?v|s|h)d", "", name)[:1]


def from_legacy(items: list[dict], image_ref: str | None, root_device_name: str = "vda"
                ) -> list[dict]:
    """``block_device.from_legacy_mapping``: v1 items (device_name, volume_id, ...) → v2.

    The item on the root device name boots (index 0) unless an image is given; the
    image itself becomes the local root then.
    """
    out = []
    if image_ref:
        out.append({"source_type": "image", "destination_type": "local", "boot_index": 0,
                    "image_id": image_ref, "delete_on_termination": True})
    for item in items:
        bdm = {"device_name": item.get("device_name"),
               "delete_on_termination": bool(item.get("delete_on_termination", False)),
               "volume_size": item.get("volume_size"), "boot_index": -1}
        if item.get("no_device"):
            bdm.update(no_device=True, source_type=None, destination_type=None)
        elif item.get("snapshot_id"):
            bdm.update(source_type="snapshot", destination_type="volume",
                       snapshot_id=item["snapshot_id"])
        elif item.get("volume_id"):
            bdm.update(source_type="volume", destination_type="volume",
                       volume_id=item["volume_id"])
        elif str(item.get("virtual_name", "")).startswith(("ephemeral", "swap")):
            bdm.update(source_type="blank", destination_type="local",
                       guest_format="swap" if item["virtual_name"] == "swap" else None)
        else:
            raise InvalidBDMFormat(details="Unrecognized legacy format.")
        if not image_ref and strip_dev(item.get("device_name")) == root_device_name and \
                bdm["source_type"] in ("volume", "snapshot"):
            bdm["boot_index"] = 0
        out.append(bdm)
    return out


def root_bdm(bdms: list[dict]) -> dict | None:
    return next((b for b in bdms if b.get("boot_index") == 0), None)


def is_volume(bdm: dict) -> bool:
    return bdm.get("destination_type") == "volume"


def check_boot_sequence(bdms: list[dict]) -> None:
    indexes = sorted(b["boot_index"] for b in bdms
                     if b.get("boot_index") is not None and b["boot_index"] >= 0)
    if not indexes or any(i != v for i, v in enumerate(indexes)):
        raise InvalidBDMFormat(details="Boot sequence for the instance and image/block device "
                                       "mapping combination is not valid.")


def device_names(bdms: list[dict]) -> list[str]:
    """Fill the missing device names (vda, vdb, ...) in boot order, then the rest."""
    used = {strip_dev(b.get("device_name")) for b in bdms if b.get("device_name")}
    names = []
    ordered = sorted(bdms, key=lambda b: (b.get("boot_index") is None or
                                          b.get("boot_index", -1) < 0,
                                          b.get("boot_index") or 0))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for b in ordered:
        if b.get("no_device"):
            continue
        if not b.get("device_name"):
            for letter in letters:
                name = f"vd{letter}"
                if name not in used:
                    used.add(name)
                    b["device_name"] = f"/dev/{name}"
                    break
        elif not b["device_name"].startswith("/dev/"):
            b["device_name"] = "/dev/" + b["device_name"]
        names.append(b["device_name"])
    return names


def next_device_name(used: list[str | None]) -> str:
    taken = {strip_dev(n) for n in used if n}
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"vd{letter}" not in taken:
            return f"/dev/vd{letter}"
    raise exception.BadRequest("The supplied device path (/dev/vdzz) is invalid.")


# nova/block_device.py BlockDeviceDict fields a snapshot mapping carries, with their
# values copied from the source BDM (the rest are null).
_SNAPSHOT_COPIED = ("disk_bus", "device_type", "boot_index", "delete_on_termination",
                    "volume_size", "device_name")
_SNAPSHOT_NULL = ("guest_format", "volume_id", "image_id", "no_device", "tag", "volume_type",
                  "encrypted", "encryption_secret_uuid", "encryption_format",
                  "encryption_options")


def snapshot_from_bdm(snapshot_id: str, bdm: dict) -> dict:
    """``snapshot_from_bdm``: the 19-key mapping an image keeps for a volume's snapshot."""
    out: dict[str, Any] = {"source_type": "snapshot", "destination_type": "volume",
                           "snapshot_id": snapshot_id}
    out.update({k: bdm.get(k) for k in _SNAPSHOT_COPIED})
    out["delete_on_termination"] = bool(out["delete_on_termination"])
    out.update(dict.fromkeys(_SNAPSHOT_NULL))
    return out


def image_defined(properties: dict) -> list[dict]:
    """``_get_image_defined_bdms`` for a ``bdm_v2`` image: its mappings as BDM dicts."""
    if str(properties.get("bdm_v2", "")).lower() != "true":
        return []
    raw = properties.get("block_device_mapping") or []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidBDMFormat(details="the image's block_device_mapping is not "
                                           "JSON") from None
    keys = ("source_type", "destination_type", "boot_index", "device_name", "device_type",
            "disk_bus", "guest_format", "image_id", "snapshot_id", "volume_id",
            "volume_size", "volume_type", "delete_on_termination", "no_device", "tag")
    return [{k: item.get(k) for k in keys} for item in raw if isinstance(item, dict)]


def merge_image_defined(image_bdms: list[dict], requested: list[dict]) -> list[dict]:
    """``_merge_bdms_lists``: a requested mapping replaces the image's on the same device;
    an image-defined root drops the image root the request implied."""
    if root_bdm(image_bdms) is not None:
        requested = [b for b in requested
                     if not (b.get("boot_index") == 0 and b.get("source_type") == "image")]
    names = {strip_dev(b.get("device_name")) for b in requested if b.get("device_name")}
    kept = [b for b in image_bdms if strip_dev(b.get("device_name")) not in names
            or not b.get("device_name")]
    return requested + kept
