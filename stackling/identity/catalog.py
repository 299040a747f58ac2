"""Keystone's catalog resources: services, endpoints and regions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackling import exception, policy
from stackling.db.models import CatalogService, Endpoint, Region
from stackling.identity import crud, schemas
from stackling.identity.common import Noun, authorize, body, enable
from stackling.web.app import Request

policy.register({"identity:get_region": policy.ANY, "identity:list_regions": policy.ANY})


def _service_view(row: CatalogService) -> dict[str, Any]:
    return {"id": row.id, "type": row.type, "name": row.name,
            "description": row.description, "enabled": row.enabled}


def _endpoint_view(row: Endpoint) -> dict[str, Any]:
    return {"id": row.id, "interface": row.interface, "region": row.region_id,
            "region_id": row.region_id, "service_id": row.service_id, "url": row.url,
            "enabled": row.enabled}


def _region_view(row: Region) -> dict[str, Any]:
    return {"id": row.id, "description": row.description,
            "parent_region_id": row.parent_region_id}


def _endpoint_apply(req: Request, s: Session, row: Endpoint, data: dict,
                    creating: bool) -> None:
    region = data.get("region_id", data.get("region"))
    if region is not None or creating:
        row.region_id = region
    if row.interface not in ("public", "internal", "admin"):
        raise exception.BadRequest(
            f"Invalid input for field 'interface': '{row.interface}' does not match "
            "'^(admin|internal|public)$'")
    if s.get(CatalogService, row.service_id) is None:
        raise exception.BadRequest(f"Could not find service: {row.service_id}.")
    # Keystone creates a region named by an endpoint when it does not exist yet.
    if row.region_id and s.get(Region, row.region_id) is None:
        s.add(Region(id=row.region_id, description=""))


def _region_unique(s: Session, row: Region) -> None:
    stored = s.get(Region, row.id)
    if stored is not None and stored is not row:
        raise exception.Conflict(
            f"Conflict occurred attempting to store region - Duplicate ID, {row.id}.")


def _no_description(row: Region) -> None:
    row.description = ""


SERVICES = Noun("services", "service", CatalogService, _service_view, filters=("type", "name"),
                required=("type",), fields=("type", "name", "description", "enabled"),
                on_create=enable)
ENDPOINTS = Noun("endpoints", "endpoint", Endpoint, _endpoint_view,
                 filters=("interface", "service_id", "region_id"),
                 required=("service_id", "interface", "url"),
                 fields=("interface", "url", "enabled", "service_id"), apply=_endpoint_apply,
                 on_create=enable)
REGIONS = Noun("regions", "region", Region, _region_view, filters=("parent_region_id",),
               required=(), fields=("description", "parent_region_id"),
               unique=_region_unique, on_create=_no_description,
               id_of=lambda data: data.get("id"))


def _endpoint_region(req: Request) -> tuple:
    return (Endpoint.region_id == req.GET["region"],) if "region" in req.GET else ()


def create_region_with_id(req: Request, entity_id: str):
    authorize(req, "identity:create_region")
    data = body(req, "region", schemas.CREATE_REGION_WITH_ID)
    return crud.create_entity(req, REGIONS, data, entity_id)


ROUTES = [("/v3/regions/{entity_id}", {"PUT": create_region_with_id}),
          *crud.routes(SERVICES), *crud.routes(ENDPOINTS, _endpoint_region),
          *crud.routes(REGIONS)]
