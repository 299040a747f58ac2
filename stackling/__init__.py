"""stackling: a small, faithful OpenStack cloud (Keystone, Nova, Cinder, Glance) in Python."""

__version__ = "0.1.0"
