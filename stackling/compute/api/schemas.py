"""Request schemas of the Nova API, faithful to nova/api/openstack/compute/schemas."""

from __future__ import annotations

import copy

from stackling.web.validation import BOOLEAN, MAX_INT, obj, wrap

# nova/api/validation/parameter_types.py
_VOLUME_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
                "maximum": MAX_INT}
_NON_NEGATIVE = {**_VOLUME_SIZE, "minimum": 0}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535,
                "pattern": r"^[^\x00-\x1f\x7f]*$"}

# schemas/flavors.py
FLAVOR_CREATE = wrap("flavor", obj({
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
           "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
    "ram": _VOLUME_SIZE, "vcpus": _VOLUME_SIZE, "disk": _NON_NEGATIVE,
    "OS-FLV-EXT-DATA:ephemeral": _NON_NEGATIVE, "swap": _NON_NEGATIVE,
    "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                    "exclusiveMinimum": 0, "maximum": 3.40282e+38},
    "os-flavor-access:is_public": BOOLEAN,
}, ("name", "ram", "vcpus", "disk")))
FLAVOR_CREATE_V255 = copy.deepcopy(FLAVOR_CREATE)
FLAVOR_CREATE_V255["properties"]["flavor"]["properties"]["description"] = _DESCRIPTION
FLAVOR_UPDATE = wrap("flavor", obj({"description": _DESCRIPTION}, ("description",)))

# schemas/quota_sets.py and quota_classes.py: -1 (unlimited) .. MAX_INT, or digits.
_QUOTA = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1,
          "maximum": MAX_INT}


def quota_update(key: str, resources, force: bool = True) -> dict:
    """Value types only: which keys a microversion allows stays in the handler."""
    props = {name: _QUOTA for name in sorted(resources)}
    if force:
        props["force"] = BOOLEAN
    return wrap(key, obj(props, additional=True))


# schemas/volume_attachments.py create (v2.49 tag, v2.79 delete_on_termination): the
# value types; which keys a microversion allows stays in the handler.
VOLUME_ATTACHMENT_CREATE = wrap("volumeAttachment", obj({
    "volumeId": {"type": "string"},
    "device": {"type": ["string", "null"]},
    "tag": {"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": 60},
    "delete_on_termination": BOOLEAN}, ("volumeId",), additional=True))
