"""Instance rows: creation, claims on a compute node, errors with faults, lookup, edits,
soft delete. The only code that writes Instance rows (tests/unit/test_process_lines.py).

State changes are compare-and-swaps on the task state (``Instance.save`` with
``expected_task_state``, nova/db/main/api.py ``_instance_update``): a build step saves its
next state only if the task state is still the one it left; when a delete came in
meanwhile (``deleting``) or the row is gone, the step learns it and stops instead of
overwriting the delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Row, bindparam, delete, false, insert, select, update
from sqlalchemy.orm import Session, selectinload

from stackling import exception
from stackling.compute import power_state
from stackling.compute.objects import bdm, console_auth_token
from stackling.db.api import retry_on_deadlock, retry_on_disconnect
from stackling.db.inlist import InList
from stackling.db.models import new_uuid, utcnow
from stackling.db.models_compute import (
    BlockDeviceMapping,
    ComputeNode,
    Instance,
    InstanceFault,
    InstanceMetadata,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from stackling.cloud import Cloud
    from stackling.context import RequestContext


_TABLE, _META = Instance.__table__, InstanceMetadata.__table__
_INSERT, _INSERT_META = insert(_TABLE), insert(_META)    # columns from the parameters


def add(s: Session, metadata: dict[str, str], **values) -> str:
    """A new instance row with its metadata (the API's create); returns its uuid. Core
    INSERTs (the columns' defaults apply as with an ORM object)."""
    values.setdefault("uuid", new_uuid())
    instance_id = s.execute(_INSERT, values).inserted_primary_key[0]
    if metadata:
        s.execute(_INSERT_META, [{"instance_id": instance_id, "key": k, "value": v}
                                 for k, v in metadata.items()])
    return values["uuid"]


def update_fields(inst: Instance, **values) -> None:
    """Save ``values`` on an instance the caller loaded and checked, in the caller's
    transaction (as Nova's API sets fields and calls ``instance.save()`` after its checks)."""
    for key, value in values.items():
        setattr(inst, key, value)


def set_metadata(inst: Instance, values: dict[str, str], replace: bool) -> None:
    """Merge ``values`` into the instance's metadata (``replace``: drop the other keys)."""
    current = {m.key: m for m in inst.metadata_items}
    if replace:
        for key in list(current):
            if key not in values:
                inst.metadata_items.remove(current.pop(key))
    for key, value in values.items():
        if key in current:
            current[key].value = value
        else:
            inst.metadata_items.append(InstanceMetadata(key=key, value=value))


def delete_metadata_item(inst: Instance, key: str) -> bool:
    """Drop one metadata key; False when the instance has no such key."""
    item = next((m for m in inst.metadata_items if m.key == key), None)
    if item is not None:
        inst.metadata_items.remove(item)
    return item is not None


_METADATA_OF = InList("id", lambda marks: (
    select(_META.c.instance_id, _META.c.key, _META.c.value)
    .where(_META.c.instance_id.in_(marks)).order_by(_META.c.id)))


def metadata_of(s: Session, instance_ids: list[int]) -> dict[int, dict[str, str]]:
    """The metadata of these instances by instance id, in one query (views of many)."""
    out: dict[int, dict[str, str]] = {}
    if instance_ids:
        for row in s.execute(*_METADATA_OF(instance_ids)):
            out.setdefault(row.instance_id, {})[row.key] = row.value
    return out


_FAULTS = InstanceFault.__table__
_FAULTS_OF = InList("uuid", lambda marks: (
    select(_FAULTS.c.instance_uuid, _FAULTS.c.code, _FAULTS.c.message, _FAULTS.c.details,
           _FAULTS.c.created_at)
    .where(_FAULTS.c.instance_uuid.in_(marks)).order_by(_FAULTS.c.id)))


def faults_of(s: Session, instance_uuids: list[str]) -> dict[str, dict]:
    """The latest fault of each of these instances, by uuid, in one query."""
    out: dict[str, dict] = {}
    if instance_uuids:
        for f in s.execute(*_FAULTS_OF(instance_uuids)):
            out[f.instance_uuid] = {"code": f.code, "message": f.message,
                                    "details": f.details, "created_at": f.created_at}
    return out


def claimed_disk(inst: Instance) -> int:
    """Local disk a server takes: a volume-backed server's root is not on the host."""
    bfv = bool((inst.scheduler_hints or {}).get("_is_bfv"))
    return inst.ephemeral_gb + (0 if bfv else inst.root_gb)


def instance_dict(inst: Instance) -> dict:
    return {"uuid": inst.uuid, "vcpus": inst.vcpus, "memory_mb": inst.memory_mb,
            "root_gb": claimed_disk(inst), "host": inst.host, "node": inst.node,
            "availability_zone": inst.availability_zone, "requested_az": inst.requested_az,
            "bfv": bool((inst.scheduler_hints or {}).get("_is_bfv"))}


_NODES = ComputeNode.__table__
# The claim's compare-and-swap, built once: the resources still fit on the node.
_n, _vcpus, _ram, _disk = _NODES.c, bindparam("claim_vcpus"), bindparam("claim_ram"), \
    bindparam("claim_disk")
_CLAIM = update(_NODES).where(
    _n.hypervisor_hostname == bindparam("claim_node"),
    _n.vcpus_used + _vcpus <= (_n.vcpus - _n.reserved_vcpus) * _n.cpu_allocation_ratio,
    _n.memory_mb_used - _n.reserved_memory_mb + _ram
    <= (_n.memory_mb - _n.reserved_memory_mb) * _n.ram_allocation_ratio,
    _n.local_gb_used + _disk
    <= (_n.local_gb - _n.reserved_disk_gb) * _n.disk_allocation_ratio,
).values(vcpus_used=_n.vcpus_used + _vcpus, memory_mb_used=_n.memory_mb_used + _ram,
         local_gb_used=_n.local_gb_used + _disk, running_vms=_n.running_vms + 1,
         updated_at=bindparam("now"))


def claim(cloud: Cloud, node: str, vcpus: int, memory_mb: int, disk_gb: int) -> bool:
    """Take the resources on ``node`` if they still fit (compare-and-swap); True on success."""
    with cloud.db.writer_connection() as s:
        return s.execute(_CLAIM, {"claim_node": node, "claim_vcpus": vcpus,
                                  "claim_ram": memory_mb, "claim_disk": disk_gb,
                                  "now": utcnow()}).rowcount == 1


def release(s, node: str | None, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    """Give a claim back (inside the caller's write transaction)."""
    if not node:
        return
    n = ComputeNode
    s.execute(update(n).where(n.hypervisor_hostname == node).values(
        vcpus_used=n.vcpus_used - vcpus, memory_mb_used=n.memory_mb_used - memory_mb,
        local_gb_used=n.local_gb_used - disk_gb, running_vms=n.running_vms - 1,
        updated_at=utcnow()))


def leave_host(s: Session, row: Instance | None, vcpus: int, memory_mb: int,
               disk_gb: int) -> None:
    """A build that failed or was cut short leaves its host: the claim goes back and the
    row names no host or node any more (so a delete does not wait for that host)."""
    if row is not None and row.node:
        release(s, row.node, vcpus, memory_mb, disk_gb)
        row.host = row.node = None


def add_fault(cloud: Cloud, instance_uuid: str, message: str, details: str,
              code: int = 500, host: str | None = None, **values) -> None:
    """A fault on a server that keeps its state (e.g. a move that found no host);
    ``values`` are set on the instance in the same transaction."""
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        for key, value in values.items():
            setattr(inst, key, value)
        s.add(InstanceFault(instance_uuid=instance_uuid, code=code, message=message[:255],
                            details=details, host=host))


def set_error(cloud: Cloud, instance_uuid: str, message: str, details: str,
              code: int = 500, host: str | None = None) -> None:
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted:
            return
        if inst.task_state != "deleting":   # a delete under way keeps its task state
            inst.vm_state, inst.task_state = "error", None
        s.add(InstanceFault(instance_uuid=instance_uuid, code=code, message=message[:255],
                            details=details, host=host))


@retry_on_disconnect
def fail_build(cloud: Cloud, instance_uuid: str, message: str, details: str,
               host: str | None = None) -> None:
    """A build that cannot go on (the conductor could not hand it to a host, or the host
    failed outside its own error handling): ERROR with its fault, off the host it may
    have been placed on (its claim given back), unless it is being deleted (the delete
    then releases what it finds). Retried while the database is unreachable."""
    with cloud.db.writer() as s:
        inst = s.query(Instance).filter_by(uuid=instance_uuid).one_or_none()
        if inst is None or inst.deleted or inst.vm_state != "building":
            return      # gone, or ended meanwhile (ERROR or ACTIVE): nothing to bury
        if inst.task_state != "deleting":
            leave_host(s, inst, inst.vcpus, inst.memory_mb, claimed_disk(inst))
            inst.vm_state, inst.task_state = "error", None
        s.add(InstanceFault(instance_uuid=instance_uuid, code=500, message=message[:255],
                            details=details, host=host))


@retry_on_deadlock
def delete_instance_row(cloud: Cloud, instance_uuid: str, release_claim: bool) -> bool:
    """Soft-delete the instance (Nova: deleted = id), drop its BDMs and give its claim
    back; only the caller that deleted it gives the claim back. True when deleted here."""
    with cloud.db.writer() as s:
        inst = s.execute(select(Instance.node, Instance.vcpus, Instance.memory_mb,
                                Instance.ephemeral_gb, Instance.root_gb,
                                Instance.scheduler_hints)
                         .where(Instance.uuid == instance_uuid, Instance.deleted == 0)).first()
        if inst is None or not mark_deleted(s, instance_uuid):
            return False
        if release_claim and inst.node:
            release(s, inst.node, inst.vcpus, inst.memory_mb, claimed_disk(inst))
        s.execute(delete(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == instance_uuid))
        return True


class InstanceNotFound(exception.NotFound):
    msg_fmt = "Instance %(instance_id)s could not be found."


def by_uuid(s, instance_uuid: str) -> Instance | None:
    """The instance row, deleted or not (workers check ``deleted`` themselves)."""
    return s.scalar(select(Instance).where(Instance.uuid == instance_uuid)
                    .order_by(Instance.deleted))


_FIELDS = select(_TABLE).where(_TABLE.c.uuid == bindparam("uuid"))


def fields(s, instance_uuid: str) -> Row | None:
    """The instance's columns as a read-only row (attributes named as Instance's), deleted
    or not: for workers that only read it, without the cost of an ORM object."""
    return s.execute(_FIELDS, {"uuid": instance_uuid}).first()


_LIVE = _FIELDS.where(_TABLE.c.deleted == 0)


def visible_row(s, ctx: RequestContext, server_id: str) -> Row:
    """``get`` as a read-only row (attributes named as Instance's): for views that only
    read the instance (GET /servers/{id}, polled while a server builds)."""
    return _visible(s.execute(_LIVE, {"uuid": server_id}).first(), ctx, server_id)


def _visible(inst, ctx: RequestContext, server_id: str):
    """``inst`` (a live instance or None) if ``ctx`` may see it; InstanceNotFound if not."""
    if inst is None or (inst.project_id != ctx.project_id and not ctx.is_admin):
        raise InstanceNotFound(instance_id=server_id)
    return inst


def get(s, ctx: RequestContext, server_id: str, metadata: bool = False) -> Instance:
    """The live instance ``server_id`` as ``ctx`` may see it; InstanceNotFound otherwise.
    ``metadata``: with its metadata items loaded (to read or change them)."""
    q = select(Instance).where(Instance.uuid == server_id, Instance.deleted == 0)
    if metadata:
        q = q.options(selectinload(Instance.metadata_items))
    return _visible(s.scalar(q), ctx, server_id)


_ANY = object()


class UnexpectedTaskState(exception.Conflict):
    msg_fmt = ("Conflict updating instance %(instance_uuid)s. Expected: "
               "%(expected)s. Actual: %(actual)s")


class UnexpectedDeletingTaskState(UnexpectedTaskState):
    pass


def _states(expected) -> list:
    return list(expected) if isinstance(expected, (list, tuple, set, frozenset)) \
        else [expected]


def _expects(expected) -> tuple[bool, bool] | None:
    """How a column is checked: None (not at all), else (against values, against NULL)."""
    if expected is _ANY:
        return None
    states = _states(expected)
    return any(x is not None for x in states), None in states


_CAS: dict[tuple, object] = {}


def _cas(task: tuple[bool, bool] | None, vm: tuple[bool, bool] | None):
    """The compare-and-swap UPDATE for these checks, built once (a third of the cost of a
    save is building a statement); the SET columns come from the parameters."""
    stmt = _CAS.get((task, vm))
    if stmt is None:
        c = _TABLE.c
        stmt = update(_TABLE).where(c.uuid == bindparam("instance_uuid"), c.deleted == 0)
        for column, check in ((c.task_state, task), (c.vm_state, vm)):
            if check is not None:
                with_values, with_null = check
                cond = column.in_(bindparam(f"expected_{column.name}", expanding=True)) \
                    if with_values else false()
                stmt = stmt.where(cond | column.is_(None) if with_null else cond)
        stmt = _CAS.setdefault((task, vm), stmt)
    return stmt


def conditional_update(s: Session, instance_uuid: str, expected_task_state=_ANY,
                       expected_vm_state=_ANY, **values) -> None:
    """Save ``values`` on a live instance whose states are the expected ones; raise
    InstanceNotFound / UnexpectedDeletingTaskState / UnexpectedTaskState otherwise.
    A Core UPDATE of the table (no ORM objects are synchronised, nor were they before)."""
    params = {"instance_uuid": instance_uuid, "updated_at": utcnow(), **values}
    checks = _expects(expected_task_state), _expects(expected_vm_state)
    for name, expected, check in (("task_state", expected_task_state, checks[0]),
                                  ("vm_state", expected_vm_state, checks[1])):
        if check is not None and check[0]:
            params[f"expected_{name}"] = [x for x in _states(expected) if x is not None]
    if s.execute(_cas(*checks), params).rowcount == 1:
        return
    c = _TABLE.c
    row = s.execute(select(c.task_state, c.vm_state, c.deleted)
                    .where(c.uuid == instance_uuid)).first()
    if row is None or row.deleted:
        raise InstanceNotFound(instance_id=instance_uuid)
    expected = expected_task_state if expected_task_state is not _ANY else expected_vm_state
    actual = row.task_state if expected_task_state is not _ANY else row.vm_state
    cls = UnexpectedDeletingTaskState if row.task_state == "deleting" else \
        UnexpectedTaskState
    raise cls(instance_uuid=instance_uuid, expected=expected, actual=actual)


@retry_on_deadlock
def save(cloud, instance_uuid: str, expected_task_state=_ANY, expected_vm_state=_ANY,
         then: Callable[[Session], None] | None = None, **values) -> None:
    """``conditional_update`` in a transaction of its own (retried whole on a deadlock);
    ``then(s)``: the caller's writes that go with it, in the same transaction."""
    with cloud.db.writer_connection() as s:
        conditional_update(s, instance_uuid, expected_task_state, expected_vm_state,
                           **values)
        if then is not None:
            then(s)


def mark_deleted(s: Session, instance_uuid: str, only_unscheduled: bool = False) -> bool:
    """Soft-delete (Nova: ``deleted = id``) and drop its console tokens; with
    ``only_unscheduled`` only while no host was chosen. True when this call deleted it."""
    now = utcnow()
    q = update(Instance).where(Instance.uuid == instance_uuid, Instance.deleted == 0)
    if only_unscheduled:
        q = q.where(Instance.host.is_(None))
    if s.execute(q.values(deleted=Instance.id, deleted_at=now, terminated_at=now,
                          updated_at=now, vm_state="deleted", task_state=None,
                          power_state=power_state.NOSTATE)
                 .execution_options(synchronize_session=False)).rowcount != 1:
        return False
    # Its console tokens go with it (ConsoleAuthToken.clean_console_auths_for_instance).
    console_auth_token.clean_console_auths_for_instance(s, instance_uuid)
    return True


def begin_delete(s: Session, instance_uuid: str) -> tuple[bool, str | None, list[dict]]:
    """The API's half of a delete: an instance no host took is deleted now (unless a host
    is chosen meanwhile: then the conductor's compare-and-swap or this one fails, never
    both); otherwise its task state becomes ``deleting`` for its host to finish.
    Returns (deleted now, host, the BDMs it had)."""
    bdms: list[dict] = []
    if s.scalar(select(Instance.host).where(Instance.uuid == instance_uuid)) is None:
        bdms = [bdm.bdm_dict(b) for b in s.scalars(select(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == instance_uuid))]
        if mark_deleted(s, instance_uuid, only_unscheduled=True):
            s.execute(delete(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == instance_uuid))
            return True, None, bdms
    s.execute(update(Instance).where(Instance.uuid == instance_uuid, Instance.deleted == 0)
              .values(task_state="deleting", updated_at=utcnow())
              .execution_options(synchronize_session=False))
    return False, s.scalar(select(Instance.host).where(Instance.uuid == instance_uuid)), []
