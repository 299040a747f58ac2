"""compute tables (see stackling.db.models for the conventions)."""

from __future__ import annotations

from stackling.db.models import Base  # noqa: F401
