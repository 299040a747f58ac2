"""The volume status machine around attach and detach, as pure functions.

Each function takes the current state and answers the next one (or raises the 400 Cinder
answers), so the API handlers only load rows, call one of these and store the result.
Sources: cinder/volume/api.py (``_attachment_reserve``, ``reserve_volume``,
``unreserve_volume``, ``begin_detaching``, ``roll_detaching``), cinder/volume/manager.py
(``attach_volume``) and cinder/db/api.py (``volume_attached``, ``volume_detached``,
``_get_statuses_from_attachments``).

Volume statuses touched here: available, downloading, reserved, attaching, in-use,
detaching. Attachment statuses: reserved, attaching, attached, detaching,
error_attaching, error_detaching (detached attachments are deleted).
"""

from __future__ import annotations

from collections.abc import Iterable

from stackling.volume import errors

# cinder/db/api.py ATTACH_STATUS_MAP: attachment status -> volume status, when they differ.
ATTACH_STATUS_MAP = {"attached": "in-use", "detached": "available"}
# Migration statuses that do not block detaching (cinder API.AVAILABLE_MIGRATION_STATUS).
AVAILABLE_MIGRATION_STATUS = (None, "deleting", "error", "success")
# Volume statuses while attachments are under way: connecting or completing one moves
# the volume on from any of them (two attachments of a multiattach volume may overlap).
ATTACHING = ("reserved", "attaching", "in-use")


def or_list(values: Iterable[str]) -> str:
    """cinder.utils.build_or_str."""
    return " or ".join(values)


def attachment_create_check(volume_id: str, status: str) -> None:
    """An attachment can never be created on a volume whose status contains ``error``."""
    if "error" in status:
        raise errors.InvalidVolume(
            reason=f"Volume attachments can not be created if the volume is in an error "
                   f"state. The Volume {volume_id} currently has a status of: {status} ")


def reservable(multiattach: bool) -> tuple[str, ...]:
    """The volume statuses ``_attachment_reserve`` swaps to ``reserved``."""
    return ("available", "in-use", "downloading") if multiattach \
        else ("available", "downloading")


def reserve_refused(volume_id: str, status: str, multiattach: bool) -> errors.InvalidVolume:
    """The 400 of a volume that cannot be reserved for an attachment."""
    return errors.InvalidVolume(
        reason=f"Volume {volume_id} status must be {or_list(reservable(multiattach))} to "
               f"reserve, but the current status is {status}.")


def reserve_for_attachment(volume_id: str, status: str, multiattach: bool,
                           attached_instances: Iterable[str | None],
                           instance_uuid: str | None) -> str | None:
    """``_attachment_reserve``: the new volume status, or None to leave it as it is.

    ``available``/``downloading`` (plus ``in-use`` for multiattach) become ``reserved``.
    Otherwise an ``in-use``/``reserved`` volume that already has an attachment for the
    same instance is accepted unchanged (live migration, bug 1694530); anything else is
    the 400 ``Volume <id> status must be ... to reserve, but the current status is <s>.``
    """
    if status in reservable(multiattach):
        return "reserved"
    if instance_uuid and status in ("in-use", "reserved") and \
            instance_uuid in set(attached_instances):
        return None
    raise reserve_refused(volume_id, status, multiattach)


# The attachment statuses attachment_update and os-complete move an attachment on from:
# a detach, reset or error that came first wins.
LIVE_ATTACHMENT = ("reserved", "attaching", "attached", "error_attaching")
COMPLETABLE_ATTACHMENT = ("reserved", "attaching", "attached")


def statuses_from_attachments(attach_statuses: Iterable[str]) -> tuple[str, str]:
    """(volume status, volume attach_status) from the remaining attachments' statuses.

    Errors are ignored; sorted alphabetically the first one wins
    (attached > attaching > detaching > reserved); none left means detached/available.
    """
    live = sorted(s for s in attach_statuses if not s.startswith("error_"))
    attach_status = live[0] if live else "detached"
    return ATTACH_STATUS_MAP.get(attach_status, attach_status), attach_status


def after_detach(status: str, migration_status: str | None,
                 remaining: Iterable[str]) -> dict[str, str]:
    """``volume_detached``: the volume's new values once one attachment is gone.

    The status is left alone while a migration or an upload is still running.
    """
    new_status, attach_status = statuses_from_attachments(remaining)
    values = {"attach_status": attach_status}
    if attach_status != "detached" or (not migration_status and status != "uploading") \
            or migration_status in ("success", "error"):
        values["status"] = new_status
    return values


def legacy_reserve(status: str, multiattach: bool) -> str:
    """os-reserve: ``available`` (or ``in-use`` for multiattach) → ``attaching``."""
    allowed = ("available", "in-use") if multiattach else ("available",)
    if status not in allowed:
        raise errors.InvalidVolume(
            reason=f"Volume status must be {or_list(allowed)} to reserve, but the status "
                   f"is {status}.")
    return "attaching"


def legacy_unreserve(status: str, has_attachments: bool) -> str | None:
    """os-unreserve (and the end of os-terminate_connection): only from ``attaching``."""
    if status != "attaching":
        return None
    return "in-use" if has_attachments else "available"


def begin_detaching(status: str, attach_status: str, migration_status: str | None) -> str:
    """os-begin_detaching: ``in-use`` + attached → ``detaching``, else the 400 Nova shows."""
    if status == "in-use" and attach_status == "attached" and \
            migration_status in AVAILABLE_MIGRATION_STATUS:
        return "detaching"
    if migration_status and migration_status not in AVAILABLE_MIGRATION_STATUS:
        return status    # a migrating volume keeps its status (Cinder accepts silently)
    raise errors.InvalidVolume(
        reason="Unable to detach volume. Volume status must be 'in-use' and attach_status "
               "must be 'attached' to detach.")


def roll_detaching(status: str) -> str | None:
    """os-roll_detaching: ``detaching`` → ``in-use``; otherwise nothing changes."""
    return "in-use" if status == "detaching" else None


def legacy_attach_api_check(volume_id: str, status: str, mode: str, readonly: bool) -> None:
    """API ``attach``: refusals answered directly (not through the volume service)."""
    if status == "maintenance":
        raise errors.InvalidVolume(reason="The volume cannot be attached in maintenance mode.")
    if readonly and mode != "ro":
        raise errors.InvalidVolumeAttachMode(mode=mode, volume_id=volume_id)


def legacy_attach_manager_check(status: str, multiattach: bool, migration_status: str | None,
                                attached_mode: str | None, mode: str) -> None:
    """cinder-volume ``attach_volume`` refusals (the API wraps them as
    ``Error attaching volume - InvalidVolume: <text>``)."""
    if status == "attaching" and attached_mode and attached_mode != mode:
        raise errors.InvalidVolume(reason="being attached by different mode")
    if status == "in-use" and not multiattach and not migration_status:
        raise errors.InvalidVolume(reason="volume is already attached and multiple "
                                          "attachments are not enabled")
