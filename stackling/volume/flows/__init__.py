"""TaskFlow flows of the volume service."""

import sys

# NOTE: taskflow's engines import oslo_utils.eventletutils, which imports eventlet if it is
# installed (≈0.45 s). Nothing here runs green threads, and eventlet's greenlet hub, set
# up in the API worker thread that first loads taskflow, left that thread unjoinable: the
# web server's stop then waited for it forever. Keep eventlet out of the process.
sys.modules.setdefault("eventlet", None)  # type: ignore[arg-type]
