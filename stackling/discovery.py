"""Version discovery documents for the compute, block storage and image roots (ref. 6.5).

keystoneauth needs ``id``, ``status`` and a ``self`` link in each version, and reads the
microversion range from ``min_version`` / ``version``.
"""

from __future__ import annotations

from stackling.web.microversion import VersionSpec


def compute_version(base: str, spec: VersionSpec) -> dict:
    return {
        "id": "v2.1", "status": "CURRENT", "version": str(spec.max),
        "min_version": str(spec.min), "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/v2.1/"},
                  {"rel": "describedby", "type": "text/html",
                   "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


def volume_version(base: str, spec: VersionSpec) -> dict:
    return {
        "id": "v3.0", "status": "CURRENT", "version": str(spec.max),
        "min_version": str(spec.min), "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "describedby", "type": "text/html",
                   "href": "https://docs.openstack.org/"},
                  {"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }


# Glance lists every minor version of v2; the newest is CURRENT.
GLANCE_CURRENT = 17


def image_versions(base: str) -> dict:
    values = []
    for minor in range(GLANCE_CURRENT, -1, -1):
        values.append({
            "id": f"v2.{minor}",
            "status": "CURRENT" if minor == GLANCE_CURRENT else "SUPPORTED",
            "links": [{"rel": "self", "href": f"{base}/v2/"}],
        })
    return {"versions": values}


def identity_version(base: str) -> dict:
    return {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }
