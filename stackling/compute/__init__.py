"""Compute (Nova v2.1)."""

from stackling.compute.api import build_app  # noqa: F401
