"""Image (Glance v2)."""

from stackling.image.api import build_app  # noqa: F401
