"""neutron-server's API: the v2.0 handlers, their attribute maps and the route table."""
