"""The rows cinder-api and the volume workers share (quotas, attach states, backends, ...)."""

from stackling.db.inlist import InList

__all__ = ["InList"]
