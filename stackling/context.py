"""RequestContext: who is calling, with which roles, plus the cloud they are calling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackling.cloud import Cloud

# Keystone's default implied roles: admin implies manager, manager member, member reader.
IMPLIED_ROLES = {"admin": {"manager", "member", "reader"}, "manager": {"member", "reader"},
                 "member": {"reader"}}


@dataclass
class RequestContext:
    cloud: Cloud
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system_scope: bool = False
    roles: list[str] = field(default_factory=list)
    token: str | None = None
    token_data: dict[str, Any] | None = None
    request_id: str = ""
    is_service: bool = False

    @property
    def effective_roles(self) -> frozenset[str]:
        """The roles with the ones they imply; worked out once per list of roles (a
        request's policy checks ask several times)."""
        key = tuple(self.roles)
        known = self.__dict__.get("_effective")
        if known is None or known[0] != key:
            roles = set(key)
            for role in key:
                roles |= IMPLIED_ROLES.get(role, set())
            known = self.__dict__["_effective"] = (key, frozenset(roles))
        return known[1]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.effective_roles

    @classmethod
    def admin(cls, cloud: Cloud, project_id: str | None = None) -> RequestContext:
        """A context for internal callers (workers, bootstrap), like nova's get_admin_context."""
        return cls(cloud=cloud, project_id=project_id, roles=["admin"], is_service=True)
