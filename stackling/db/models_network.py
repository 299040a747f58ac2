"""network tables (Neutron): networks, subnets, IPAM ranges and allocations, ports, security
groups, routers, floating IPs and quotas (see stackling.db.models for the conventions).

Every Neutron resource carries the standard attributes (``project_id``, ``name``,
``description``, ``revision_number``, timestamps, ``tags``). Agents are rows of the shared
``service`` table with project ``neutron``.

IP addresses in the IPAM tables are stored as 32 hex digits (``ipam.to_key``) so that
string order is numeric order for IPv4 and IPv6 alike.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from stackling.db.models import Base, new_uuid, utcnow


class StandardAttrs:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    tags: Mapped[list] = mapped_column(JSON, default=list)


class Network(StandardAttrs, Base):
    __tablename__ = "network_network"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(32), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    az_hints: Mapped[list] = mapped_column(JSON, default=list)
    # Zones of the DHCP agents hosting the network (scheduled with its first DHCP subnet).
    dhcp_zones: Mapped[list] = mapped_column(JSON, default=list)


class Subnet(StandardAttrs, Base):
    __tablename__ = "network_subnet"
    network_id: Mapped[str] = mapped_column(ForeignKey("network_network.id",
                                                       ondelete="CASCADE"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    subnetpool_id: Mapped[str | None] = mapped_column(String(36))


class IpRange(Base):
    """A free range of a subnet's allocation pools: the IPAM never scans allocations."""

    __tablename__ = "network_ip_range"
    __table_args__ = (Index("ix_network_ip_range_subnet_first", "subnet_id", "first"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("network_subnet.id",
                                                      ondelete="CASCADE"))
    first: Mapped[str] = mapped_column(String(32))
    last: Mapped[str] = mapped_column(String(32))


class IpAllocation(Base):
    """One address held by one port; the key makes a double hand-out impossible."""

    __tablename__ = "network_ip_allocation"
    subnet_id: Mapped[str] = mapped_column(ForeignKey("network_subnet.id",
                                                      ondelete="CASCADE"), primary_key=True)
    ip_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64))
    port_id: Mapped[str] = mapped_column(ForeignKey("network_port.id", ondelete="CASCADE"),
                                         index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)


class Port(StandardAttrs, Base):
    __tablename__ = "network_port"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),
                      Index("ix_network_port_device", "device_id"))
    network_id: Mapped[str] = mapped_column(ForeignKey("network_network.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)
    extra_dhcp_opts: Mapped[list] = mapped_column(JSON, default=list)
    host_id: Mapped[str] = mapped_column(String(255), default="")
    vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    vif_details: Mapped[dict] = mapped_column(JSON, default=dict)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    profile: Mapped[dict] = mapped_column(JSON, default=dict)


class PortSecurityGroup(Base):
    __tablename__ = "network_port_security_group"
    port_id: Mapped[str] = mapped_column(ForeignKey("network_port.id", ondelete="CASCADE"),
                                         primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("network_security_group.id"), primary_key=True, index=True)


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "network_security_group"
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)


class DefaultSecurityGroup(Base):
    """One ``default`` group per project; the key settles concurrent first uses."""

    __tablename__ = "network_default_security_group"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("network_security_group.id", ondelete="CASCADE"), unique=True)


class SecurityGroupRule(StandardAttrs, Base):
    __tablename__ = "network_security_group_rule"
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("network_security_group.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(String(36))
    remote_address_group_id: Mapped[str | None] = mapped_column(String(36))


class SubnetPool(StandardAttrs, Base):
    """A subnet pool (``/v2.0/subnetpools``): its prefixes, compacted, and the bounds of
    the prefix lengths subnets may take from it."""

    __tablename__ = "network_subnetpool"
    ip_version: Mapped[int] = mapped_column(Integer)
    prefixes: Mapped[list] = mapped_column(JSON, default=list)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    default_quota: Mapped[int | None] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    address_scope_id: Mapped[str | None] = mapped_column(String(36))


class Router(StandardAttrs, Base):
    __tablename__ = "network_router"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(String(36))
    gw_network_id: Mapped[str | None] = mapped_column(String(36))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)
    az_hints: Mapped[list] = mapped_column(JSON, default=list)
    availability_zones: Mapped[list] = mapped_column(JSON, default=list)
    distributed: Mapped[bool] = mapped_column(Boolean, default=False)
    ha: Mapped[bool] = mapped_column(Boolean, default=False)
    flavor_id: Mapped[str | None] = mapped_column(String(36))


class FloatingIP(StandardAttrs, Base):
    __tablename__ = "network_floatingip"
    floating_network_id: Mapped[str] = mapped_column(String(36), index=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_port_id: Mapped[str] = mapped_column(String(36))
    port_id: Mapped[str | None] = mapped_column(String(36), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class NetworkQuota(Base):
    __tablename__ = "network_quota"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(64))
    limit: Mapped[int] = mapped_column(Integer)


class AutoAllocatedTopology(Base):
    __tablename__ = "network_auto_allocated_topology"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36))
    router_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
