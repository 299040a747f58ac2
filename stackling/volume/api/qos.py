"""QoS specs (admin): create, list, show, set and unset keys, delete, and their
association with volume types, as cinder/api/contrib/qos_specs_manage.py and
cinder/volume/qos_specs.py.

A volume type carries at most one QoS spec set (``qos_specs_id``); the ``front-end``
and ``both`` consumers' specs reach Nova in the attachment's connection info.
"""

from __future__ import annotations

from sqlalchemy import select

from stackling import exception, policy
from stackling.db.models_volume import QosSpecs, VolumeType
from stackling.volume import errors
from stackling.volume.api import common
from stackling.volume.api.volumes import paginate
from stackling.volume.objects import backends
from stackling.web.app import Request, empty_response, json_response, read_json

policy.register({
    "volume_extension:qos_specs_manage:get_all": common.ADMIN,
    "volume_extension:qos_specs_manage:get": common.ADMIN,
    "volume_extension:qos_specs_manage:create": common.ADMIN,
    "volume_extension:qos_specs_manage:update": common.ADMIN,
    "volume_extension:qos_specs_manage:delete": common.ADMIN,
})

CONSUMERS = ("back-end", "front-end", "both")
SORT_KEYS = {"id", "name", "consumer", "created_at", "updated_at"}


class QoSSpecsNotFound(exception.NotFound):
    msg_fmt = "No such QoS spec %(specs_id)s."


class QoSSpecsExists(exception.Conflict):
    msg_fmt = "QoS Specs %(specs_id)s already exists."


class InvalidQoSSpecs(errors.Invalid):
    msg_fmt = "Invalid qos specs: %(reason)s"


def _view(req: Request, row: QosSpecs) -> dict:
    return {"id": row.id, "name": row.name, "consumer": row.consumer,
            "specs": dict(row.specs or {})}


def _links(req: Request, row: QosSpecs) -> list[dict]:
    base = req.app.cloud.public_url("volume")
    project = req.context.project_id
    return [{"rel": "self", "href": f"{base}/v3/{project}/qos-specs/{row.id}"},
            {"rel": "bookmark", "href": f"{base}/{project}/qos-specs/{row.id}"}]


def _get(s, specs_id: str) -> QosSpecs:
    row = s.get(QosSpecs, specs_id)
    if row is None:
        raise QoSSpecsNotFound(specs_id=specs_id)
    return row


def _specs(value, field: str = "qos_specs") -> dict:
    """String keys and values of 1-255 characters (validate_dictionary_string_length);
    a ``consumer`` among them sets the consumer."""
    if not isinstance(value, dict):
        raise exception.ValidationError(field=field, value=value,
                                        detail=f"{value!r} is not of type 'object'")
    out = {}
    for key, val in value.items():
        if val is not None and not isinstance(val, str | int | float | bool):
            raise exception.ValidationError(field=key, value=val,
                                            detail=f"{val!r} is not of type 'string'")
        val = "" if val is None else str(val)
        if not 1 <= len(key) <= 255 or len(val) > 255:
            raise InvalidQoSSpecs(reason=f"{key} has to be 1-255 characters long")
        out[str(key)] = val
    consumer = out.get("consumer")
    if consumer is not None and consumer not in CONSUMERS:
        raise InvalidQoSSpecs(reason=f"Valid consumer of QoS specs are: {list(CONSUMERS)}")
    return out


def _type_id(req: Request) -> str:
    type_id = req.GET.get("vol_type_id")
    if not type_id:
        raise exception.BadRequest("Volume Type id must not be None.")
    return type_id


def list_qos(req: Request):
    common.authorize(req, "volume_extension:qos_specs_manage:get_all")
    with req.app.cloud.db.reader() as s:
        items = [{**_view(req, r), "created_at": r.created_at.isoformat()}
                 for r in s.scalars(select(QosSpecs))]
    for key in ("id", "name", "consumer"):
        if key in req.GET:
            items = [i for i in items if i[key] == req.GET[key]]
    out = paginate(req, items, "qos_specs", "qos-specs", valid_keys=SORT_KEYS)
    for item in out["qos_specs"]:
        item.pop("created_at")
    return json_response(out)


def create_qos(req: Request):
    common.authorize(req, "volume_extension:qos_specs_manage:create")
    body = read_json(req)
    data = body.get("qos_specs") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise exception.ValidationError(field="qos_specs", value=None,
                                        detail="'qos_specs' is a required property")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or \
            name != name.strip():
        raise exception.ValidationError(field="name", value=name,
                                        detail=f"{name!r} is not a valid name")
    specs = _specs({k: v for k, v in data.items() if k != "name"})
    consumer = specs.pop("consumer", "back-end")
    with req.app.cloud.db.writer() as s:
        if s.scalar(select(QosSpecs).where(QosSpecs.name == name)) is not None:
            raise QoSSpecsExists(specs_id=name)
        row = QosSpecs(name=name, consumer=consumer, specs=specs)
        s.add(row)
        s.flush()
        return json_response({"qos_specs": _view(req, row), "links": _links(req, row)})


def show_qos(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:get")
    with req.app.cloud.db.reader() as s:
        row = _get(s, specs_id)
        return json_response({"qos_specs": _view(req, row), "links": _links(req, row)})


def set_keys(req: Request, specs_id: str):
    """PUT /qos-specs/{id}: add or change keys (``consumer`` changes the consumer);
    answers with the request's ``qos_specs``."""
    common.authorize(req, "volume_extension:qos_specs_manage:update")
    body = read_json(req)
    if not isinstance(body, dict) or "qos_specs" not in body or len(body) != 1:
        raise exception.ValidationError(field="qos_specs", value=None,
                                        detail="'qos_specs' is a required property")
    specs = _specs(body["qos_specs"])
    with req.app.cloud.db.writer() as s:
        row = _get(s, specs_id)
        consumer = specs.pop("consumer", None)
        if consumer:
            row.consumer = consumer
        row.specs = {**(row.specs or {}), **specs}
    return json_response(body)


def delete_qos(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:delete")
    force = backends.is_true(req.GET.get("force", "false"))
    with req.app.cloud.db.writer() as s:
        row = _get(s, specs_id)
        types = s.scalars(select(VolumeType).where(VolumeType.qos_specs_id == row.id)).all()
        if types and not force:
            raise exception.BadRequest("Qos specs still in use.")
        for vtype in types:
            vtype.qos_specs_id = None
        s.delete(row)
    return empty_response(202)


def delete_keys(req: Request, specs_id: str):
    """PUT /qos-specs/{id}/delete_keys: keys go in order until one is missing (404), as
    Cinder does."""
    common.authorize(req, "volume_extension:qos_specs_manage:delete")
    body = read_json(req)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) and 1 <= len(k) <= 255
                                             for k in keys) or len(set(keys)) != len(keys):
        raise exception.ValidationError(field="keys", value=keys,
                                        detail="'keys' is a required property")
    missing = None
    with req.app.cloud.db.writer() as s:
        row = _get(s, specs_id)
        specs = dict(row.specs or {})
        for key in keys:
            if key not in specs:
                missing = key
                break
            del specs[key]
        row.specs = specs
    if missing is not None:
        raise exception.NotFound(f"QoS spec {specs_id} has no spec with key {missing}.")
    return empty_response(202)


def associations(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:get_all")
    with req.app.cloud.db.reader() as s:
        _get(s, specs_id)
        types = s.scalars(select(VolumeType).where(VolumeType.qos_specs_id == specs_id)
                          .order_by(VolumeType.name)).all()
        return json_response({"qos_associations": [
            {"association_type": "volume_type", "name": t.name, "id": t.id} for t in types]})


def associate(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:update")
    type_id = _type_id(req)
    with req.app.cloud.db.writer() as s:
        _get(s, specs_id)
        vtype = s.get(VolumeType, type_id)
        if vtype is None:
            raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        if vtype.qos_specs_id and vtype.qos_specs_id != specs_id:
            raise errors.InvalidVolumeType(
                reason=f"Type {type_id} is already associated with another qos specs: "
                       f"{vtype.qos_specs_id}")
        vtype.qos_specs_id = specs_id
    return empty_response(202)


def disassociate(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:update")
    type_id = _type_id(req)
    with req.app.cloud.db.writer() as s:
        _get(s, specs_id)
        vtype = s.get(VolumeType, type_id)
        if vtype is None:
            raise errors.VolumeTypeNotFound(volume_type_id=type_id)
        if vtype.qos_specs_id == specs_id:
            vtype.qos_specs_id = None
    return empty_response(202)


def disassociate_all(req: Request, specs_id: str):
    common.authorize(req, "volume_extension:qos_specs_manage:update")
    with req.app.cloud.db.writer() as s:
        _get(s, specs_id)
        for vtype in s.scalars(select(VolumeType).where(VolumeType.qos_specs_id == specs_id)):
            vtype.qos_specs_id = None
    return empty_response(202)

