"""TaskFlow flows of the volume service."""
