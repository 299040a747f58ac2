"""The only code that writes Neutron's rows: networks, subnets with the IPAM, ports,
security groups, routers, floating IPs, quotas and agents."""
