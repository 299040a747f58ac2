"""Apache libcloud's OpenStack driver against `stackling start -d`: it lists images and
sizes through Nova's compute API only (the /images proxy, /flavors/detail)."""

from __future__ import annotations

import pytest
from libcloud.compute.providers import Provider, get_driver

pytestmark = pytest.mark.e2e


def _driver(live_cloud):
    cls = get_driver(Provider.OPENSTACK)
    return cls("admin", "secret", ex_force_auth_url=live_cloud.url("identity"),
               ex_force_auth_version="3.x_password", ex_tenant_name="admin",
               ex_domain_name="Default", ex_force_service_region="RegionOne")


def test_libcloud_lists_images_and_sizes(live_cloud, tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 4096)
    made = live_cloud.openstack_json("image", "create", "--file", str(path), "--disk-format",
                                     "raw", "--container-format", "bare", "--property",
                                     "os_distro=cirros", "libcloud-img")
    driver = _driver(live_cloud)
    images = {i.id: i for i in driver.list_images()}
    assert made["id"] in images
    image = images[made["id"]]
    assert image.name == "libcloud-img"
    assert image.extra["status"] == "ACTIVE"
    assert image.extra["metadata"]["os_distro"] == "cirros"
    assert driver.get_image(made["id"]).name == "libcloud-img"
    sizes = {s.name: s for s in driver.list_sizes()}
    assert sizes["m1.tiny"].ram == 512
