"""The compute host's side of volumes (nova/virt/block_device.py, nova/compute/manager.py):
create the volumes a server boots from, wait for them, attach, detach, clean up.

Every Cinder call goes through ``volume_api.CinderAPI`` (the public API contract).
Attach, now: attachment create (``reserved``; already done by the API for existing
volumes) → update with the host connector (``attaching``) → ``os-complete`` (``in-use``).
Attach, 2016 release modes: ``os-initialize_connection`` → ``os-attach``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from stackling import decisions, exception
from stackling.compute import cinder as volume_api
from stackling.compute import volume_zones
from stackling.compute.objects import bdm

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


class VolumeNotCreated(exception.StacklingError):
    msg_fmt = ("Volume %(volume_id)s did not finish being created even after we waited "
               "%(seconds)s seconds or %(attempts)s attempts. And its status is "
               "%(volume_status)s.")



def await_created(cloud: Cloud, cinder: volume_api.CinderAPI, volume_id: str) -> dict:
    """``_await_block_device_map_created``: poll while creating/downloading, bounded."""
    notifier = cloud.notifier
    try:
        return _await_created(cloud, cinder, volume_id, notifier)
    finally:
        notifier.forget(volume_id)


def _await_created(cloud: Cloud, cinder: volume_api.CinderAPI, volume_id: str,
                   notifier) -> dict:
    conf = cloud.config.nova
    start = time.monotonic()
    retries = conf.block_device_allocate_retries
    attempts = retries + 1 if retries >= 1 else 1
    interval = conf.block_device_allocate_retries_interval
    status = "creating"
    attempt = 0
    notified = _notified(cloud)
    wait = interval or (1.0 if notified else 0.02)
    if notified:
        # The end of this creation will be told here and has not been yet: the first
        # poll goes when it is (or after the interval), rather than at once to find the
        # volume "creating". (A change after version() is read wakes the wait; one
        # before it is among the changes seen lately.)
        seen = notifier.version(volume_id)
        if not notifier.changed_lately(volume_id):
            notifier.wait(volume_id, seen, wait)
    for attempt in range(1, attempts + 1):
        seen = notifier.version(volume_id)
        volume = cinder.get(volume_id)
        status = volume["status"]
        if status not in ("creating", "downloading"):
            if status == "available":
                return volume
            LOG.warning("Volume id: %s finished being created but its status is %s.",
                        volume_id, status)
            break
        # NOTE: wait for the volume to change (a notice from Cinder's workers) or for the
        # interval, whichever comes first, then read it through the API again. Real
        # Nova's option is whole seconds (default 3). An interval of 0 (tests,
        # benchmarks) polls every 20 ms, unless creations end with a notice here: then a
        # poll is sent when the volume changed (or after a second, should a notice be
        # missed), not 50 times a second per waiting build.
        notifier.wait(volume_id, seen, wait)
    raise VolumeNotCreated(volume_id=volume_id, seconds=int(time.monotonic() - start),
                           attempts=attempt, volume_status=status)


def _notified(cloud: Cloud) -> bool:
    """Whether each volume creation ends with a notice in this process: Cinder's scheduler
    and all its backends run here (stackling/notify.py), or this process has heard
    Cinder's notifications over the broker (``volume.create.end``; they are on when
    cinder.conf sets ``[oslo_messaging_notifications] driver``)."""
    only = cloud.only
    return (only.runs("cinder-scheduler") and only.runs("cinder-volume")
            and only.volume_backends is None) or cloud.notifier.heard_from_broker


class Builder:
    """The block-device part of one build, on one compute host."""

    def __init__(self, cloud: Cloud, host: str, caller: volume_api.Caller, inst: dict
                 ) -> None:
        self.cloud = cloud
        self.host = host
        self.inst = inst
        self.cinder = volume_api.CinderAPI(cloud, caller)
        conf = cloud.config
        self.release = conf.stackling.stackling.behaviour_release
        self.cross_az = conf.nova.cinder.cross_az_attach

    def prep(self, bdms: list[dict]) -> None:
        for b in bdms:
            if b["destination_type"] != "volume" or b["no_device"]:
                continue
            if not b["volume_id"]:
                self._create(b)
            self._attach(b)

    # -- create ----------------------------------------------------------------------

    def _create(self, b: dict) -> None:
        inst = self.inst
        sent, why = volume_zones.zone_to_send(self.release, self.cross_az,
                                              inst["availability_zone"])
        kwargs: dict = {}
        name = ""
        if b["source_type"] == "image":
            kwargs["image_id"] = b["image_id"]
        elif b["source_type"] == "snapshot":
            snap = self.cinder.get_snapshot(b["snapshot_id"])
            kwargs["snapshot_id"] = snap["id"]
            if not b["volume_type"] and snap.get("volume_id"):
                try:
                    b["volume_type"] = self.cinder.get(snap["volume_id"]).get(
                        "volume_type")
                except exception.StacklingError:
                    pass
        else:
            name = f"{inst['uuid']}-blank-vol"
        inputs = {"release": self.release, "cross_az_attach": self.cross_az,
                  "instance_az": inst["availability_zone"],
                  "requested_az": inst["requested_az"], "host": self.host,
                  "host_zone": inst.get("host_zone"), "sent_az": sent,
                  "source_type": b["source_type"], "size": b["volume_size"]}
        try:
            volume = self.cinder.create(b["volume_size"], name=name,
                                        volume_type=b["volume_type"],
                                        availability_zone=sent, **kwargs)
        except exception.StacklingError as err:
            self._record("volume create", decisions.FAILED,
                         f"Nova asked Cinder for a {b['volume_size']} GiB volume from "
                         f"{b['source_type']} in zone {sent or '(none)'}.\n{why}.\n"
                         f"Cinder refused: {err.message}", inputs)
            raise
        b["volume_id"] = volume["id"]
        # The mapping learns its volume and the decision is recorded in one transaction.
        with self.cloud.db.writer_connection() as s:
            bdm.update(s, b["id"], volume_id=volume["id"], volume_type=b["volume_type"])
            self._record("volume create", decisions.OK,
                         f"Nova asked Cinder for a {b['volume_size']} GiB volume from "
                         f"{b['source_type']} in zone {sent or '(none)'}.\n{why}.\n"
                         f"Cinder accepted it as {volume['id']} (zone "
                         f"{volume.get('availability_zone')}).",
                         {**inputs, "volume_id": volume["id"]}, session=s)
        try:
            await_created(self.cloud, self.cinder, volume["id"])
        except Exception:
            if b["delete_on_termination"]:
                try:
                    self.cinder.delete(volume["id"])
                except exception.StacklingError as err:
                    LOG.warning("Failed to delete volume %s: %s", volume["id"], err)
            raise
        b["attachment_id"] = None

    def _record(self, step: str, outcome: str, summary: str, inputs: dict,
                session=None) -> None:
        decisions.record(self.cloud, resource_type="server", resource_id=self.inst["uuid"],
                         service="nova-compute", step=step, outcome=outcome,
                         summary=summary, inputs=inputs,
                         caused_by=self.cinder.last_request_id, session=session)

    # -- attach ----------------------------------------------------------------------

    def _attach(self, b: dict) -> None:
        volume = self.cinder.get(b["volume_id"])
        error = volume_zones.cross_az_error(self.cross_az, self.inst["uuid"],
                                            self.inst["availability_zone"], b["volume_id"],
                                            volume.get("availability_zone"))
        if error:
            decisions.record(
                self.cloud, resource_type="server", resource_id=self.inst["uuid"],
                service="nova-compute", step="cross-AZ check", outcome=decisions.FAILED,
                summary=f"[cinder] cross_az_attach = False and the server is in "
                        f"{self.inst['availability_zone']} while volume {b['volume_id']} "
                        f"is in {volume.get('availability_zone')}",
                inputs={"instance_az": self.inst["availability_zone"],
                        "volume_az": volume.get("availability_zone"),
                        "cross_az_attach": self.cross_az})
            raise volume_api.InvalidVolume(reason=error[len("Invalid volume: "):])
        attach(self.cloud, self.cinder, self.host, self.inst["uuid"], b, self.release)


def attach(cloud: Cloud, cinder: volume_api.CinderAPI, host: str, instance_uuid: str,
           b: dict, release: str) -> None:
    """Connect a volume to this host and mark it in-use (both API generations)."""
    conn = volume_api.connector(host, b.get("device_name"))
    if volume_zones.is_2016(release):
        info = cinder.action(b["volume_id"], "os-initialize_connection",
                             {"connector": conn})
        cinder.action(b["volume_id"], "os-attach",
                      {"instance_uuid": instance_uuid, "mountpoint": b.get("device_name"),
                       "mode": "rw"})
        bdm.save(cloud, b["id"], connection_info=(info or {}).get("connection_info"))
        return
    if not b.get("attachment_id"):
        b["attachment_id"] = cinder.attachment_create(b["volume_id"], instance_uuid)["id"]
        bdm.save(cloud, b["id"], attachment_id=b["attachment_id"])
    att = cinder.attachment_update(b["attachment_id"], conn)
    cinder.attachment_complete(b["attachment_id"])
    bdm.save(cloud, b["id"], connection_info=att.get("connection_info"))


def detach(cloud: Cloud, cinder: volume_api.CinderAPI, host: str | None,
           instance_uuid: str, b: dict, release: str) -> None:
    """Disconnect and drop Cinder's attachment (volume → available if none remain)."""
    if volume_zones.is_2016(release):
        conn = volume_api.connector(host or "", b.get("device_name"))
        cinder.action(b["volume_id"], "os-terminate_connection", {"connector": conn})
        attachment_id = None
        try:
            for a in cinder.get(b["volume_id"]).get("attachments") or []:
                if a.get("server_id") == instance_uuid:
                    attachment_id = a.get("attachment_id")
        except exception.NotFound:
            return
        cinder.action(b["volume_id"], "os-detach",
                      {"attachment_id": attachment_id} if attachment_id else {})
        return
    if b.get("attachment_id"):
        try:
            cinder.attachment_delete(b["attachment_id"])
        except volume_api.VolumeAttachmentNotFound:
            pass


def cleanup_volumes(cloud: Cloud, cinder: volume_api.CinderAPI, host: str | None,
                    instance_uuid: str, bdms: list[dict], release: str) -> None:
    """``_cleanup_volumes``: detach every volume, delete those with delete_on_termination.

    Errors are logged, never raised (a server delete or a failed build must finish).
    """
    for b in bdms:
        if not b.get("volume_id"):
            continue
        try:
            detach(cloud, cinder, host, instance_uuid, b, release)
        except exception.StacklingError as err:
            LOG.warning("Failed to detach volume %s: %s", b["volume_id"], err)
        if b.get("delete_on_termination"):
            try:
                cinder.delete(b["volume_id"])
            except exception.StacklingError as err:
                LOG.warning("Failed to delete volume %s: %s", b["volume_id"], err)
            bdm.destroy(cloud, b["id"])
