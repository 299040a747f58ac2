"""``POST /servers/{id}/action``: Nova's state machine for the actions served.

Each action checks, in Nova's order (nova/compute/api.py): the server (404), the policy
(403), the lock (409 ``Instance <uuid> is locked`` for non-admins), the state
(``check_instance_state``: vm_state, then task_state, then launched_at; 409 ``Cannot
'<action>' instance <uuid> while it is in <attr> <state>``), then sets the task state,
records the instance action and casts to the server's compute host, whose manager ends the
task (nova-lifecycle reference §§0, 7).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from stackling import exception, policy
from stackling.compute import consoles
from stackling.compute.api import common
from stackling.compute.objects import instance as instances
from stackling.compute.objects import instance_action
from stackling.db.models import utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response

OWNER, ADMIN = common.OWNER, common.ADMIN
policy.register({
    "os_compute_api:os-pause-server:pause": OWNER,
    "os_compute_api:os-pause-server:unpause": OWNER,
    "os_compute_api:os-suspend-server:suspend": OWNER,
    "os_compute_api:os-suspend-server:resume": OWNER,
    "os_compute_api:os-rescue": OWNER,
    "os_compute_api:os-unrescue": OWNER,
    "os_compute_api:servers:trigger_crash_dump": OWNER,
    "os_compute_api:os-lock-server:lock": OWNER,
    "os_compute_api:os-lock-server:unlock": OWNER,
    "os_compute_api:os-lock-server:unlock:unlock_override": ADMIN,
    "os_compute_api:os-admin-password": OWNER,
    "os_compute_api:os-console-output": OWNER,
    "os_compute_api:os-remote-consoles": OWNER,
    "os_compute_api:os-admin-actions:inject_network_info": ADMIN,
})

ANY_TASK = object()   # a task state set that admits every task


@dataclass(frozen=True)
class Action:
    """One state action: who may, from which states, the task it sets, the host's method."""

    name: str                       # the API's action name (409 texts, instance actions)
    rule: str
    vm_states: tuple[str, ...]
    task: str | None                # task_state the API sets
    rpc: str                        # the compute manager method
    task_states: Any = (None,)
    lock: bool = True
    min_version: str | None = None
    record: str | None = None       # instance action name when it differs from ``name``


HARD_REBOOT_TASKS = (None, "rebooting", "reboot_pending", "reboot_started", "rebooting_hard",
                     "resuming", "unpausing", "pausing", "suspending")

ACTIONS = {a.name if a.name not in ("start", "stop") else f"os-{a.name}": a for a in (
    Action("start", "os_compute_api:servers:start", ("stopped",), "powering-on",
           "start_instance"),
    Action("stop", "os_compute_api:servers:stop", ("active", "error"), "powering-off",
           "stop_instance"),
    Action("pause", "os_compute_api:os-pause-server:pause", ("active",), "pausing",
           "pause_instance"),
    Action("unpause", "os_compute_api:os-pause-server:unpause", ("paused",), "unpausing",
           "unpause_instance"),
    Action("suspend", "os_compute_api:os-suspend-server:suspend", ("active",), "suspending",
           "suspend_instance"),
    Action("resume", "os_compute_api:os-suspend-server:resume", ("suspended",), "resuming",
           "resume_instance"),
    Action("unrescue", "os_compute_api:os-unrescue", ("rescued",), "unrescuing",
           "unrescue_instance"),
    Action("trigger_crash_dump", "os_compute_api:servers:trigger_crash_dump",
           ("active", "paused", "rescued", "resized", "error"), None, "trigger_crash_dump",
           min_version="2.17"),
)}
REBOOT = {"SOFT": Action("reboot", "os_compute_api:servers:reboot", ("active",), "rebooting",
                         "reboot_instance"),
          "HARD": Action("reboot", "os_compute_api:servers:reboot",
                         ("active", "stopped", "paused", "suspended", "error"),
                         "rebooting_hard", "reboot_instance", task_states=HARD_REBOOT_TASKS)}
RESCUE = Action("rescue", "os_compute_api:os-rescue", ("active", "stopped", "error"),
                "rescuing", "rescue_instance")
CHANGE_PASSWORD = Action("changePassword", "os_compute_api:os-admin-password", ("active",),
                         "updating_password", "set_admin_password")

# Nova actions stackling does not serve (yet): a missing server is still a 404 first.
UNSERVED = frozenset((
    "addFixedIp", "forceDelete", "os-getRDPConsole", "removeFixedIp", "resetNetwork"))


def invalid_state(action: str, uuid: str, attr: str, state: Any) -> exception.Conflict:
    """``raise_http_conflict_for_instance_invalid_state`` (no final period)."""
    return exception.Conflict(f"Cannot '{action}' instance {uuid} while it is in "
                              f"{attr} {state}")


def check_state(inst: Instance, action: str, vm_states: tuple[str, ...],
                task_states: Any = (None,), must_have_launched: bool = True) -> None:
    """``check_instance_state``: vm_state, then task_state, then launched_at."""
    if inst.vm_state not in vm_states:
        raise invalid_state(action, inst.uuid, "vm_state", inst.vm_state)
    if task_states is not ANY_TASK and inst.task_state not in task_states:
        raise invalid_state(action, inst.uuid, "task_state", inst.task_state)
    if must_have_launched and inst.launched_at is None:
        raise invalid_state(action, inst.uuid, "launched_at", None)


def check_locked(req: Request, inst: Instance) -> None:
    """``check_instance_lock``: a locked server refuses everyone but admins."""
    if inst.locked and not req.context.is_admin:
        raise exception.Conflict(f"Instance {inst.uuid} is locked")


def check_host(inst: Instance) -> None:
    if not inst.host:
        raise exception.Conflict(f"Instance {inst.uuid} is not ready")


def _begin(req: Request, server_id: str, action: Action) -> tuple[str, str]:
    """Checks in Nova's order, then task state and the instance action; (host, request_id)."""
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, action.rule, {"project_id": inst.project_id})
        if action.lock:
            check_locked(req, inst)
        check_state(inst, action.name, action.vm_states, action.task_states)
        check_host(inst)
        task = {"task_state": action.task} if action.task is not None else {}
        instances.update_fields(inst, updated_at=utcnow(), **task)
        instance_action.record(s, req.context, inst.uuid, action.record or action.name)
        return inst.host, req.context.request_id


def _null_body(action: str, data: Any) -> None:
    if data is not None and data != {}:
        raise exception.ValidationError(field=action, value=data,
                                        detail=f"{data!r} is not of type 'null'")


def state_action(req: Request, server_id: str, action: Action, data: Any, **kwargs):
    host, request_id = _begin(req, server_id, action)
    req.app.cloud.rpc.cast(f"compute.{host}", action.rpc, instance_uuid=server_id,
                           request_id=request_id, **kwargs)
    return empty_response(202)


def _reboot(req: Request, server_id: str, data: Any):
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise exception.ValidationError(field="reboot.type", value=kind,
                                        detail=f"{kind!r} is not one of ['HARD', 'Hard', "
                                               "'hard', 'SOFT', 'Soft', 'soft']")
    return state_action(req, server_id, REBOOT[kind.upper()], data,
                         reboot_type=kind.upper())


def _password(length: int = 12) -> str:
    """``utils.generate_password``: letters and digits, no look-alikes."""
    alphabet = [c for c in string.ascii_letters + string.digits if c not in "0OIl1"]
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _rescue(req: Request, server_id: str, data: Any):
    """rescue: 200 with the rescue password (``[api] enable_instance_password``)."""
    if data is not None and not isinstance(data, dict):
        raise exception.ValidationError(field="rescue", value=data,
                                        detail=f"{data!r} is not of type 'object', 'null'")
    data = data or {}
    common.reject_extra("rescue", data, {"adminPass", "rescue_image_ref"})
    password = data.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise exception.ValidationError(field="rescue/adminPass", value=password,
                                        detail=f"{password!r} is not of type 'string'")
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        volume_backed = bool((inst.scheduler_hints or {}).get("_is_bfv"))
    if volume_backed and not req.version.matches("2.87"):
        raise exception.BadRequest(f"Instance {server_id} cannot be rescued: Cannot rescue a "
                                   "volume-backed instance")
    password = password or _password()
    state_action(req, server_id, RESCUE, data, rescue_password=password)
    return json_response({"adminPass": password})


def _change_password(req: Request, server_id: str, data: Any):
    """changePassword: a synchronous call to the host; 202 once the driver set it."""
    password = data.get("adminPass") if isinstance(data, dict) else None
    if not isinstance(password, str):
        raise exception.ValidationError(field="changePassword/adminPass", value=password,
                                        detail="'adminPass' is a required property"
                                        if password is None else
                                        f"{password!r} is not of type 'string'")
    host, request_id = _begin(req, server_id, CHANGE_PASSWORD)
    req.app.cloud.rpc.call(f"compute.{host}", "set_admin_password", instance_uuid=server_id,
                           new_pass=password, request_id=request_id)
    return empty_response(202)


def _lock(req: Request, server_id: str, data: Any):
    """lock (2.73: an optional ``locked_reason``): no state check; an owner re-locking is a
    no-op without an action record."""
    reason = None
    if data is not None:
        if not isinstance(data, dict) or not req.version.matches("2.73"):
            _null_body("lock", data)
        else:
            common.reject_extra("lock", data, {"locked_reason"})
            reason = data.get("locked_reason")
            if reason is not None and (not isinstance(reason, str)
                                       or not 1 <= len(reason) <= 255):
                raise exception.ValidationError(
                    field="lock/locked_reason", value=reason,
                    detail=f"{reason!r} is not of type 'string'" if not isinstance(
                        reason, str) else f"{reason!r} is too long" if reason else
                    "'' should be non-empty")
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        common.authorize(req, "os_compute_api:os-lock-server:lock",
                         {"project_id": inst.project_id})
        by = "owner" if inst.project_id == ctx.project_id else "admin"
        if inst.locked and inst.locked_by == by == "owner":
            return empty_response(202)
        instances.update_fields(inst, locked=True, locked_by=by, locked_reason=reason,
                                updated_at=utcnow())
        instance_action.record(s, ctx, inst.uuid, "lock")
    return empty_response(202)


def _unlock(req: Request, server_id: str, data: Any):
    _null_body("unlock", data)
    ctx = req.context
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, ctx, server_id)
        target = {"project_id": inst.project_id}
        common.authorize(req, "os_compute_api:os-lock-server:unlock", target)
        by = "owner" if inst.project_id == ctx.project_id else "admin"
        if inst.locked and inst.locked_by and inst.locked_by != by:
            common.authorize(req, "os_compute_api:os-lock-server:unlock:unlock_override",
                             target)
        instances.update_fields(inst, locked=False, locked_by=None, locked_reason=None,
                                updated_at=utcnow())
        instance_action.record(s, ctx, inst.uuid, "unlock")
    return empty_response(202)


def _console_output(req: Request, server_id: str, data: Any):
    """os-getConsoleOutput: the last ``length`` lines (null: all), 200."""
    length = data.get("length") if isinstance(data, dict) else None
    if isinstance(data, dict):
        common.reject_extra("os-getConsoleOutput", data, {"length"})
    elif data is not None:
        raise exception.ValidationError(field="os-getConsoleOutput", value=data,
                                        detail=f"{data!r} is not of type 'object'")
    if length is not None:
        length = common.validate_integer(length, "length", -1)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-console-output",
                         {"project_id": inst.project_id})
        check_host(inst)
        host = inst.host
    output = req.app.cloud.rpc.call(f"compute.{host}", "get_console_output",
                                    instance_uuid=server_id) or ""
    if length is not None:
        # The compute manager's _tail_log: the last ``length`` pieces of the log split at
        # newlines (a final newline leaves an empty one; -1 drops only the first line).
        output = "\n".join(output.split("\n")[-length:]) if length else ""
    output = "".join(c for c in output if c in "\t\n" or ord(c) >= 0x20)
    return json_response({"output": output})


def _legacy_console(protocol: str, types: tuple[str, ...]):
    """``os-getVNCConsole`` / ``os-getSPICEConsole`` / ``os-getSerialConsole`` (≤ 2.5)."""
    def handler(req: Request, server_id: str, data: Any):
        if req.version.matches("2.6"):
            raise exception.BadRequest(f"There is no such action: {_LEGACY_NAMES[protocol]}")
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in types:
            raise exception.ValidationError(field=f"{_LEGACY_NAMES[protocol]}/type", value=kind,
                                            detail=f"{kind!r} is not one of {list(types)}")
        return json_response({"console": console(req, server_id, protocol, kind)})
    return handler


_LEGACY_NAMES = {"vnc": "os-getVNCConsole", "spice": "os-getSPICEConsole",
                 "serial": "os-getSerialConsole"}


def console(req: Request, server_id: str, protocol: str, kind: str) -> dict:
    """The console URL its proxy hands out, with a fresh token (compute/consoles.py)."""
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-remote-consoles",
                         {"project_id": inst.project_id})
        check_host(inst)
    return {"type": kind, "url": consoles.authorize(req.app.cloud, server_id, kind)}


SPECIAL = {
    "reboot": _reboot, "rescue": _rescue, "changePassword": _change_password,
    "lock": _lock, "unlock": _unlock, "os-getConsoleOutput": _console_output,
    "os-getVNCConsole": _legacy_console("vnc", ("novnc", "xvpvnc")),
    "os-getSPICEConsole": _legacy_console("spice", ("spice-html5",)),
    "os-getSerialConsole": _legacy_console("serial", ("serial",)),
}


_RESET_STATES = {"active": "active", "error": "error"}


def reset_state(req: Request, server_id: str, data: Any):
    """os-resetState (admin): vm_state active or error, task_state cleared; 202."""
    if not isinstance(data, dict) or "state" not in data:
        raise exception.ValidationError(field="os-resetState", value=data,
                                        detail="'state' is a required property")
    common.reject_extra("os-resetState", data, {"state"})
    state = data["state"]
    if not isinstance(state, str) or state not in _RESET_STATES:
        raise exception.ValidationError(field="os-resetState/state", value=state,
                                        detail=f"{state!r} is not one of ['active', 'error']")
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-admin-actions:reset_state",
                         {"project_id": inst.project_id})
        instances.update_fields(inst, vm_state=_RESET_STATES[state], task_state=None,
                                updated_at=utcnow())
    return empty_response(202)


def inject_network_info(req: Request, server_id: str, data: Any = None):
    """injectNetworkInfo (admin): a cast to the host, no state check and no instance
    action; only the lock is checked (non-admins are refused by the policy first)."""
    _null_body("injectNetworkInfo", data)
    with req.app.cloud.db.reader() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-admin-actions:inject_network_info",
                         {"project_id": inst.project_id})
        check_locked(req, inst)
        host = inst.host
    if host:
        req.app.cloud.rpc.cast(f"compute.{host}", "inject_network_info",
                               instance_uuid=server_id, request_id=req.context.request_id)
    return empty_response(202)


def restore(req: Request, server_id: str, data: Any = None):
    """restore (os-deferred-delete): only a soft-deleted server; stackling deletes at once
    (reclaim_instance_interval = 0), so every server present answers 409 as Nova does."""
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:os-deferred-delete:restore",
                         {"project_id": inst.project_id})
        if inst.vm_state != "soft-delete":
            raise exception.Conflict(f"Cannot 'restore' instance {server_id} while it is "
                                     f"in vm_state {inst.vm_state}")
        instances.update_fields(inst, vm_state="active", task_state=None,
                                updated_at=utcnow())
    return empty_response(202)
