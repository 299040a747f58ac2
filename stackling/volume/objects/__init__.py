"""Cinder's object layer: the functions that write volume rows (more move here over time)."""
