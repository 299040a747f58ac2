"""The rows cinder-api and the volume workers share (quotas, attach states, backends, ...)."""
