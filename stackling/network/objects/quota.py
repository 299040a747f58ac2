"""Neutron quotas: per-project limits over the defaults of ``neutron/conf/quota.py``, usage
counted from the resource tables (Neutron's counting driver tracks the same numbers).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stackling.db.models_network import (
    FloatingIP,
    Network,
    NetworkQuota,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    SubnetPool,
)
from stackling.network import errors

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100, "rbac_policy": 10,
            "subnetpool": -1}
MODELS = {"network": Network, "subnet": Subnet, "port": Port, "router": Router,
          "floatingip": FloatingIP, "security_group": SecurityGroup,
          "security_group_rule": SecurityGroupRule, "subnetpool": SubnetPool}


def limits(s: Session, project_id: str) -> dict[str, int]:
    out = dict(DEFAULTS)
    for row in s.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
        out[row.resource] = row.limit
    return out


def used(s: Session, project_id: str, resource: str) -> int:
    model = MODELS.get(resource)
    if model is None:
        return 0
    return s.scalar(select(func.count()).select_from(model)
                    .where(model.project_id == project_id)) or 0


def check(s: Session, project_id: str, resource: str, wanted: int = 1) -> None:
    """409 OverQuota before anything is written, counting every item of a bulk request."""
    limit = limits(s, project_id).get(resource, -1)
    if limit < 0:
        return
    if used(s, project_id, resource) + wanted > limit:
        raise errors.conflict("OverQuota", f"Quota exceeded for resources: ['{resource}'].")


def set_limits(s: Session, project_id: str, values: dict[str, int]) -> None:
    for resource, limit in values.items():
        row = s.scalar(select(NetworkQuota).where(NetworkQuota.project_id == project_id,
                                                  NetworkQuota.resource == resource))
        if row is None:
            s.add(NetworkQuota(project_id=project_id, resource=resource, limit=limit))
        else:
            row.limit = limit


def reset(s: Session, project_id: str) -> None:
    for row in s.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
        s.delete(row)


def projects_with_limits(s: Session) -> list[str]:
    return sorted(set(s.scalars(select(NetworkQuota.project_id))))
