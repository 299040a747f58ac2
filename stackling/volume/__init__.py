"""Block Storage (Cinder v3)."""

from stackling.volume.api import build_app  # noqa: F401
