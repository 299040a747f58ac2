"""nova-api: the Compute API handlers, their views and the route table (routes.py)."""
