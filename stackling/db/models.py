"""SQLAlchemy tables for every service.

Identity, the service registry and host aggregates live here; the compute, volume and
image modules add theirs in ``models_<area>.py`` files imported at the bottom, so that
``Base.metadata`` always holds the whole schema. Timestamps are naive UTC, as in Nova
and Cinder.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    """Keystone-style id: 32 hex characters."""
    return uuid.uuid4().hex


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


# -- identity --------------------------------------------------------------------------


class Domain(Base):
    __tablename__ = "identity_domain"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class Project(Base):
    __tablename__ = "identity_project"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class User(Base):
    __tablename__ = "identity_user"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    default_project_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Role(Base):
    """A global role (``domain_id`` null) or a domain-specific one: names are unique per
    domain, and among global roles (checked by the API, as NULLs never collide)."""

    __tablename__ = "identity_role"
    __table_args__ = (UniqueConstraint("name", "domain_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class ImpliedRole(Base):
    """An inference rule: holding ``prior_role_id`` also grants ``implied_role_id``."""

    __tablename__ = "identity_implied_role"
    prior_role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_role.id", ondelete="CASCADE"), primary_key=True)


class Group(Base):
    __tablename__ = "identity_group"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"))
    description: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class GroupMembership(Base):
    __tablename__ = "identity_group_membership"
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"),
                                         primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("identity_group.id",
                                                     ondelete="CASCADE"), primary_key=True)


class RoleAssignment(Base):
    """``type`` is UserProject, UserDomain, UserSystem, GroupProject or GroupDomain, as in
    Keystone's assignment tables; ``actor_id`` is a user or group id."""

    __tablename__ = "identity_assignment"
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("identity_role.id", ondelete="CASCADE"),
                                         primary_key=True)
    # OS-INHERIT: the grant applies to the projects below its target, not to the target;
    # a direct and an inherited grant of the same role may coexist (part of the key).
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False)


class Credential(Base):
    """Keystone's credential table: ``type`` ec2, totp, cert...; ``blob`` the secret
    document as the user gave it (EC2 credentials: ``{"access", "secret", ...}``, with
    ``id`` the sha256 of the access key, as Keystone)."""

    __tablename__ = "identity_credential"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class ApplicationCredential(Base):
    """A user's delegation of (some of) its roles on one project; the secret is stored
    as a bcrypt hash only."""

    __tablename__ = "identity_application_credential"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64))
    # Microseconds kept (MariaDB's DATETIME drops them otherwise): expires_at is echoed.
    expires_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"))
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Region(Base):
    __tablename__ = "identity_region"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class IdentityPolicy(Base):
    """Keystone's ``/v3/policies``: an opaque blob of a given type (the v3 Policy API)."""

    __tablename__ = "identity_policy"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class IdentityDomainConfig(Base):
    """A domain's own identity/ldap options (``/v3/domains/{id}/config``): {group: {option:
    value}}, the sensitive ones (ldap password) included but never shown."""

    __tablename__ = "identity_domain_config"
    domain_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    config: Mapped[dict] = mapped_column(JSON, default=dict)


class EndpointGroup(Base):
    """OS-EP-FILTER's endpoint group: the endpoints its ``filters`` select."""

    __tablename__ = "identity_endpoint_group"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)


class OAuthConsumer(Base):
    """OS-OAUTH1's consumer: an application that may ask users for delegated access."""

    __tablename__ = "identity_oauth_consumer"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    description: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(64))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class CatalogService(Base):
    __tablename__ = "identity_service"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    endpoints: Mapped[list[Endpoint]] = relationship(
        back_populates="service", cascade="all, delete-orphan", lazy="selectin")


class Endpoint(Base):
    __tablename__ = "identity_endpoint"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(ForeignKey("identity_service.id"))
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    service: Mapped[CatalogService] = relationship(back_populates="endpoints")


PRECISE_DATETIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class RevocationEvent(Base):
    """A revoked token (by audit id) or every token of a user issued before a time."""

    __tablename__ = "identity_revocation_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64))
    # Microseconds on every engine: a token issued in the same second as a password
    # change must still be compared exactly (MariaDB's DATETIME drops fractions).
    issued_before: Mapped[dt.datetime] = mapped_column(PRECISE_DATETIME)
    revoked_at: Mapped[dt.datetime] = mapped_column(PRECISE_DATETIME, default=utcnow)


# -- service registry (Nova's and Cinder's services tables in one) ----------------------


class Service(TimestampMixin, Base):
    """A running service: ``project`` is ``nova`` or ``cinder``; heartbeats bump updated_at."""

    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("project", "host", "binary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    project: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    replication_status: Mapped[str | None] = mapped_column(String(36), default="disabled")
    active_backend_id: Mapped[str | None] = mapped_column(String(255))
    cluster_name: Mapped[str | None] = mapped_column(String(255))
    capabilities: Mapped[dict | None] = mapped_column(JSON)
    last_seen_up: Mapped[dt.datetime | None] = mapped_column(DateTime)


# -- host aggregates (Nova) -------------------------------------------------------------


class Aggregate(TimestampMixin, Base):
    __tablename__ = "compute_aggregate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    hosts: Mapped[list[AggregateHost]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AggregateHost.id")
    metadata_items: Mapped[list[AggregateMetadata]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")


class AggregateHost(Base):
    __tablename__ = "compute_aggregate_host"
    __table_args__ = (UniqueConstraint("aggregate_id", "host"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aggregate_id: Mapped[int] = mapped_column(ForeignKey("compute_aggregate.id",
                                                         ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255), index=True)


class AggregateMetadata(Base):
    __tablename__ = "compute_aggregate_metadata"
    __table_args__ = (UniqueConstraint("aggregate_id", "key"),
                      Index("ix_aggregate_metadata_key", "key"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aggregate_id: Mapped[int] = mapped_column(ForeignKey("compute_aggregate.id",
                                                         ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


# -- placement decisions (stackling's own: what `stackling explain` reads) ---------------


class Decision(Base):
    """One placement decision with its inputs: zone chosen, host or backend picked, fallback.

    ``request_id`` ties a decision to the API request that made it, so a server's chain
    can include what Cinder decided for the volume Nova asked for (``caused_by``).
    """

    __tablename__ = "stackling_decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    caused_by: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# The area modules define their tables on the same Base; importing them here keeps
# Base.metadata complete for create_all, alembic and the migrations test.
from stackling.db import (  # noqa: E402,F401
    models_compute,
    models_image,
    models_network,
    models_volume,
)
