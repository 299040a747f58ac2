"""/os-instance_usage_audit_log: the state of the compute hosts' usage audit for the
last completed audit period (nova/api/openstack/compute/instance_usage_audit_log.py).

Nova's computes write a task log row per audit period only when
``[DEFAULT] instance_usage_audit`` is on (default off). We never run that periodic
task, so, as on a default Nova, no host has a log: every compute host is "not run".
"""

from __future__ import annotations

import datetime as dt

from stackling import exception, policy
from stackling.compute.api import common
from stackling.compute.objects import zones as az
from stackling.db.models import utcnow
from stackling.web.app import Request, json_response

policy.register({
    "os_compute_api:os-instance-usage-audit-log:list": common.ADMIN,
    "os_compute_api:os-instance-usage-audit-log:show": common.ADMIN,
})


def _months_back(when: dt.datetime, day: int) -> dt.datetime:
    """Day ``day`` of the month before ``when``'s month, at midnight."""
    year, month = (when.year - 1, 12) if when.month == 1 else (when.year, when.month - 1)
    return dt.datetime(year, month, day)


def audit_period(unit: str, before: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """nova.utils.last_completed_audit_period: the latest period (``hour``, ``day``,
    ``month`` or ``year``, optionally ``@offset``) that ended strictly before ``before``."""
    unit, _, offset_text = unit.partition("@")
    offset = int(offset_text or 0)
    if unit == "month":
        day = offset or 1
        end = dt.datetime(before.year, before.month, day)
        if end >= before:
            end = _months_back(end, day)
        return _months_back(end, day), end
    if unit == "year":
        month = offset or 1
        end = dt.datetime(before.year, month, 1)
        if end >= before:
            end = end.replace(year=end.year - 1)
        return end.replace(year=end.year - 1), end
    if unit == "day":
        end = dt.datetime(before.year, before.month, before.day, offset)
        if end >= before:
            end -= dt.timedelta(days=1)
        return end - dt.timedelta(days=1), end
    end = before.replace(minute=offset, second=0, microsecond=0)
    if end >= before:
        end -= dt.timedelta(hours=1)
    return end - dt.timedelta(hours=1), end


def _audit_log(req: Request, before: dt.datetime) -> dict:
    """``_get_audit_task_logs`` with no task logs: every compute host (disabled ones
    too, they may hold instances) is counted as not run."""
    begin, end = audit_period(common.conf(req).instance_usage_audit_period, before)
    with req.app.cloud.db.reader() as s:
        hosts = sorted({svc.host for svc in az.nova_services(s, common.conf(req),
                                                             binary="nova-compute")})
    done = "ALL" if not hosts else f"0 of {len(hosts)}"
    return {"period_beginning": str(begin), "period_ending": str(end),
            "num_hosts": len(hosts), "num_hosts_done": 0, "num_hosts_running": 0,
            "num_hosts_not_run": len(hosts), "hosts_not_run": hosts,
            "total_instances": 0, "total_errors": 0,
            "overall_status": f"{done} hosts done. 0 errors.", "log": {}}


def list_audit_logs(req: Request):
    """``GET /os-instance_usage_audit_log``: the period completed before now."""
    common.authorize(req, "os_compute_api:os-instance-usage-audit-log:list")
    return json_response({"instance_usage_audit_logs": _audit_log(req, utcnow())})


def show_audit_log(req: Request, before: str):
    """``GET /os-instance_usage_audit_log/{before}``: ``before`` is
    ``%Y-%m-%d %H:%M:%S`` with optional ``.%f``; anything else is Nova's 400."""
    common.authorize(req, "os_compute_api:os-instance-usage-audit-log:show")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in before else "%Y-%m-%d %H:%M:%S"
    try:
        when = dt.datetime.strptime(before, fmt)
    except ValueError:
        raise exception.BadRequest(f"Invalid timestamp for date {before}") from None
    return json_response({"instance_usage_audit_log": _audit_log(req, when)})
