"""Nova's object layer: the functions that write instance rows (more move here over time)."""
