"""The metadata sub-resource shared by volumes and snapshots (``.../{id}/metadata[/{key}]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stackling import exception
from stackling.volume.api import common
from stackling.web.app import Request, empty_response, json_response, read_json


def metadata_body(req: Request, key: str = "metadata") -> dict:
    """``{"metadata": {...}}`` (or ``{"meta": {...}}``): string keys 1..255, values ≤255."""
    body = read_json(req)
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exception.BadRequest("Malformed request body")
    for k, v in body[key].items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255 or \
                (v is not None and not isinstance(v, str)) or len(str(v)) > 255:
            raise exception.ValidationError(field=key, value=body[key],
                                            detail=f"{k!r}: {v!r} is not a valid item")
    return {str(k): str(v) for k, v in body[key].items()}


@dataclass(frozen=True)
class MetadataApi:
    """Handlers for one owner kind. ``id_param`` is the route's path parameter name."""

    noun: str                      # "Volume" or "Snapshot", for the 404 text
    id_param: str                  # "volume_id" or "snapshot_id"
    load: Callable                 # common.get_volume / common.get_snapshot
    read_rule: str | None
    write_rule: str
    delete_rule: str
    store: Callable                # (row, metadata): the owner's objects code saves it

    def _row(self, s, req: Request, params: dict, rule: str | None):
        row = self.load(s, req, params[self.id_param])
        if rule:
            common.authorize(req, rule, {"project_id": row.project_id})
        return row

    def _missing(self, params: dict, key: str) -> exception.NotFound:
        return exception.NotFound(f"{self.noun} {params[self.id_param]} has no metadata with "
                                  f"key {key}.")

    def get(self, req: Request, **params):
        with req.app.cloud.db.reader() as s:
            row = self._row(s, req, params, self.read_rule)
            return json_response({"metadata": dict(row.metadata_ or {})})

    def _write(self, req: Request, params: dict, replace: bool):
        data = metadata_body(req)
        with req.app.cloud.db.writer() as s:
            row = self._row(s, req, params, self.write_rule)
            self.store(row, data if replace else {**(row.metadata_ or {}), **data})
            return json_response({"metadata": dict(row.metadata_)})

    def create(self, req: Request, **params):
        return self._write(req, params, replace=False)

    def replace(self, req: Request, **params):
        return self._write(req, params, replace=True)

    def show_item(self, req: Request, key: str, **params):
        with req.app.cloud.db.reader() as s:
            row = self._row(s, req, params, self.read_rule)
            if key not in (row.metadata_ or {}):
                raise self._missing(params, key)
            return json_response({"meta": {key: row.metadata_[key]}})

    def update_item(self, req: Request, key: str, **params):
        data = metadata_body(req, "meta")
        if key not in data or len(data) > 1:
            raise exception.BadRequest("Request body and URI mismatch")
        with req.app.cloud.db.writer() as s:
            row = self._row(s, req, params, self.write_rule)
            self.store(row, {**(row.metadata_ or {}), **data})
        return json_response({"meta": data})

    def delete_item(self, req: Request, key: str, **params):
        with req.app.cloud.db.writer() as s:
            row = self._row(s, req, params, self.delete_rule)
            md = dict(row.metadata_ or {})
            if key not in md:
                raise self._missing(params, key)
            del md[key]
            self.store(row, md)
        return empty_response(200)
