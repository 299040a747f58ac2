"""Cinder's exceptions with their user-visible texts (cinder/exception.py)."""

from __future__ import annotations

from stackling import exception


class Invalid(exception.BadRequest):
    msg_fmt = "Unacceptable parameters."


class InvalidVolume(Invalid):
    msg_fmt = "Invalid volume: %(reason)s"


class InvalidSnapshot(Invalid):
    msg_fmt = "Invalid snapshot: %(reason)s"


class InvalidVolumeType(Invalid):
    msg_fmt = "Invalid volume type: %(reason)s"


class InvalidAvailabilityZone(Invalid):
    msg_fmt = "Availability zone '%(az)s' is invalid."


class InvalidTypeAvailabilityZones(Invalid):
    msg_fmt = "Volume type is only supported in these availability zones: %(az)s"


class InvalidVolumeAttachMode(Invalid):
    msg_fmt = "Invalid attaching mode '%(mode)s' for volume %(volume_id)s."


class InvalidUUID(Invalid):
    msg_fmt = "Expected a UUID but received %(uuid)s."


class ResourceConflict(Invalid):
    code = 409
    msg_fmt = "Resource conflict: %(reason)s"


class VolumeAttachmentNotFound(exception.NotFound):
    msg_fmt = "Volume attachment could not be found with filter: %(filter)s."


class ImageUnacceptable(Invalid):
    msg_fmt = "Image %(image_id)s is unacceptable: %(reason)s"


class VolumeNotFound(exception.NotFound):
    msg_fmt = "Volume %(volume_id)s could not be found."


class SnapshotNotFound(exception.NotFound):
    msg_fmt = "Snapshot %(snapshot_id)s could not be found."


class VolumeTypeNotFound(exception.NotFound):
    msg_fmt = "Volume type %(volume_type_id)s could not be found."


class VolumeTypeNotFoundByName(exception.NotFound):
    msg_fmt = "Volume type with name %(volume_type_name)s could not be found."


class VolumeTypeExists(exception.Conflict):
    msg_fmt = "Volume Type %(id)s already exists."


class VolumeTypeExtraSpecsNotFound(exception.NotFound):
    msg_fmt = "Volume Type %(volume_type_id)s has no extra specs with key %(extra_specs_key)s."


class MessageNotFound(exception.NotFound):
    msg_fmt = "Message %(message_id)s could not be found."


class ServiceNotFound(exception.NotFound):
    msg_fmt = "Service %(service_id)s could not be found."


class QuotaError(exception.OverLimit):
    """Quota errors are 'safe': the fault middleware shows them as ``<ClassName>: <text>``."""

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.message = f"{type(self).__name__}: {self.message}"
        self.args = (self.message,)


class VolumeSizeExceedsAvailableQuota(QuotaError):
    msg_fmt = ("Requested volume or snapshot exceeds allowed %(name)s quota. Requested "
               "%(requested)sG, quota is %(quota)sG and %(consumed)sG has been consumed.")


class VolumeSizeExceedsLimit(QuotaError):
    msg_fmt = "Requested volume size %(size)dG is larger than maximum allowed limit %(limit)dG."


class VolumeLimitExceeded(QuotaError):
    msg_fmt = "Maximum number of volumes allowed (%(allowed)d) exceeded for quota '%(name)s'."


class SnapshotLimitExceeded(QuotaError):
    msg_fmt = "Maximum number of snapshots allowed (%(allowed)d) exceeded"


class GroupLimitExceeded(QuotaError):
    msg_fmt = "Maximum number of groups allowed (%(allowed)d) exceeded"


class OverQuota(QuotaError):
    msg_fmt = "Quota exceeded for resources: %(overs)s"


class VolumeBackendAPIException(exception.StacklingError):
    msg_fmt = "Bad or unexpected response from the storage volume backend API: %(data)s"


class NoValidBackend(Exception):
    """The scheduler found no backend (never reaches the user as an HTTP error)."""


class RescheduleRequired(Exception):
    """The volume service failed in a way another backend might not."""


class VolumeTypeEncryptionNotFound(exception.NotFound):
    msg_fmt = "Volume type encryption for type %(type_id)s does not exist."


class VolumeTypeEncryptionExists(exception.BadRequest):
    msg_fmt = "Volume type encryption for type %(type_id)s already exists."
