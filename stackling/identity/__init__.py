"""Identity (Keystone v3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackling.identity.routes import build_app  # noqa: F401

if TYPE_CHECKING:
    from stackling.cloud import Cloud


def setup(cloud: Cloud, fresh: bool) -> None:
    from stackling.identity.bootstrap import bootstrap

    bootstrap(cloud)
