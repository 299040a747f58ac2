"""Real-data layer: Glance's image file store and the file volume backend's data path."""
