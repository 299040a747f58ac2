"""GET /extensions: Cinder's API extensions (cinder/api/extensions.py), those stackling
serves. Each entry is the extension's name, alias, docstring and ``updated`` date as
Cinder's contrib modules declare them; backups, consistency groups and manage/unmanage
are not served here and so are not listed."""

from __future__ import annotations

from stackling.web.app import Request, json_response

# (name, alias, updated, description) from cinder/api/contrib/*.py
EXTENSIONS = (
    ("AdminActions", "os-admin-actions", "2012-08-25T00:00:00+00:00",
     "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "2013-06-27T00:00:00+00:00",
     "Describe Availability Zones."),
    ("Capabilities", "capabilities", "2015-08-31T00:00:00+00:00", "Capabilities support."),
    ("ExtendedServices", "os-extended-services", "2014-01-10T00:00:00-00:00",
     "Extended services support."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "2012-06-19T00:00:00+00:00", "Extended SnapshotAttributes support."),
    ("Hosts", "os-hosts", "2011-06-29T00:00:00+00:00", "Admin-only host administration."),
    ("Qos_specs_manage", "qos-specs", "2013-08-02T00:00:00+00:00", "QoS specs support."),
    ("QuotaClasses", "os-quota-class-sets", "2012-03-12T00:00:00+00:00",
     "Quota classes management support."),
    ("Quotas", "os-quota-sets", "2011-08-08T00:00:00+00:00", "Quota management support."),
    ("Scheduler_stats", "scheduler-stats", "2014-09-07T00:00:00+00:00",
     "Scheduler stats support."),
    ("Services", "os-services", "2012-10-28T00:00:00-00:00", "Services support."),
    ("SnapshotActions", "os-snapshot-actions", "2013-07-16T00:00:00+00:00",
     "Enable snapshot manager actions."),
    ("TypesExtraSpecs", "os-types-extra-specs", "2011-08-24T00:00:00+00:00",
     "Type extra specs support."),
    ("TypesManage", "os-types-manage", "2011-08-24T00:00:00+00:00", "Types manage support."),
    ("UsedLimits", "os-used-limits", "2013-10-03T00:00:00+00:00",
     "Provide data on limited resources that are being used."),
    ("VolumeActions", "os-volume-actions", "2012-05-31T00:00:00+00:00",
     "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "2011-11-03T00:00:00+00:00",
     "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "2012-12-07T00:00:00+00:00",
     "Show image metadata associated with the volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "2013-08-08T00:00:00+00:00",
     "Expose migration_status as an attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "2011-11-03T00:00:00+00:00",
     "Expose the internal project_id as an attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "2013-05-29T00:00:00+00:00",
     "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "2014-06-26T00:00:00Z",
     "Volume type access support."),
    ("VolumeTypeEncryption", "encryption", "2013-07-01T00:00:00+00:00",
     "Encryption support for volume types."),
)


def list_extensions(req: Request):
    """Any authenticated user may list them (no policy rule in Cinder)."""
    return json_response({"extensions": [
        {"name": name, "alias": alias, "description": description, "updated": updated,
         "links": []} for name, alias, updated, description in EXTENSIONS]})
