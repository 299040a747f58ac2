"""cinder-api: the Block Storage API handlers, their views and the route table (routes.py)."""
