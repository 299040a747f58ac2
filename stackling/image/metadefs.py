"""Glance metadata definitions: the schema documents under ``/v2/schemas/metadefs/``.

Shapes follow ``glance/schema.py`` (``Schema.raw``: name, properties,
``additionalProperties: false``, required; ``CollectionSchema.raw``: the list key plus
first/next/schema and their links) with the fields of ``glance/api/v2/metadef_*.py``.

And the catalogue itself: namespaces with their objects, properties, tags and resource
type associations (``/v2/metadefs/...``). Writes are admin-only (Glance's ``metadef_admin``
default); private namespaces are seen by their owner and admins only. The resource types
are the ones Glance's bundled definitions name, plus any associated since.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stackling import exception
from stackling.db.models import utcnow
from stackling.db.models_image import MetadefNamespace
from stackling.web.app import Request, empty_response, json_response, read_json

_STR = {"type": "string"}
_TS = {"type": "string", "readOnly": True, "format": "date-time"}

_PROPERTY = {
    "name": {"type": "string", "maxLength": 80},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "operators": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": ["array", "boolean", "integer", "number", "object",
                                        "string", None]},
    "required": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                 "uniqueItems": True},
    "minimum": {"type": "number"}, "maximum": {"type": "number"},
    "maxLength": {"type": "integer", "minimum": 0},
    "minLength": {"type": "integer", "minimum": 0},
    "pattern": {"type": "string", "format": "regex"},
    "enum": {"type": "array"},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {"type": "object"},
    "maxItems": {"type": "integer", "minimum": 0},
    "minItems": {"type": "integer", "minimum": 0},
    "uniqueItems": {"type": "boolean", "default": False},
    "additionalItems": {"type": "boolean"},
}

_ASSOCIATION = {
    "name": {"type": "string", "maxLength": 80},
    "prefix": {"type": "string", "maxLength": 80},
    "properties_target": {"type": "string", "maxLength": 80},
    "created_at": _TS, "updated_at": _TS,
}

_OBJECT = {
    "name": {"type": "string", "maxLength": 80},
    "description": _STR,
    "required": {"type": "array", "items": {"type": "string"}},
    "properties": {"$ref": "#/definitions/property"},
    "schema": {"readOnly": True, "type": "string"},
    "self": {"readOnly": True, "type": "string"},
    "created_at": _TS, "updated_at": _TS,
}

_TAG = {"name": {"type": "string", "maxLength": 255}, "created_at": _TS, "updated_at": _TS}

_NAMESPACE = {
    "namespace": {"type": "string", "maxLength": 80},
    "display_name": {"type": "string", "maxLength": 80},
    "description": {"type": "string", "maxLength": 500},
    "visibility": {"type": "string", "enum": ["public", "private"]},
    "protected": {"type": "boolean"},
    "owner": {"type": "string", "maxLength": 255},
    "created_at": _TS, "updated_at": _TS,
    "schema": {"readOnly": True, "type": "string"},
    "self": {"readOnly": True, "type": "string"},
    "resource_type_associations": {"type": "array", "items": {
        "type": "object", "properties": {"name": _STR, "prefix": _STR,
                                         "properties_target": _STR}}},
    "properties": {"$ref": "#/definitions/property"},
    "objects": {"type": "array", "items": {"type": "object", "properties": {
        "name": _STR, "description": _STR,
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"}}}},
    "tags": {"type": "array", "items": {"type": "object",
                                        "properties": {"name": _STR}}},
}

_DEFINITIONS = {
    "positiveInteger": {"type": "integer", "minimum": 0},
    "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                          {"default": 0}]},
    "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "property": {"type": "object", "additionalProperties": {
        "type": "object", "required": ["title", "type"],
        "properties": {k: v for k, v in _PROPERTY.items() if k != "name"}}},
}


def _schema(name: str, properties: dict, required: list[str] | None = None,
            definitions: bool = True) -> dict:
    out: dict = {"name": name, "properties": properties, "additionalProperties": False}
    if definitions:
        out["definitions"] = _DEFINITIONS
    if required:
        out["required"] = required
    return out


def _collection(name: str, item: dict) -> dict:
    out = {
        "name": name,
        "properties": {name: {"type": "array", "items": item},
                       "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }
    if "definitions" in item:
        out["definitions"] = item["definitions"]
    return out


def _documents() -> dict[str, dict]:
    namespace = _schema("namespace", _NAMESPACE, ["namespace"])
    association = _schema("resource_type_association", _ASSOCIATION, ["name"], False)
    obj = _schema("object", _OBJECT, ["name"])
    prop = _schema("property", _PROPERTY, ["name", "title", "type"])
    tag = _schema("tag", _TAG, ["name"])
    properties = {"name": "properties", "properties": {
        "properties": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {k: v for k, v in _PROPERTY.items()
                                             if k != "name"},
            "required": ["title", "type"], "additionalProperties": False}},
        "first": {"type": "string"}, "next": {"type": "string"},
        "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
        "definitions": _DEFINITIONS}
    return {
        "namespace": namespace, "namespaces": _collection("namespaces", namespace),
        "resource_type": association,
        "resource_types": _collection("resource_type_associations", association),
        "object": obj, "objects": _collection("objects", obj),
        "property": prop, "properties": properties,
        "tag": tag, "tags": _collection("tags", tag),
    }


DOCUMENTS = _documents()


def _handler(key: str):
    def handler(req: Request):
        return json_response(DOCUMENTS[key])

    handler.__name__ = f"schema_metadefs_{key}"
    return handler


# -- the catalogue -------------------------------------------------------------------------

# The resource types of Glance's bundled definitions (etc/metadefs/*.json).
RESOURCE_TYPES = ("OS::Cinder::Volume", "OS::Glance::Image", "OS::Nova::Aggregate",
                  "OS::Nova::Flavor", "OS::Nova::Server", "OS::Trove::Instance",
                  "OS::Cinder::Snapshot", "OS::Glance::Metadef")
NS_FIELDS = ("display_name", "description", "visibility", "protected", "owner")


def _ts(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _now() -> str:
    return _ts(utcnow())


def _admin(req: Request) -> None:
    if not req.context.is_admin:
        raise exception.Forbidden("You are not authorized to complete this action.")


def _body(req: Request) -> dict:
    body = read_json(req)
    if not isinstance(body, dict):
        raise exception.BadRequest("Body expected in request.")
    return body


def _visible(req: Request, ns: MetadefNamespace) -> bool:
    return ns.visibility == "public" or req.context.is_admin or (
        ns.owner is not None and ns.owner == req.context.project_id)


def _ns(s, req: Request, name: str) -> MetadefNamespace:
    ns = s.get(MetadefNamespace, name)
    if ns is None or not _visible(req, ns):
        raise exception.NotFound(f"Metadata definition namespace={name} was not found.")
    return ns


def _ns_view(ns: MetadefNamespace, full: bool = False) -> dict:
    out: dict[str, Any] = {
        "namespace": ns.namespace, "display_name": ns.display_name,
        "description": ns.description, "visibility": ns.visibility,
        "protected": ns.protected, "owner": ns.owner,
        "created_at": _ts(ns.created_at), "updated_at": _ts(ns.updated_at),
        "self": f"/v2/metadefs/namespaces/{ns.namespace}",
        "schema": "/v2/schemas/metadefs/namespace"}
    out = {k: v for k, v in out.items() if v is not None}
    if ns.resource_types:
        out["resource_type_associations"] = list(ns.resource_types)
    if full:
        if ns.properties:
            out["properties"] = dict(ns.properties)
        if ns.objects:
            out["objects"] = [_object_view(ns, o) for o in ns.objects.values()]
        if ns.tags:
            out["tags"] = [{"name": t["name"]} for t in ns.tags]
    return out


def _apply_ns(ns: MetadefNamespace, data: dict) -> None:
    for key in NS_FIELDS:
        if key in data:
            setattr(ns, key, data[key])
    if ns.visibility not in ("public", "private"):
        raise exception.BadRequest(f"Provided object does not match schema 'namespace': "
                                   f"{ns.visibility!r} is not one of ['public', 'private']")


def list_namespaces(req: Request):
    with req.app.cloud.db.reader() as s:
        rows = [_ns_view(ns) for ns in s.scalars(select(MetadefNamespace).order_by(
            MetadefNamespace.created_at)) if _visible(req, ns)]
    if "visibility" in req.GET:
        rows = [r for r in rows if r["visibility"] == req.GET["visibility"]]
    if "resource_types" in req.GET:
        wanted = set(req.GET["resource_types"].split(","))
        rows = [r for r in rows if wanted & {a["name"] for a in
                                             r.get("resource_type_associations", [])}]
    return json_response({"namespaces": rows, "first": "/v2/metadefs/namespaces",
                          "schema": "/v2/schemas/metadefs/namespaces"})


def create_namespace(req: Request):
    _admin(req)
    data = _body(req)
    name = data.get("namespace")
    if not isinstance(name, str) or not name:
        raise exception.BadRequest("Provided object does not match schema 'namespace': "
                                   "'namespace' is a required property")
    with req.app.cloud.db.writer() as s:
        if s.get(MetadefNamespace, name) is not None:
            raise exception.Conflict(f"The metadata definition namespace={name} already "
                                     "exists.")
        ns = MetadefNamespace(namespace=name, visibility="private", protected=False,
                              owner=req.context.project_id, objects={}, properties={},
                              tags=[], resource_types=[])
        _apply_ns(ns, data)
        now = _now()
        for assoc in data.get("resource_type_associations") or []:
            ns.resource_types = [*ns.resource_types, _association(assoc, now)]
        for prop_name, prop in (data.get("properties") or {}).items():
            ns.properties = {**ns.properties, prop_name: prop}
        for obj in data.get("objects") or []:
            ns.objects = {**ns.objects, obj["name"]: _new_object(obj, now)}
        ns.tags = [{"name": t["name"], "created_at": now, "updated_at": now}
                   for t in data.get("tags") or []]
        s.add(ns)
        s.flush()
        return json_response(_ns_view(ns, full=True), status=201)


def show_namespace(req: Request, namespace: str):
    with req.app.cloud.db.reader() as s:
        return json_response(_ns_view(_ns(s, req, namespace), full=True))


def update_namespace(req: Request, namespace: str):
    _admin(req)
    data = _body(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        new_name = data.get("namespace", namespace)
        _apply_ns(ns, data)
        ns.updated_at = utcnow()
        if new_name != namespace:
            if s.get(MetadefNamespace, new_name) is not None:
                raise exception.Conflict(f"The metadata definition namespace={new_name} "
                                         "already exists.")
            ns.namespace = new_name
        s.flush()
        return json_response(_ns_view(ns))


def delete_namespace(req: Request, namespace: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if ns.protected:
            raise exception.Forbidden(f"Namespace {namespace} is protected and cannot be "
                                      "deleted.")
        s.delete(ns)
    return empty_response(204)


# objects


def _new_object(data: dict, now: str) -> dict:
    return {"name": data["name"], "description": data.get("description"),
            "required": data.get("required") or [], "properties": data.get("properties") or {},
            "created_at": now, "updated_at": now}


def _object_view(ns: MetadefNamespace, obj: dict) -> dict:
    out = {k: v for k, v in obj.items() if v is not None}
    out["schema"] = "/v2/schemas/metadefs/object"
    out["self"] = f"/v2/metadefs/namespaces/{ns.namespace}/objects/{obj['name']}"
    return out


def _object(ns: MetadefNamespace, name: str) -> dict:
    obj = (ns.objects or {}).get(name)
    if obj is None:
        raise exception.NotFound(f"The metadata definition object with name={name} was "
                                 f"not found in namespace={ns.namespace}.")
    return obj


def _named(data: dict, kind: str) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise exception.BadRequest(f"Provided object does not match schema '{kind}': "
                                   "'name' is a required property")
    return name


def list_objects(req: Request, namespace: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        objects = [_object_view(ns, o) for o in (ns.objects or {}).values()]
    return json_response({"objects": objects, "schema": "v2/schemas/metadefs/objects"})


def create_object(req: Request, namespace: str):
    _admin(req)
    data = _body(req)
    name = _named(data, "object")
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if name in (ns.objects or {}):
            raise exception.Conflict(f"A metadata definition object with name={name} "
                                     f"already exists in namespace={namespace}.")
        obj = _new_object(data, _now())
        ns.objects = {**(ns.objects or {}), name: obj}
        return json_response(_object_view(ns, obj), status=201)


def show_object(req: Request, namespace: str, object_name: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response(_object_view(ns, _object(ns, object_name)))


def update_object(req: Request, namespace: str, object_name: str):
    _admin(req)
    data = _body(req)
    name = _named(data, "object")
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        old = _object(ns, object_name)
        objects = dict(ns.objects)
        if name != object_name and name in objects:
            raise exception.Conflict(f"A metadata definition object with name={name} "
                                     f"already exists in namespace={namespace}.")
        del objects[object_name]
        obj = {**_new_object(data, old["created_at"]), "updated_at": _now()}
        objects[name] = obj
        ns.objects = objects
        return json_response(_object_view(ns, obj))


def delete_object(req: Request, namespace: str, object_name: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        _object(ns, object_name)
        ns.objects = {k: v for k, v in ns.objects.items() if k != object_name}
    return empty_response(204)


# properties


def _property(ns: MetadefNamespace, name: str) -> dict:
    prop = (ns.properties or {}).get(name)
    if prop is None:
        raise exception.NotFound(f"The metadata definition property with name={name} was "
                                 f"not found in namespace={ns.namespace}.")
    return prop


def _check_property(data: dict) -> None:
    for key in ("title", "type"):
        if key not in data:
            raise exception.BadRequest("Provided object does not match schema 'property': "
                                       f"'{key}' is a required property")


def list_properties(req: Request, namespace: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response({"properties": dict(ns.properties or {})})


def create_property(req: Request, namespace: str):
    _admin(req)
    data = _body(req)
    name = _named(data, "property")
    _check_property(data)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if name in (ns.properties or {}):
            raise exception.Conflict(f"A metadata definition property with name={name} "
                                     f"already exists in namespace={namespace}.")
        prop = {k: v for k, v in data.items() if k != "name"}
        ns.properties = {**(ns.properties or {}), name: prop}
        return json_response({"name": name, **prop}, status=201)


def show_property(req: Request, namespace: str, property_name: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response({"name": property_name, **_property(ns, property_name)})


def update_property(req: Request, namespace: str, property_name: str):
    _admin(req)
    data = _body(req)
    name = _named(data, "property")
    _check_property(data)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        _property(ns, property_name)
        props = dict(ns.properties)
        if name != property_name and name in props:
            raise exception.Conflict(f"A metadata definition property with name={name} "
                                     f"already exists in namespace={namespace}.")
        del props[property_name]
        props[name] = {k: v for k, v in data.items() if k != "name"}
        ns.properties = props
        return json_response({"name": name, **props[name]})


def delete_property(req: Request, namespace: str, property_name: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        _property(ns, property_name)
        ns.properties = {k: v for k, v in ns.properties.items() if k != property_name}
    return empty_response(204)


# tags


def _tag_view(tag: dict) -> dict:
    return {"name": tag["name"], "created_at": tag["created_at"],
            "updated_at": tag["updated_at"]}


def _tag_index(ns: MetadefNamespace, name: str) -> int:
    for i, tag in enumerate(ns.tags or []):
        if tag["name"] == name:
            return i
    raise exception.NotFound(f"The metadata definition tag with name={name} was not found "
                             f"in namespace={ns.namespace}.")


def list_tags(req: Request, namespace: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response({"tags": [_tag_view(t) for t in ns.tags or []]})


def create_tags(req: Request, namespace: str):
    """POST .../tags: replaces the namespace's tags with the given list."""
    _admin(req)
    data = _body(req)
    tags = data.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, dict) and t.get("name")
                                             for t in tags):
        raise exception.BadRequest("Provided object does not match schema 'tags': 'tags' "
                                   "is a required property")
    names = [t["name"] for t in tags]
    if len(set(names)) != len(names):
        raise exception.Conflict("A metadata tag with name in the list already exists in "
                                 f"namespace={namespace}.")
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        now = _now()
        ns.tags = [{"name": n, "created_at": now, "updated_at": now} for n in names]
        return json_response({"tags": [{"name": n} for n in names]}, status=201)


def delete_tags(req: Request, namespace: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        _ns(s, req, namespace).tags = []
    return empty_response(204)


def tag_create(req: Request, namespace: str, tag_name: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if any(t["name"] == tag_name for t in ns.tags or []):
            raise exception.Conflict(f"A metadata tag with name={tag_name} already exists "
                                     f"in namespace={namespace}.")
        now = _now()
        tag = {"name": tag_name, "created_at": now, "updated_at": now}
        ns.tags = [*(ns.tags or []), tag]
        return json_response(_tag_view(tag), status=201)


def tag_show(req: Request, namespace: str, tag_name: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response(_tag_view(ns.tags[_tag_index(ns, tag_name)]))


def tag_update(req: Request, namespace: str, tag_name: str):
    _admin(req)
    name = _named(_body(req), "tag")
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        i = _tag_index(ns, tag_name)
        if name != tag_name and any(t["name"] == name for t in ns.tags):
            raise exception.Conflict(f"A metadata tag with name={name} already exists in "
                                     f"namespace={namespace}.")
        tags = list(ns.tags)
        tags[i] = {**tags[i], "name": name, "updated_at": _now()}
        ns.tags = tags
        return json_response(_tag_view(tags[i]))


def tag_delete(req: Request, namespace: str, tag_name: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        i = _tag_index(ns, tag_name)
        ns.tags = [t for j, t in enumerate(ns.tags) if j != i]
    return empty_response(204)


# resource types


def _association(data: Any, now: str) -> dict:
    if not isinstance(data, dict) or not data.get("name"):
        raise exception.BadRequest("Provided object does not match schema "
                                   "'resource_type_association': 'name' is a required "
                                   "property")
    out = {"name": data["name"], "created_at": now, "updated_at": now}
    for key in ("prefix", "properties_target"):
        if data.get(key) is not None:
            out[key] = data[key]
    return out


def list_resource_types(req: Request):
    now = "2014-08-28T18:13:04Z"
    with req.app.cloud.db.reader() as s:
        used = {a["name"] for ns in s.scalars(select(MetadefNamespace))
                for a in ns.resource_types or []}
    names = list(RESOURCE_TYPES) + sorted(used - set(RESOURCE_TYPES))
    return json_response({"resource_types": [{"name": n, "created_at": now,
                                              "updated_at": now} for n in names]})


def list_associations(req: Request, namespace: str):
    with req.app.cloud.db.reader() as s:
        ns = _ns(s, req, namespace)
        return json_response({"resource_type_associations": list(ns.resource_types or [])})


def create_association(req: Request, namespace: str):
    _admin(req)
    assoc = _association(_body(req), _now())
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if any(a["name"] == assoc["name"] for a in ns.resource_types or []):
            raise exception.Conflict("The metadata definition resource-type association of "
                                     f"resource-type={assoc['name']} to namespace="
                                     f"{namespace}, already exists.")
        ns.resource_types = [*(ns.resource_types or []), assoc]
        return json_response(assoc, status=201)


def delete_association(req: Request, namespace: str, resource_type: str):
    _admin(req)
    with req.app.cloud.db.writer() as s:
        ns = _ns(s, req, namespace)
        if not any(a["name"] == resource_type for a in ns.resource_types or []):
            raise exception.NotFound("The metadata definition resource-type association of "
                                     f"resource-type={resource_type} to namespace="
                                     f"{namespace}, was not found.")
        ns.resource_types = [a for a in ns.resource_types if a["name"] != resource_type]
    return empty_response(204)


NS = "/v2/metadefs/namespaces/{namespace}"
ROUTES: list[tuple[str, dict]] = [
    *[(f"/v2/schemas/metadefs/{key}", {"GET": _handler(key)}) for key in DOCUMENTS],
    ("/v2/metadefs/namespaces", {"GET": list_namespaces, "POST": create_namespace}),
    (NS, {"GET": show_namespace, "PUT": update_namespace, "DELETE": delete_namespace}),
    (f"{NS}/objects", {"GET": list_objects, "POST": create_object}),
    (f"{NS}/objects/{{object_name}}", {"GET": show_object, "PUT": update_object,
                                       "DELETE": delete_object}),
    (f"{NS}/properties", {"GET": list_properties, "POST": create_property}),
    (f"{NS}/properties/{{property_name}}", {"GET": show_property, "PUT": update_property,
                                            "DELETE": delete_property}),
    (f"{NS}/tags", {"GET": list_tags, "POST": create_tags, "DELETE": delete_tags}),
    (f"{NS}/tags/{{tag_name}}", {"GET": tag_show, "POST": tag_create, "PUT": tag_update,
                                 "DELETE": tag_delete}),
    ("/v2/metadefs/resource_types", {"GET": list_resource_types}),
    (f"{NS}/resource_types", {"GET": list_associations, "POST": create_association}),
    (f"{NS}/resource_types/{{resource_type}}", {"DELETE": delete_association}),
]
