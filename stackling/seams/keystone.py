"""Token validation and service sessions over HTTP, as keystonemiddleware and keystoneauth do.

A process that does not trust its own Keystone tables checks each user token with
``GET /v3/auth/tokens`` (``X-Subject-Token``), authenticated as its service user from
``[keystone_authtoken]``; answers are cached ``token_cache_time`` seconds and never past
the token's expiry. The same keystoneauth1 session finds other services in the catalog.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackling import exception
from stackling.context import RequestContext

if TYPE_CHECKING:
    from oslo_config import cfg

    from stackling.cloud import Cloud


def service_session(conf: cfg.ConfigOpts, group: str = "keystone_authtoken"):
    """A keystoneauth1 session as the service user of ``[keystone_authtoken]`` (or of
    ``group``: nova.conf's ``[neutron]``, cinder.conf's ``[nova]``)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    a = conf[group]
    auth = v3.Password(auth_url=a.auth_url, username=a.username, password=a.password,
                       project_name=a.project_name, user_domain_name=a.user_domain_name,
                       project_domain_name=a.project_domain_name,
                       user_domain_id=a.user_domain_id,
                       project_domain_id=a.project_domain_id)
    return session.Session(auth=auth)


def identity_root(auth_url: str) -> str:
    """``http://h:5000/v3`` or ``http://h:5000`` → ``http://h:5000``."""
    url = auth_url.rstrip("/")
    return url[:-3] if url.endswith("/v3") else url


def _expiry(token: dict) -> float:
    value = token["expires_at"].replace("Z", "+00:00")
    return dt.datetime.fromisoformat(value).timestamp()


@dataclass
class RemoteAuth:
    """A token Keystone vouched for, with AuthInfo's ``context()``."""

    token: dict[str, Any]

    def context(self, cloud: Cloud, token: str, request_id: str) -> RequestContext:
        t = self.token
        user, project, domain = t["user"], t.get("project"), t.get("domain")
        return RequestContext(
            cloud=cloud, user_id=user["id"], user_name=user.get("name"),
            user_domain_id=user.get("domain", {}).get("id"),
            project_id=project["id"] if project else None,
            project_name=project.get("name") if project else None,
            project_domain_id=project.get("domain", {}).get("id") if project else None,
            domain_id=domain["id"] if domain else None, system_scope=bool(t.get("system")),
            roles=[r["name"] for r in t.get("roles", [])], token=token,
            request_id=request_id)


class RemoteTokens:
    """keystonemiddleware's check: GET /v3/auth/tokens with the service token, cached."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.session = service_session(conf)
        self.url = identity_root(conf.keystone_authtoken.auth_url) + "/v3/auth/tokens"
        self.cache_time = conf.keystone_authtoken.token_cache_time
        self._cache: dict[str, tuple[float, RemoteAuth]] = {}
        self._lock = threading.Lock()

    def validate(self, token: str) -> RemoteAuth:
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        resp = self.session.get(self.url, headers={"X-Subject-Token": token},
                                params={"nocatalog": ""}, raise_exc=False)
        if resp.status_code != 200:
            # 404: invalid, expired or revoked; keystonemiddleware then answers 401.
            raise exception.NotFound(f"Could not find token: {token}")
        body = resp.json()["token"]
        info = RemoteAuth(body)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[token] = (min(now + self.cache_time, _expiry(body)), info)
        return info
