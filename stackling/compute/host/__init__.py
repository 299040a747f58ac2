"""nova-compute: the compute manager of a host, its volume work and the virt driver."""
