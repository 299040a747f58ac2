"""Nova's Cinder client (nova/volume/cinder.py): the Block Storage API contract, only.

Every call is an HTTP request of the Cinder v3 API, sent through ``ServiceClient`` with
the user's token, exactly as python-cinderclient sends it for Nova: volume create/get/
delete at 3.0, attachments at 3.44 (create → update with a connector → ``os-complete``),
``os-begin_detaching``/``os-roll_detaching`` for detach, and the 2016 actions
(``os-initialize_connection``, ``os-attach``, ``os-terminate_connection``, ``os-detach``)
in the Liberty/Mitaka release modes. Nothing here reads Cinder's tables.

Errors are translated as Nova translates cinderclient's: a 400 becomes
``InvalidInput(reason=str(err))`` whose text is ``Invalid input received: <message>
(HTTP 400) (Request-ID: req-...)``; a 413 ``OverQuota`` with the bare message; a 404 the
resource's NotFound.

Service token: real Nova sends the user's token plus ``X-Service-Token`` (its own
service user). stackling sends the user's token only; the calls stay in-process through
the same WSGI app, so routing, policy, microversions and error bodies are Cinder's own.
``ServiceClient`` resolves the ``volume`` service; pointing it at a real Cinder endpoint
from the catalog (``[cinder] catalog_info``) is a transport change there, not here.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackling import clients, exception

if TYPE_CHECKING:
    from stackling.cloud import Cloud

ATTACH_VERSION = "3.44"


class VolumeNotFound(exception.NotFound):
    msg_fmt = "Volume %(volume_id)s could not be found."


class SnapshotNotFound(exception.NotFound):
    msg_fmt = "Snapshot %(snapshot_id)s could not be found."


class VolumeAttachmentNotFound(exception.NotFound):
    msg_fmt = "Volume attachment %(attachment_id)s could not be found."


class InvalidVolume(exception.BadRequest):
    msg_fmt = "Invalid volume: %(reason)s"


class OverQuota(exception.Forbidden):
    msg_fmt = "Quota exceeded for resources: %(overs)s"


@dataclass
class Caller:
    """What a worker needs of the user's request to call Cinder for them (JSON-able)."""

    token: str
    project_id: str
    user_id: str | None = None
    request_id: str | None = None
    is_admin: bool = False
    roles: list[str] = field(default_factory=list)

    @classmethod
    def from_context(cls, ctx) -> Caller:
        return cls(token=ctx.token or "", project_id=ctx.project_id or "",
                   user_id=ctx.user_id, request_id=ctx.request_id, is_admin=ctx.is_admin,
                   roles=list(ctx.roles))

    def as_dict(self) -> dict:
        """The serialised request context an RPC message carries (oslo's context slot)."""
        return {"token": self.token, "project_id": self.project_id, "user_id": self.user_id,
                "request_id": self.request_id, "is_admin": self.is_admin,
                "roles": self.roles}


def connector(host: str, mountpoint: str | None = None) -> dict:
    """The host connector os-brick reports for a compute host."""
    out = {"platform": platform.machine() or "x86_64", "os_type": "linux",
           "ip": "127.0.0.1", "host": host, "multipath": False,
           "initiator": f"iqn.1993-08.org.debian:01:{host}", "do_local_attach": False,
           "mode": "rw"}
    if mountpoint:
        out["mountpoint"] = mountpoint
    return out


@dataclass
class CinderAPI:
    cloud: Cloud
    caller: Caller
    last_request_id: str | None = field(default=None, init=False)

    def _client(self, microversion: str | None = None) -> clients.ServiceClient:
        return clients.ServiceClient(self.cloud, "volume", self.caller.token, microversion)

    def _path(self, rest: str) -> str:
        return f"/v3/{self.caller.project_id}/{rest}"

    def _call(self, method: str, rest: str, body: Any = None,
              microversion: str | None = None, not_found: exception.StacklingError | None
              = None) -> Any:
        try:
            _, data, headers = self._client(microversion).request(method, self._path(rest),
                                                                  body)
        except clients.ApiError as err:
            self.last_request_id = err.request_id
            raise translate(err, not_found) from None
        self.last_request_id = headers.get("x-openstack-request-id")
        return data

    # -- volumes ---------------------------------------------------------------------

    def get(self, volume_id: str) -> dict:
        return self._call("GET", f"volumes/{volume_id}",
                          not_found=VolumeNotFound(volume_id=volume_id))["volume"]

    def create(self, size: int, name: str = "", description: str = "",
               snapshot_id: str | None = None, image_id: str | None = None,
               volume_type: str | None = None, availability_zone: str | None = None,
               metadata: dict | None = None) -> dict:
        """POST /volumes with cinderclient's body (unknown-key tolerant below 3.53)."""
        body = {"volume": {"size": size, "consistencygroup_id": None,
                           "snapshot_id": snapshot_id, "name": name,
                           "description": description, "volume_type": volume_type,
                           "availability_zone": availability_zone,
                           "metadata": metadata or {}, "imageRef": image_id,
                           "source_volid": None, "backup_id": None}}
        return self._call("POST", "volumes", body)["volume"]

    def delete(self, volume_id: str) -> None:
        self._call("DELETE", f"volumes/{volume_id}",
                   not_found=VolumeNotFound(volume_id=volume_id))

    def get_snapshot(self, snapshot_id: str) -> dict:
        return self._call("GET", f"snapshots/{snapshot_id}",
                          not_found=SnapshotNotFound(snapshot_id=snapshot_id))["snapshot"]

    def create_snapshot_force(self, volume_id: str, name: str, description: str) -> dict:
        """``create_snapshot_force``: POST /snapshots with ``force`` (in-use volumes too)."""
        body = {"snapshot": {"volume_id": volume_id, "force": True, "name": name,
                             "description": description, "metadata": {}}}
        return self._call("POST", "snapshots", body,
                          not_found=VolumeNotFound(volume_id=volume_id))["snapshot"]

    def absolute_limits(self) -> dict:
        return self._call("GET", "limits")["limits"]["absolute"]

    def volume_types(self) -> list[dict]:
        return self._call("GET", "types")["volume_types"]

    def action(self, volume_id: str, name: str, args: dict | None = None) -> Any:
        return self._call("POST", f"volumes/{volume_id}/action", {name: args or {}},
                          not_found=VolumeNotFound(volume_id=volume_id))

    # -- attachments (3.44) ----------------------------------------------------------

    def attachment_create(self, volume_id: str, instance_uuid: str,
                          conn: dict | None = None) -> dict:
        body = {"attachment": {"volume_uuid": volume_id, "instance_uuid": instance_uuid,
                               "connector": conn}}
        return self._call("POST", "attachments", body, ATTACH_VERSION,
                          VolumeNotFound(volume_id=volume_id))["attachment"]

    def attachment_update(self, attachment_id: str, conn: dict) -> dict:
        return self._call("PUT", f"attachments/{attachment_id}",
                          {"attachment": {"connector": conn}}, ATTACH_VERSION,
                          VolumeAttachmentNotFound(attachment_id=attachment_id)
                          )["attachment"]

    def attachment_complete(self, attachment_id: str) -> None:
        self._call("POST", f"attachments/{attachment_id}/action", {"os-complete": {}},
                   ATTACH_VERSION, VolumeAttachmentNotFound(attachment_id=attachment_id))

    def attachment_delete(self, attachment_id: str) -> None:
        self._call("DELETE", f"attachments/{attachment_id}", None, ATTACH_VERSION,
                   VolumeAttachmentNotFound(attachment_id=attachment_id))


def translate(err: clients.ApiError, not_found: exception.StacklingError | None
              ) -> exception.StacklingError:
    """cinderclient exception → Nova exception (translate_cinder_exception & co)."""
    if err.status == 404:
        return not_found or exception.NotFound(err.message)
    if err.status == 413:
        return OverQuota(err.message)
    if err.status == 400:
        return exception.InvalidInput(reason=str(err))
    if err.status == 403:
        return exception.Forbidden(str(err))
    if err.status == 409:
        return exception.Conflict(str(err))
    return exception.StacklingError(str(err))
