"""The compute host's side of external events (nova/compute/manager.py
``external_instance_event``): what Neutron and Cinder tell Nova about a server.

- ``network-changed``: Nova refreshes its network info cache; stackling's views read
  ports from Neutron on every request, so there is nothing to refresh.
- ``network-vif-deleted``: the port leaves the server's network info.
- ``network-vif-plugged`` / ``-unplugged``, ``volume-reimaged``,
  ``accelerator-request-bound``: Nova wakes whoever waits for them; nothing here waits.
- ``volume-extended``: the block device mapping takes the volume's new size and the
  driver extends the guest's disk, inside the ``compute_extend_volume`` event.
- ``power-update``: only Ironic's driver implements it; with any other driver a valid
  request fails its ``compute_power_update`` event, as Nova's ``NotImplementedError``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stackling.compute import cinder as volume_api
from stackling.compute.objects import bdm, instance_action
from stackling.compute.objects import instance as instances
from stackling.compute.power_state import RUNNING, SHUTDOWN

if TYPE_CHECKING:
    from stackling.cloud import Cloud
    from stackling.compute.host import driver as virt

LOG = logging.getLogger(__name__)


class ExternalEventsManager:
    """Mixed into ``ComputeManager``."""

    cloud: Cloud
    host: str
    driver: virt.ComputeDriver

    def external_instance_event(self, events: list[dict], caller: dict,
                                request_id: str | None = None) -> None:
        for event in events:
            uuid, name, tag = event["server_uuid"], event["name"], event.get("tag")
            LOG.debug("Received event %s-%s for instance %s", name, tag, uuid)
            if name == "network-vif-deleted":
                self._vif_deleted(uuid, tag)
            elif name == "volume-extended":
                self._extend_volume(uuid, tag, caller, request_id)
            elif name == "power-update":
                self._power_update(uuid, tag, request_id)

    def _vif_deleted(self, instance_uuid: str, port_id: str | None) -> None:
        with self.cloud.db.writer() as s:
            row = instances.by_uuid(s, instance_uuid)
            if row is not None and not row.deleted:
                instances.update_fields(row, network_info=[
                    i for i in row.network_info or [] if i.get("port_id") != port_id])

    def _extend_volume(self, instance_uuid: str, volume_id: str, caller: dict,
                       request_id: str | None) -> None:
        inst = self._load(instance_uuid)
        if inst is None:
            return
        with instance_action.event(self.cloud, instance_uuid, request_id,
                                   "compute_extend_volume", self.host):
            found = next((b for b in bdm.load(self.cloud, instance_uuid)
                          if b["volume_id"] == volume_id), None)
            if found is None:
                LOG.warning("Extend volume failed, volume %s is not attached to "
                            "instance %s.", volume_id, instance_uuid)
                return
            cinder = volume_api.CinderAPI(self.cloud, volume_api.Caller(**caller))
            size = cinder.get(volume_id)["size"]
            bdm.save(self.cloud, found["id"], volume_size=size)
            self.driver.extend_volume(inst, volume_id, size)

    def _power_update(self, instance_uuid: str, target: str | None,
                      request_id: str | None) -> None:
        with self.cloud.db.reader() as s:
            row = instances.by_uuid(s, instance_uuid)
            if row is None or row.deleted:
                return
            state = (row.task_state, row.vm_state, row.power_state)
        with instance_action.event(self.cloud, instance_uuid, request_id,
                                   "compute_power_update", self.host):
            wanted = {"POWER_ON": (None, "stopped", SHUTDOWN),
                      "POWER_OFF": (None, "active", RUNNING)}
            if state != wanted.get(target):
                LOG.info("The power-update %s event for instance %s is a no-op in "
                         "task/vm/power state %s.", target, instance_uuid, state)
                return
            raise NotImplementedError("power_update_event is only implemented by the "
                                      "Ironic driver")
