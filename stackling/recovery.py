"""Repair on start, in order: Nova's workers first (failed builds, interrupted deletes),
then Cinder's (volumes, attachments, quota) reconciled with what Nova left.

Compute and volume never import each other; this module hands Nova's recovery the two
things it asks of Cinder (detach a server's volume, delete a volume).
"""

from __future__ import annotations

import functools
import logging
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


def recover(cloud: Cloud) -> int:
    """Run every service's start-up repair; returns the number of repairs."""
    from stackling.compute import recovery as nova
    from stackling.volume import recovery as cinder

    t0 = time.perf_counter()
    volumes = SimpleNamespace(detach=functools.partial(cinder.detach_instance, cloud),
                              delete=functools.partial(cinder.delete_now, cloud))
    fixed = nova.recover(cloud, volumes) + cinder.recover(cloud)
    if fixed:
        LOG.warning("Start-up recovery repaired %d rows in %.2f s", fixed,
                    time.perf_counter() - t0)
    return fixed
