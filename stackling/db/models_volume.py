"""volume tables (see stackling.db.models for the conventions).

Rows are deleted for real when Cinder would soft-delete them; metadata and glance
metadata are JSON columns rather than Cinder's key/value side tables.
"""

from __future__ import annotations

import datetime as dt

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
from sqlalchemy.orm import Mapped, mapped_column

from stackling.db.models import Base, TimestampMixin, new_uuid, utcnow


class VolumeType(TimestampMixin, Base):
    __tablename__ = "volume_type"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)
    # Cinder's encryption table (one live row per type) as a JSON column: encryption_id,
    # provider, cipher, key_size, control_location, created_at, updated_at.
    encryption: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Cinder's volume_type_projects: the projects a private type is shared with.
    projects: Mapped[list] = mapped_column(JSON, default=list)
    qos_specs_id: Mapped[str | None] = mapped_column(String(36))


class Volume(TimestampMixin, Base):
    __tablename__ = "volume"
    # host with size: the scheduler sums the sizes per backend (and per backend again,
    # under the backend's lock, to claim it) from the index alone, not the table's rows
    __table_args__ = (Index("ix_volume_host_size", "host", "size"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    display_description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(255), default="creating")
    previous_status: Mapped[str | None] = mapped_column(String(255))
    attach_status: Mapped[str] = mapped_column(String(255), default="detached")
    migration_status: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    volume_type_id: Mapped[str | None] = mapped_column(ForeignKey("volume_type.id"))
    snapshot_id: Mapped[str | None] = mapped_column(String(36))
    source_volid: Mapped[str | None] = mapped_column(String(36))
    group_id: Mapped[str | None] = mapped_column(String(36))
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    replication_status: Mapped[str | None] = mapped_column(String(255))
    provider_id: Mapped[str | None] = mapped_column(String(255))
    encryption_key_id: Mapped[str | None] = mapped_column(String(36))
    use_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    admin_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    glance_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    launched_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class VolumeAttachment(TimestampMixin, Base):
    """One attachment of a volume (Cinder's volume_attachment), shared by the attachments
    API (3.27+) and the legacy volume actions (os-reserve/os-attach/os-detach ...).

    ``attach_status``: reserved, attaching, attached, detaching, error_attaching,
    error_detaching (a detached attachment is deleted, as Cinder soft-deletes it).
    ``attach_mode`` keeps Cinder's string ``"null"`` until a mode is known.
    """

    __tablename__ = "volume_attachment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str | None] = mapped_column(String(255), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    attached_host: Mapped[str | None] = mapped_column(String(255))
    mountpoint: Mapped[str | None] = mapped_column(String(255))
    attach_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    detach_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attach_status: Mapped[str] = mapped_column(String(255), default="reserved")
    attach_mode: Mapped[str | None] = mapped_column(String(36))
    connection_info: Mapped[dict | None] = mapped_column(JSON)
    connector: Mapped[dict | None] = mapped_column(JSON)
    volume_host: Mapped[str | None] = mapped_column(String(255))


class Snapshot(TimestampMixin, Base):
    __tablename__ = "volume_snapshot"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(255), default="creating")
    progress: Mapped[str | None] = mapped_column(String(255))
    volume_size: Mapped[int] = mapped_column(Integer)
    volume_type_id: Mapped[str | None] = mapped_column(String(36))
    display_name: Mapped[str | None] = mapped_column(String(255))
    display_description: Mapped[str | None] = mapped_column(Text)
    use_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), index=True)


class Transfer(TimestampMixin, Base):
    """A volume transfer offer (os-volume-transfer): the auth key is kept only as a salted
    SHA-1, as Cinder keeps it."""
    __tablename__ = "transfer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    salt: Mapped[str] = mapped_column(String(255))
    crypt_hash: Mapped[str] = mapped_column(String(255))
    source_project_id: Mapped[str | None] = mapped_column(String(255))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)


class GroupType(TimestampMixin, Base):
    """A generic volume group type (3.11+); specs and the projects a private type is
    shared with are JSON columns, not Cinder's side tables."""

    __tablename__ = "volume_group_type"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    group_specs: Mapped[dict] = mapped_column(JSON, default=dict)
    projects: Mapped[list] = mapped_column(JSON, default=list)


class Group(TimestampMixin, Base):
    """A generic volume group (3.13+); ``volume_type_ids`` is Cinder's
    group_volume_type_mapping, in order."""

    __tablename__ = "volume_group"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    group_type_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(255), default="creating")
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36))
    source_group_id: Mapped[str | None] = mapped_column(String(36))
    replication_status: Mapped[str | None] = mapped_column(String(255))
    volume_type_ids: Mapped[list] = mapped_column(JSON, default=list)


class GroupSnapshot(TimestampMixin, Base):
    """A snapshot of every volume of a group at once (3.14+)."""

    __tablename__ = "volume_group_snapshot"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    group_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(255), default="creating")
    group_type_id: Mapped[str] = mapped_column(String(36))


class QosSpecs(TimestampMixin, Base):
    """Cinder's quality_of_service_specs: one row per spec set (its keys as JSON)."""

    __tablename__ = "volume_qos_specs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(255), default="back-end")
    specs: Mapped[dict] = mapped_column(JSON, default=dict)


class Quota(TimestampMixin, Base):
    """A per-project hard limit overriding the configured default."""

    __tablename__ = "volume_quota"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(300))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaUsage(TimestampMixin, Base):
    __tablename__ = "volume_quota_usage"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(300))
    in_use: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class Reservation(TimestampMixin, Base):
    __tablename__ = "volume_reservation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(300))
    delta: Mapped[int] = mapped_column(Integer)
    expire: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Message(Base):
    """A user message about an asynchronous failure (GET /messages)."""

    __tablename__ = "volume_message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    request_id: Mapped[str | None] = mapped_column(String(255))
    resource_type: Mapped[str | None] = mapped_column(String(36))
    resource_uuid: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255))
    message_level: Mapped[str] = mapped_column(String(255), default="ERROR")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
