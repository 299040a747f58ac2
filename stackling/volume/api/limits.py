"""GET /limits: the absolute limits and usage of the caller's project (no rate limits)."""

from __future__ import annotations

from stackling.volume.api import common
from stackling.volume.objects import quota
from stackling.web.app import Request, json_response

NAMES = {"volumes": ("maxTotalVolumes", "totalVolumesUsed"),
         "snapshots": ("maxTotalSnapshots", "totalSnapshotsUsed"),
         "gigabytes": ("maxTotalVolumeGigabytes", "totalGigabytesUsed"),
         "backups": ("maxTotalBackups", "totalBackupsUsed"),
         "backup_gigabytes": ("maxTotalBackupGigabytes", "totalBackupGigabytesUsed")}


def show_limits(req: Request):
    common.authorize(req, "limits_extension:used_limits")
    cloud = req.app.cloud
    project = req.context.project_id
    if req.context.is_admin and "project_id" in req.GET:
        project = req.GET["project_id"]
    with cloud.db.reader() as s:
        lim = quota.limits(cloud, s, project)
        use = quota.usages(s, project)
    absolute = {}
    for res, (max_name, used_name) in NAMES.items():
        absolute[max_name] = lim.get(res, -1)
        u = use.get(res)
        absolute[used_name] = (u.in_use + u.reserved) if u else 0
    return json_response({"limits": {"rate": [], "absolute": absolute}})
