"""What every Neutron resource shares: body parsing, list queries (filters, fields, sorting,
pagination with links), visibility, standard attributes, If-Match and the tag sub-API.

Texts follow ``neutron/api/v2/base.py``, ``neutron/api/api_common.py`` and
``neutron_lib/api/attributes.py``.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from stackling import exception
from stackling.network import errors
from stackling.network.api.attributes import REQUIRED, UNSET, Attr
from stackling.web.app import Request, empty_response, json_response, read_json

RESERVED_QUERY = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


# -- request bodies ----------------------------------------------------------------------


def _load(req: Request) -> Any:
    try:
        return read_json(req, required=False)
    except exception.BadRequest:    # not JSON, NaN/Infinity, or nested past the parser
        raise errors.http_bad_request("Body contains invalid data") from None


def parse_body(req: Request, resource: str, attrs: dict[str, Attr], create: bool,
               collection: str | None = None) -> list[dict]:
    """The items of a POST (one or bulk) or the changes of a PUT, converted and validated."""
    body = _load(req)
    if not isinstance(body, dict):
        raise errors.http_bad_request("Body contains invalid data")
    if create and collection and isinstance(body.get(collection), list):
        items = [i.get(resource, i) if isinstance(i, dict) else i for i in body[collection]]
        if not items:
            raise errors.http_bad_request("Resources required")
    else:
        if resource not in body:
            raise errors.http_bad_request(f"Unable to find '{resource}' in request body")
        items = [body[resource]]
    return [check_item(req, resource, attrs, item, create) for item in items]


def check_item(req: Request, resource: str, attrs: dict[str, Attr], item: Any,
               create: bool) -> dict:
    if not isinstance(item, dict):
        raise errors.http_bad_request(f"Object '{resource}' contains invalid data")
    unknown = [k for k in item if k not in attrs]
    if unknown:
        raise errors.http_bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for key in item:
        attr = attrs[key]
        if create and not attr.post:
            raise errors.http_bad_request(f"Attribute '{key}' not allowed in POST")
        if not create and not attr.put:
            raise errors.http_bad_request(f"Cannot update read-only attribute {key}")
    out: dict[str, Any] = {}
    for key, attr in attrs.items():
        if key in item:
            value = item[key]
            if attr.convert is not None:
                value = attr.convert(value)
            if attr.validate is not None and (reason := attr.validate(value)):
                raise errors.http_bad_request(
                    f"Invalid input for {key}. Reason: {reason.rstrip('.')}.")
            out[key] = value
        elif create and attr.default is REQUIRED:
            raise errors.http_bad_request(
                f"Failed to parse request. Required attribute '{key}' not specified")
        elif create and attr.default is not UNSET:
            out[key] = attr.default
    _check_project(req, out, create)
    _check_admin_attrs(req, resource, attrs, item, out, create)
    return out


def _check_project(req: Request, out: dict, create: bool) -> None:
    if not create:
        return
    project, tenant = out.pop("project_id", None), out.pop("tenant_id", None)
    if project and tenant and project != tenant:
        raise errors.http_bad_request("'project_id' and 'tenant_id' do not match")
    wanted = project or tenant
    ctx = req.context
    if wanted and wanted != ctx.project_id and not ctx.is_admin:
        raise errors.http_bad_request(
            "Specifying 'project_id' other than the authenticated project in request is "
            "not allowed for the current user.")
    out["project_id"] = wanted or ctx.project_id


def _check_admin_attrs(req: Request, resource: str, attrs: dict[str, Attr], item: dict,
                       out: dict, create: bool) -> None:
    """On POST a rule fires only for a non-default value; on PUT whenever the key is sent."""
    if req.context.is_admin:
        return
    action = "create" if create else "update"
    for key, attr in attrs.items():
        if not attr.admin_set or key not in item:
            continue
        if create and attr.default is not UNSET and out.get(key) == attr.default:
            continue
        raise errors.PolicyNotAuthorized(action=f"rule:{action}_{resource}:{key}")


def require_admin(req: Request, action: str) -> None:
    if not req.context.is_admin:
        raise errors.PolicyNotAuthorized(action=f"rule:{action}")


def read_plain(req: Request) -> dict:
    """A body that is a bare object (router interface actions, tags)."""
    body = _load(req)
    if not isinstance(body, dict):
        raise errors.http_bad_request("Body contains invalid data")
    return body


def no_body(req: Request) -> None:
    if req.body:
        raise errors.http_bad_request("Request body is not supported in DELETE.")


# -- standard attributes -------------------------------------------------------------------


def stamp(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def standard_view(row: Any) -> dict:
    return {"id": row.id, "name": row.name, "tenant_id": row.project_id,
            "project_id": row.project_id, "description": row.description,
            "tags": sorted(row.tags or []), "created_at": stamp(row.created_at),
            "updated_at": stamp(row.updated_at), "revision_number": row.revision_number}


def check_if_match(req: Request, row: Any) -> None:
    """``If-Match: revision_number=N`` on PUT and DELETE (the revisions plugin)."""
    header = req.headers.get("If-Match")
    if not header:
        return
    wanted = [t.strip().strip('"') for t in header.split(",")
              if t.strip().strip('"').startswith("revision_number=")]
    if not wanted:
        return
    if len(wanted) > 1:
        raise errors.bad_request("if-match", "Multiple revision_number etags are not supported")
    try:
        number = int(wanted[0].split("=", 1)[1])
    except ValueError:
        raise errors.bad_request(
            "if-match", "Revision number etag must be in the format of "
            "revision_number=<int>") from None
    if number != row.revision_number:
        err = errors.NeutronError(
            f"Constrained to {number}, but current revision is {row.revision_number}")
        err.code = 412
        err.type_name = "RevisionNumberConstraintFailed"
        raise err


# -- lists ---------------------------------------------------------------------------------


def parse_filters(req: Request, attrs: dict[str, Attr], extra: Iterable[str] = ()
                  ) -> dict[str, list]:
    """Query parameters other than the reserved ones, converted; unknown keys are a 400."""
    filters: dict[str, list] = {}
    allowed = set(extra) | set(TAG_FILTERS) | {"changed_since"}
    for key, value in req.GET.items():
        if key in RESERVED_QUERY:
            continue
        attr = attrs.get(key)
        if key not in allowed and (attr is None or not attr.filter):
            raise errors.http_bad_request(f"['{key}'] is invalid attribute for filtering")
        if attr is not None and attr.convert is not None and key not in allowed:
            try:
                value = attr.convert(value)
            except errors.NeutronError:
                pass
            if isinstance(value, list):
                filters.setdefault(key, []).extend(value)
                continue
        filters.setdefault(key, []).append(value)
    if "tenant_id" in filters and "project_id" in filters:
        err = errors.http_bad_request("Both tenant_id and project_id passed as filters.")
        err.type_name = "TenantIdProjectIdFilterConflict"
        raise err
    if "tenant_id" in filters:
        filters["project_id"] = filters.pop("tenant_id")
    return filters


def _tag_set(values: list[str]) -> set[str]:
    return {t for v in values for t in v.split(",") if t}


def _matches(item: dict, key: str, wanted: list, matchers: dict[str, Callable]) -> bool:
    if key in matchers:
        return matchers[key](item, wanted)
    tags = set(item.get("tags") or [])
    if key == "tags":
        return _tag_set(wanted) <= tags
    if key == "tags-any":
        return bool(_tag_set(wanted) & tags)
    if key == "not-tags":
        return not _tag_set(wanted) <= tags
    if key == "not-tags-any":
        return not _tag_set(wanted) & tags
    if key == "changed_since":
        return (item.get("updated_at") or "") >= _changed_since(wanted[0])
    value = item.get(key)
    if isinstance(value, list):
        return any(w in value for w in wanted)
    return value in wanted or str(value) in [str(w) for w in wanted]


def _changed_since(value: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid_input(
            "The input changed_since must be in the following format: "
            "YYYY-MM-DDTHH:MM:SSZ") from None
    if parsed.tzinfo:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sort_spec(req: Request, attrs: dict[str, Attr]) -> list[tuple[str, bool]]:
    keys, dirs = req.GET.getall("sort_key"), req.GET.getall("sort_dir")
    if dirs and len(keys) != len(dirs):
        raise errors.http_bad_request("The number of sort_keys and sort_dirs must be same")
    bad_keys = [k for k in keys if k not in attrs or not attrs[k].sort]
    if bad_keys:
        raise errors.http_bad_request(f"{bad_keys} is invalid attribute for sort_keys")
    bad_dirs = [d for d in dirs if d not in ("asc", "desc")]
    if bad_dirs:
        raise errors.http_bad_request(
            f"{bad_dirs} is invalid value for sort_dirs, valid value is 'asc' and 'desc'")
    return [(k, (dirs[i] if dirs else "asc") == "desc") for i, k in enumerate(keys)]


def _sort_key(value: Any) -> tuple:
    return (value is not None, str(value) if not isinstance(value, (int, float)) else value)


def list_response(req: Request, collection: str, items: list[dict], attrs: dict[str, Attr],
                  kind: str, matchers: dict[str, Callable] | None = None,
                  extra_filters: Iterable[str] = (), visible_keys: Callable | None = None
                  ) -> Any:
    """Filter, sort, paginate (links) and project ``fields`` over the visible items."""
    filters = parse_filters(req, attrs, list(extra_filters) + list(matchers or {}))
    items = [i for i in items
             if all(_matches(i, k, v, matchers or {}) for k, v in filters.items())]
    order = _sort_spec(req, attrs)
    limit_text = req.GET.get("limit")
    limit = 0
    if limit_text is not None:
        try:
            limit = int(limit_text)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise errors.bad_request(
                "limit", f"Limit must be an integer 0 or greater and not '{limit_text}'"
            ) from None
    if limit:
        order = order + [("id", False)]
    for key, desc in reversed(order):
        items.sort(key=lambda i, k=key: _sort_key(i.get(k)), reverse=desc)
    reverse = str(req.GET.get("page_reverse", "")).lower() == "true"
    marker = req.GET.get("marker")
    links: list[dict] = []
    if limit:
        items, links = _paginate(req, collection, items, limit, marker, reverse, kind)
    fields = req.GET.getall("fields")
    items = [select_fields(i, fields) for i in items]
    body: dict[str, Any] = {collection: items}
    if links:
        body[f"{collection}_links"] = links
    return json_response(body)


def _paginate(req: Request, collection: str, items: list[dict], limit: int,
              marker: str | None, reverse: bool, kind: str) -> tuple[list, list]:
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise errors.missing(kind, marker)
        pos = ids.index(marker)
        page = items[max(0, pos - limit):pos] if reverse else items[pos + 1:pos + 1 + limit]
    else:
        page = items[-limit:] if reverse else items[:limit]
    links = []
    params = [(k, v) for k, v in req.GET.items() if k not in ("marker", "page_reverse")]
    url = req.host_url + req.path
    if page and (reverse or len(page) == limit):
        links.append({"rel": "next", "href": url + "?" + urllib.parse.urlencode(
            params + [("marker", page[-1]["id"])])})
    if page and (not reverse or len(page) == limit) and (marker or reverse):
        links.append({"rel": "previous", "href": url + "?" + urllib.parse.urlencode(
            params + [("marker", page[0]["id"]), ("page_reverse", "True")])})
    return page, links


def select_fields(item: dict, fields: list[str]) -> dict:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def show_response(req: Request, resource: str, item: dict, status: int = 200) -> Any:
    return json_response({resource: select_fields(item, req.GET.getall("fields"))},
                         status=status)


def created(resource: str, collection: str, views: list[dict], bulk: bool) -> Any:
    if bulk:
        return json_response({collection: views}, status=201)
    return json_response({resource: views[0]}, status=201)


def is_bulk(req: Request, collection: str) -> bool:
    try:
        body = read_json(req, required=False)
    except exception.BadRequest:
        return False
    return isinstance(body, dict) and isinstance(body.get(collection), list)


def strip_admin(req: Request, view: dict, attrs: dict[str, Attr]) -> dict:
    if req.context.is_admin or req.context.is_service:
        return view
    return {k: v for k, v in view.items() if not (k in attrs and attrs[k].admin_read)}


# -- tags ----------------------------------------------------------------------------------


def tag_routes(prefix: str, kind: str, load: Callable) -> list[tuple[str, dict]]:
    """``/<coll>/<id>/tags`` and ``/<coll>/<id>/tags/<tag>`` (``neutron/extensions/tagging``).

    ``load(session, ctx, id)`` returns the visible row (or raises its NotFound); changing
    tags needs ownership and bumps the revision.
    """

    def read(req: Request, rid: str) -> Any:
        with req.app.cloud.db.reader() as s:
            return load(s, req.context, rid)

    def write(req: Request, rid: str, fn: Callable) -> list[str]:
        from stackling.network.objects.networks import bump

        with req.app.cloud.db.writer() as s:
            row = load(s, req.context, rid)
            if not req.context.is_admin and row.project_id != req.context.project_id:
                raise errors.PolicyNotAuthorized(action=f"rule:update_{kind}")
            tags = fn(row)
            bump(row, {"tags": tags})
            return tags

    def list_tags(req: Request, rid: str) -> Any:
        return json_response({"tags": sorted(read(req, rid).tags or [])})

    def replace_tags(req: Request, rid: str) -> Any:
        body = read_plain(req)
        tags = body.get("tags")
        reason = None if isinstance(tags, list) else f"'{tags}' is not a list"
        reason = reason or next((f"'{t}' is not a valid string" for t in tags
                                 if not isinstance(t, str) or len(t) > 255), None)
        if reason:
            raise errors.http_bad_request(f"Invalid input for tags. Reason: {reason}.")
        result = write(req, rid, lambda row: sorted(set(tags)))
        return json_response({"tags": result})

    def show_tag(req: Request, rid: str, tag: str) -> Any:
        if tag not in (read(req, rid).tags or []):
            raise _tag_missing(tag)
        return empty_response(204)

    def add_tag(req: Request, rid: str, tag: str) -> Any:
        if len(tag) > 255:
            raise errors.http_bad_request(
                f"Invalid input for tag. Reason: '{tag}' exceeds maximum length of 255.")
        write(req, rid, lambda row: sorted(set(row.tags or []) | {tag}))
        return empty_response(201)

    def delete_tags(req: Request, rid: str) -> Any:
        no_body(req)
        write(req, rid, lambda row: [])
        return empty_response(204)

    def delete_tag(req: Request, rid: str, tag: str) -> Any:
        no_body(req)

        def remove(row):
            if tag not in (row.tags or []):
                raise _tag_missing(tag)
            return [t for t in row.tags if t != tag]
        write(req, rid, remove)
        return empty_response(204)

    return [(f"{prefix}/{{rid}}/tags", {"GET": list_tags, "PUT": replace_tags,
                                        "DELETE": delete_tags}),
            (f"{prefix}/{{rid}}/tags/{{tag}}", {"GET": show_tag, "PUT": add_tag,
                                                "DELETE": delete_tag})]


def _tag_missing(tag: str) -> errors.NotFound:
    err = errors.NotFound(f"Tag {tag} could not be found.")
    err.type_name = "TagNotFound"
    return err


def prefilter(q: Any, req: Request, columns: dict[str, Any]) -> Any:
    """Push equality filters on plain columns into SQL (the rest is matched in Python)."""
    for key, wanted in filter_values(req, columns).items():
        q = q.where(columns[key].in_(wanted))
    return q


def filter_values(req: Request, keys: Iterable[str]) -> dict[str, list[str]]:
    """The values asked for of each of ``keys`` that the request filters on, in the order
    of ``keys`` (``tenant_id`` stands for ``project_id``)."""
    out: dict[str, list[str]] = {}
    for key in keys:
        wanted = req.GET.getall(key)
        if key == "project_id" and not wanted:
            wanted = req.GET.getall("tenant_id")
        if wanted:
            out[key] = wanted
    return out
