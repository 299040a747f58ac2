"""Host aggregates: the objects (Nova's AggregateAPI rules) and the /os-aggregates handlers.

The rule behind every check: a host may sit in many aggregates but in only one zone, and
a host that runs instances may not change zone (reference 3.4). The topology seed goes
through these same functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stackling import exception
from stackling.compute.api import common
from stackling.db.models import Aggregate, AggregateHost, AggregateMetadata, Service, utcnow
from stackling.db.models_compute import Instance
from stackling.web import validation
from stackling.web.app import Request, empty_response, json_response, read_json

if TYPE_CHECKING:
    from stackling.cloud import Cloud


class AggregateNameExists(exception.Conflict):
    msg_fmt = "Aggregate %(aggregate_name)s already exists."


class AggregateNotFound(exception.NotFound):
    msg_fmt = "Aggregate %(aggregate_id)s could not be found."


class AggregateHostExists(exception.Conflict):
    msg_fmt = "Aggregate %(aggregate_id)s already has host %(host)s."


class AggregateHostNotFound(exception.NotFound):
    msg_fmt = "Aggregate %(aggregate_id)s has no host %(host)s."


class HostMappingNotFound(exception.NotFound):
    msg_fmt = "Host '%(name)s' is not mapped to any cell"


class InvalidAggregateAction(exception.BadRequest):
    msg_fmt = "Unacceptable parameters."


class InvalidAggregateActionAdd(InvalidAggregateAction):
    msg_fmt = "Cannot add host to aggregate %(aggregate_id)s. Reason: %(reason)s."


class InvalidAggregateActionDelete(InvalidAggregateAction):
    msg_fmt = "Cannot remove host from aggregate %(aggregate_id)s. Reason: %(reason)s."


class InvalidAggregateActionUpdate(InvalidAggregateAction):
    msg_fmt = "Cannot update aggregate %(aggregate_id)s. Reason: %(reason)s."


class InvalidAggregateActionUpdateMeta(InvalidAggregateAction):
    msg_fmt = "Cannot update metadata of aggregate %(aggregate_id)s. Reason: %(reason)s."


AZ = "availability_zone"


# -- objects ---------------------------------------------------------------------------


def to_dict(agg: Aggregate) -> dict[str, Any]:
    metadata = {m.key: m.value for m in agg.metadata_items}
    return {"id": agg.id, "uuid": agg.uuid, "name": agg.name,
            "availability_zone": metadata.get(AZ),
            "hosts": [h.host for h in agg.hosts], "metadata": metadata,
            "created_at": agg.created_at, "updated_at": agg.updated_at,
            "deleted_at": None, "deleted": False}


def _get(s: Session, aggregate_id: int) -> Aggregate:
    agg = s.get(Aggregate, aggregate_id)
    if agg is None:
        raise AggregateNotFound(aggregate_id=aggregate_id)
    return agg


def _zone(agg: Aggregate) -> str | None:
    return next((m.value for m in agg.metadata_items if m.key == AZ), None)


def _count_instances(s: Session, hosts: list[str]) -> int:
    if not hosts:
        return 0
    return s.scalar(select(func.count(Instance.id)).where(
        Instance.host.in_(hosts), Instance.deleted == 0)) or 0


def _zones_of_hosts(s: Session, hosts: list[str]) -> list[tuple[int, str]]:
    """(aggregate id, zone) of every zoned aggregate holding one of ``hosts``."""
    if not hosts:
        return []
    q = (select(Aggregate.id, AggregateMetadata.value)
         .join(AggregateMetadata, AggregateMetadata.aggregate_id == Aggregate.id)
         .join(AggregateHost, AggregateHost.aggregate_id == Aggregate.id)
         .where(AggregateMetadata.key == AZ, AggregateHost.host.in_(hosts))
         .distinct().order_by(Aggregate.id))
    return [(row[0], row[1]) for row in s.execute(q).all()]


def check_zone_change(s: Session, agg: Aggregate, metadata: dict, error: type,
                      hosts: list[str] | None = None, check_instances: bool = False) -> None:
    """Nova's is_safe_to_update_az: raise ``error`` if ``metadata`` breaks one-zone-per-host."""
    if AZ not in metadata:
        return
    new_zone = metadata[AZ]
    if not new_zone:
        raise error(aggregate_id=agg.id,
                    reason=f"Aggregate {agg.name} does not support empty named "
                           "availability zone")
    hosts = hosts if hosts is not None else [h.host for h in agg.hosts]
    conflicting = [zone for agg_id, zone in _zones_of_hosts(s, hosts)
                   if zone != new_zone and agg_id != agg.id]
    if conflicting:
        raise error(aggregate_id=agg.id,
                    reason=f"One or more hosts already in availability zone(s) {conflicting}")
    if check_instances and _zone(agg) != new_zone and _count_instances(s, hosts):
        raise error(aggregate_id=agg.id,
                    reason="One or more hosts contain instances in this zone")


def _move_message(verb: str, old: str | None, new: str | None, count: int) -> str:
    return (f"The host cannot be {verb} the aggregate as the availability zone of the host "
            f"would change from '{old}' to '{new}' but the host already has {count} "
            "instance(s). Changing the AZ of an existing instance is not supported by this "
            "action. Move the instances away from this host then try again. If you need to "
            "move the instances between AZs then you can use shelve_offload and unshelve to "
            "achieve this.")


def _check_host_exists(s: Session, host: str) -> None:
    _check_hosts_exist(s, [host])


def _check_hosts_exist(s: Session, hosts: list[str]) -> None:
    found = set(s.scalars(select(Service.host).where(Service.project == "nova",
                                                     Service.binary == "nova-compute",
                                                     Service.host.in_(hosts))))
    missing = next((h for h in hosts if h not in found), None)
    if missing is not None:
        raise HostMappingNotFound(name=missing)


def create(cloud: Cloud, name: str, availability_zone: str | None = None) -> dict:
    with cloud.db.writer() as s:
        if s.scalar(select(Aggregate.id).where(Aggregate.name == name)) is not None:
            raise AggregateNameExists(aggregate_name=name)
        agg = Aggregate(name=name)
        if availability_zone:
            agg.metadata_items.append(AggregateMetadata(key=AZ, value=availability_zone))
        s.add(agg)
        s.flush()
        return to_dict(agg)


def get(cloud: Cloud, aggregate_id: int) -> dict:
    with cloud.db.reader() as s:
        return to_dict(_get(s, aggregate_id))


def list_all(cloud: Cloud) -> list[dict]:
    with cloud.db.reader() as s:
        return [to_dict(a) for a in s.scalars(select(Aggregate).order_by(Aggregate.id))]


def update(cloud: Cloud, aggregate_id: int, values: dict) -> dict:
    values = dict(values)
    with cloud.db.writer() as s:
        agg = _get(s, aggregate_id)
        if "name" in values:
            name = values.pop("name")
            if name != agg.name and s.scalar(
                    select(Aggregate.id).where(Aggregate.name == name)) is not None:
                raise AggregateNameExists(aggregate_name=name)
            agg.name = name
        check_zone_change(s, agg, values, InvalidAggregateActionUpdate, check_instances=True)
        if values:
            _update_metadata(agg, values)
            agg.updated_at = utcnow()
        s.flush()
        return to_dict(agg)


def _update_metadata(agg: Aggregate, metadata: dict) -> None:
    items = {m.key: m for m in agg.metadata_items}
    for key, value in metadata.items():
        if value is None:
            if key in items:
                agg.metadata_items.remove(items.pop(key))
        elif key in items:
            items[key].value = str(value)
        else:
            items[key] = AggregateMetadata(key=key, value=str(value))
            agg.metadata_items.append(items[key])


def set_metadata(cloud: Cloud, aggregate_id: int, metadata: dict) -> dict:
    with cloud.db.writer() as s:
        agg = _get(s, aggregate_id)
        check_zone_change(s, agg, metadata, InvalidAggregateActionUpdateMeta,
                          check_instances=True)
        _update_metadata(agg, metadata)
        agg.updated_at = utcnow()
        s.flush()
        return to_dict(agg)


def delete(cloud: Cloud, aggregate_id: int) -> None:
    with cloud.db.writer() as s:
        agg = _get(s, aggregate_id)
        if agg.hosts:
            raise InvalidAggregateActionDelete(aggregate_id=aggregate_id,
                                               reason="Host aggregate is not empty")
        s.delete(agg)


def add_host(cloud: Cloud, aggregate_id: int, host: str) -> dict:
    return add_hosts(cloud, aggregate_id, [host])


def add_hosts(cloud: Cloud, aggregate_id: int, hosts: list[str]) -> dict:
    """The API's add_host for several hosts, checked together in one transaction (a
    topology's 1,000 hosts start in 100 writes, not 1,000 x 5 statements)."""
    with cloud.db.writer() as s:
        _check_hosts_exist(s, hosts)
        agg = _get(s, aggregate_id)
        metadata = {m.key: m.value for m in agg.metadata_items}
        check_zone_change(s, agg, metadata, InvalidAggregateActionAdd, hosts=hosts)
        new_zone = metadata.get(AZ)
        if new_zone and _count_instances(s, hosts):
            for host in hosts:
                _check_instances_keep_zone(s, agg, host, new_zone)
        present = {h.host for h in agg.hosts}
        for host in hosts:
            if host in present:
                raise AggregateHostExists(aggregate_id=agg.id, host=host)
            agg.hosts.append(AggregateHost(host=host))
            present.add(host)
        s.flush()
        return to_dict(agg)


def _check_instances_keep_zone(s: Session, agg: Aggregate, host: str, new_zone: str) -> None:
    """A host with instances may join a zoned aggregate only within its current zone."""
    count = _count_instances(s, [host])
    if not count:
        return
    zones = {zone for _, zone in _zones_of_hosts(s, [host])}
    old_zone = sorted(zones)[0] if zones else None
    if old_zone != new_zone:
        raise InvalidAggregateActionAdd(
            aggregate_id=agg.id, reason=_move_message("added to", old_zone, new_zone, count))


def remove_host(cloud: Cloud, aggregate_id: int, host: str) -> dict:
    with cloud.db.writer() as s:
        _check_host_exists(s, host)
        agg = _get(s, aggregate_id)
        current = _zone(agg)
        count = _count_instances(s, [host])
        if count and current:
            others = {zone for agg_id, zone in _zones_of_hosts(s, [host]) if agg_id != agg.id}
            new_zone = sorted(others)[0] if others else None
            if current != new_zone:
                raise InvalidAggregateActionDelete(
                    aggregate_id=agg.id, reason=_move_message("removed from", current,
                                                              new_zone, count))
        member = next((h for h in agg.hosts if h.host == host), None)
        if member is None:
            raise AggregateHostNotFound(aggregate_id=agg.id, host=host)
        agg.hosts.remove(member)
        s.flush()
        return to_dict(agg)


# -- handlers --------------------------------------------------------------------------


def _view(req: Request, agg: dict, full: bool = True) -> dict:
    out = dict(agg)
    out["created_at"] = common.isotime(agg["created_at"])
    out["updated_at"] = common.isotime(agg["updated_at"])
    if not req.version.matches("2.41"):
        out.pop("uuid")
    if not full:
        out.pop("hosts")
        out.pop("metadata")
    return out


def _id(aggregate_id: str) -> int:
    return common.validate_integer(aggregate_id, "id")


def _check_zone_name(value: Any) -> str | None:
    if value is None:
        return None
    return common.check_name("availability_zone", value, allow_colon=False)


def list_aggregates(req: Request):
    common.authorize(req, "os_compute_api:os-aggregates:index")
    return json_response({"aggregates": [_view(req, a) for a in list_all(req.app.cloud)]})


def create_aggregate(req: Request):
    """200 with the aggregate, without hosts and metadata (Nova's quirk)."""
    common.authorize(req, "os_compute_api:os-aggregates:create")
    data = common.body_key(read_json(req), "aggregate")
    common.reject_extra("aggregate", data, {"name", "availability_zone"})
    if "name" not in data:
        raise exception.ValidationError(field="aggregate", value=data,
                                        detail="'name' is a required property")
    name = common.check_name("name", data["name"]).strip()
    zone = _check_zone_name(data.get("availability_zone"))
    agg = create(req.app.cloud, name, zone)
    return json_response({"aggregate": _view(req, agg, full=False)})


def show_aggregate(req: Request, aggregate_id: str):
    common.authorize(req, "os_compute_api:os-aggregates:show")
    return json_response({"aggregate": _view(req, get(req.app.cloud, _id(aggregate_id)))})


def update_aggregate(req: Request, aggregate_id: str):
    common.authorize(req, "os_compute_api:os-aggregates:update")
    agg_id = _id(aggregate_id)
    data = common.body_key(read_json(req), "aggregate")
    common.reject_extra("aggregate", data, {"name", "availability_zone"})
    if not data:
        raise exception.ValidationError(field="aggregate", value=data,
                                        detail="{} does not have enough properties")
    if "name" in data:
        data["name"] = common.check_name("name", data["name"])
    if "availability_zone" in data:
        _check_zone_name(data["availability_zone"])
    return json_response({"aggregate": _view(req, update(req.app.cloud, agg_id, data))})


def delete_aggregate(req: Request, aggregate_id: str):
    """200 with an empty body."""
    common.authorize(req, "os_compute_api:os-aggregates:delete")
    delete(req.app.cloud, _id(aggregate_id))
    return empty_response(200)


def aggregate_action(req: Request, aggregate_id: str):
    body = read_json(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.BadRequest("Malformed request body")
    action, data = next(iter(body.items()))
    cloud = req.app.cloud
    if action == "add_host":
        host = _host_arg(body, action)
        common.authorize(req, "os_compute_api:os-aggregates:add_host")
        agg_id = _id(aggregate_id)
        try:
            agg = add_host(cloud, agg_id, host)
        except InvalidAggregateAction as exc:
            raise exception.Conflict(exc.message) from None
    elif action == "remove_host":
        host = _host_arg(body, action)
        common.authorize(req, "os_compute_api:os-aggregates:remove_host")
        agg_id = _id(aggregate_id)
        try:
            agg = remove_host(cloud, agg_id, host)
        except (AggregateNotFound, AggregateHostNotFound, HostMappingNotFound):
            raise exception.NotFound(
                f"Cannot remove host {host} in aggregate {agg_id}") from None
        except InvalidAggregateAction as exc:
            raise exception.Conflict(exc.message) from None
    elif action == "set_metadata":
        common.authorize(req, "os_compute_api:os-aggregates:set_metadata")
        agg_id = _id(aggregate_id)
        if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
            raise exception.ValidationError(field="set_metadata", value=data,
                                            detail="'metadata' is a required property")
        metadata = data["metadata"]
        for key, value in metadata.items():
            if not 1 <= len(key) <= 255:
                raise exception.ValidationError(field="metadata", value=metadata,
                                                detail=f"{key!r} does not match any of "
                                                       "the regexes")
            if value is not None and not isinstance(value, str):
                raise exception.ValidationError(
                    field=f"metadata.{key}", value=value,
                    detail=f"{value!r} is not of type 'string', 'null'")
        if metadata.get(AZ) is not None:
            common.check_name("availability_zone", metadata[AZ], allow_colon=False)
        agg = set_metadata(cloud, agg_id, metadata)
    else:
        raise exception.ValidationError(
            field="`" + action + "`", value=body,
            detail=f"Additional properties are not allowed ('{action}' was unexpected)")
    return json_response({"aggregate": _view(req, agg)})


# Nova's add_host / remove_host body schema (its parameter_types.fqdn for the host).
_HOST = {"type": "object",
         "properties": {"host": {"type": "string", "pattern": "^[a-zA-Z0-9-._]*$",
                                 "minLength": 1, "maxLength": 255}},
         "required": ["host"], "additionalProperties": False}


def _host_arg(body: dict, action: str) -> str:
    """The host of an add_host / remove_host body, validated before the policy as Nova."""
    validation.validate("compute", body, validation.wrap(action, _HOST))
    return body[action]["host"]
