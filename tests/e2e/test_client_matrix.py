"""One scenario, four clients: the proof that real OpenStack clients work unchanged.

Log in, upload an image, create a volume from it in a zone, boot a server from that
volume, attach a second volume, detach it, delete everything. Driven by the `openstack`
CLI, openstacksdk, the legacy python-*client libraries, and Ansible's openstack.cloud
collection, each against the same live cloud.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.helpers import unavailable, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


def _volume_status(cloud, name: str) -> str:
    return cloud.openstack_json("volume", "show", name)["status"]


def test_openstack_cli(live_cloud, disk):
    c, tag = live_cloud, uuid.uuid4().hex[:6]
    img, vol, data, srv = f"img-{tag}", f"vol-{tag}", f"data-{tag}", f"srv-{tag}"
    image = c.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                             "--container-format", "bare", img)
    assert image["status"] == "active"
    c.openstack_json("volume", "create", "--image", img, "--size", "1",
                     "--availability-zone", "nova", vol)
    wait_for(lambda: _volume_status(c, vol) == "available", timeout=60, interval=0.2)
    server = c.openstack_json("server", "create", "--volume", vol, "--flavor", "m1.tiny",
                              "--availability-zone", "ag1", "--nic", "none", "--wait", srv)
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-AZ:availability_zone"] == "ag1"
    assert _volume_status(c, vol) == "in-use"
    c.openstack_json("volume", "create", "--size", "1", data)
    wait_for(lambda: _volume_status(c, data) == "available", timeout=60, interval=0.2)
    assert c.openstack("server", "add", "volume", srv, data).returncode == 0
    wait_for(lambda: _volume_status(c, data) == "in-use", timeout=60, interval=0.2)
    attached = c.openstack_json("server", "volume", "list", srv)
    assert {a["Volume ID"] for a in attached} == {
        c.openstack_json("volume", "show", vol)["id"],
        c.openstack_json("volume", "show", data)["id"]}
    assert c.openstack("server", "remove", "volume", srv, data).returncode == 0
    wait_for(lambda: _volume_status(c, data) == "available", timeout=60, interval=0.2)
    assert c.openstack("server", "delete", "--wait", srv).returncode == 0
    wait_for(lambda: _volume_status(c, vol) == "available", timeout=60, interval=0.2)
    for name in (vol, data):
        assert c.openstack("volume", "delete", name).returncode == 0
    assert c.openstack("image", "delete", img).returncode == 0


def test_openstacksdk(live_cloud, disk):
    conn = live_cloud.connect()
    tag = uuid.uuid4().hex[:6]
    image = conn.image.create_image(name=f"sdk-img-{tag}", filename=str(disk),
                                    disk_format="qcow2", container_format="bare",
                                    wait=True)
    assert conn.image.get_image(image.id).status == "active"
    vol = conn.block_storage.create_volume(size=1, image_id=image.id, name=f"sdk-vol-{tag}",
                                           availability_zone="nova")
    vol = conn.block_storage.wait_for_status(vol, "available", wait=60, interval=0.2)
    flavor = conn.compute.find_flavor("m1.tiny")
    server = conn.compute.create_server(
        name=f"sdk-srv-{tag}", flavor_id=flavor.id, networks="none",
        availability_zone="ag1",
        block_device_mapping=[{"boot_index": 0, "uuid": vol.id, "source_type": "volume",
                               "destination_type": "volume"}])
    server = conn.compute.wait_for_server(server, wait=60, interval=0.2)
    assert server.status == "ACTIVE" and server.availability_zone == "ag1"
    data = conn.block_storage.create_volume(size=1, name=f"sdk-data-{tag}")
    data = conn.block_storage.wait_for_status(data, "available", wait=60, interval=0.2)
    conn.compute.create_volume_attachment(server, volume_id=data.id)
    conn.block_storage.wait_for_status(data, "in-use", wait=60, interval=0.2)
    ids = {a.volume_id for a in conn.compute.volume_attachments(server)}
    assert ids == {vol.id, data.id}
    conn.compute.delete_volume_attachment(server, data.id)
    conn.block_storage.wait_for_status(data, "available", wait=60, interval=0.2)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60, interval=0.2)
    conn.block_storage.wait_for_status(vol, "available", wait=60, interval=0.2)
    conn.block_storage.delete_volume(vol)
    conn.block_storage.delete_volume(data)
    conn.image.delete_image(image)


def test_legacy_python_clients(live_cloud, disk):
    from cinderclient import client as cinder_client
    from glanceclient import Client as GlanceClient
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    from novaclient import client as nova_client

    auth = v3.Password(auth_url=live_cloud.url("identity") + "/v3", username="admin",
                       password="secret", project_name="admin", user_domain_name="Default",
                       project_domain_name="Default")
    sess = session.Session(auth=auth)
    nova = nova_client.Client("2.79", session=sess)
    cinder = cinder_client.Client("3.44", session=sess)
    glance = GlanceClient("2", session=sess)
    tag = uuid.uuid4().hex[:6]
    image = glance.images.create(name=f"legacy-img-{tag}", disk_format="qcow2",
                                 container_format="bare")
    with open(disk, "rb") as f:
        glance.images.upload(image.id, f)
    assert glance.images.get(image.id).status == "active"
    vol = cinder.volumes.create(1, imageRef=image.id, name=f"legacy-vol-{tag}",
                                availability_zone="nova")
    wait_for(lambda: cinder.volumes.get(vol.id).status == "available", 60, 0.2)
    flavor = nova.flavors.find(name="m1.tiny")
    server = nova.servers.create(
        f"legacy-srv-{tag}", image=None, flavor=flavor, nics="none",
        availability_zone="ag1",
        block_device_mapping_v2=[{"boot_index": 0, "uuid": vol.id,
                                  "source_type": "volume", "destination_type": "volume"}])
    wait_for(lambda: nova.servers.get(server.id).status == "ACTIVE", 60, 0.2)
    data = cinder.volumes.create(1, name=f"legacy-data-{tag}")
    wait_for(lambda: cinder.volumes.get(data.id).status == "available", 60, 0.2)
    nova.volumes.create_server_volume(server.id, data.id)
    wait_for(lambda: cinder.volumes.get(data.id).status == "in-use", 60, 0.2)
    assert {a.volumeId for a in nova.volumes.get_server_volumes(server.id)} == {vol.id,
                                                                                data.id}
    nova.volumes.delete_server_volume(server.id, data.id)
    wait_for(lambda: cinder.volumes.get(data.id).status == "available", 60, 0.2)
    nova.servers.delete(server.id)
    wait_for(lambda: not [s for s in nova.servers.list() if s.id == server.id], 60, 0.2)
    wait_for(lambda: cinder.volumes.get(vol.id).status == "available", 60, 0.2)
    cinder.volumes.delete(vol.id)
    cinder.volumes.delete(data.id)
    glance.images.delete(image.id)


PLAYBOOK_HEAD = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    cloud: stackling
  tasks:
"""

# Build: an image, a volume from it in zone nova, a server booted from it in zone ag1, a
# second volume attached. Left in place so the test can look where everything landed.
BUILD = PLAYBOOK_HEAD + """
    - openstack.cloud.image:
        cloud: "{{{{ cloud }}}}"
        name: ans-img-{tag}
        filename: {disk}
        disk_format: qcow2
        container_format: bare
    - openstack.cloud.volume:
        cloud: "{{{{ cloud }}}}"
        name: ans-vol-{tag}
        size: 1
        image: ans-img-{tag}
        availability_zone: nova
        wait: true
    - openstack.cloud.network:
        cloud: "{{{{ cloud }}}}"
        name: ans-net-{tag}
    - openstack.cloud.subnet:
        cloud: "{{{{ cloud }}}}"
        name: ans-subnet-{tag}
        network_name: ans-net-{tag}
        cidr: 192.168.77.0/24
    - openstack.cloud.server:
        cloud: "{{{{ cloud }}}}"
        name: ans-srv-{tag}
        flavor: m1.tiny
        boot_volume: ans-vol-{tag}
        availability_zone: ag1
        network: ans-net-{tag}
        auto_ip: false
        wait: true
      register: server
    - openstack.cloud.server_info:
        cloud: "{{{{ cloud }}}}"
        name: ans-srv-{tag}
      register: info
      until: info.servers | length == 1 and info.servers[0].status == "ACTIVE"
      retries: 120
      delay: 0.5
    - openstack.cloud.volume:
        cloud: "{{{{ cloud }}}}"
        name: ans-data-{tag}
        size: 1
        wait: true
    - openstack.cloud.server_volume:
        cloud: "{{{{ cloud }}}}"
        server: ans-srv-{tag}
        volume: ans-data-{tag}
        wait: true
"""

# Tear down: detach, delete the server, the volumes, the image and the network.
TEARDOWN = PLAYBOOK_HEAD + """
    - openstack.cloud.server_volume:
        cloud: "{{{{ cloud }}}}"
        server: ans-srv-{tag}
        volume: ans-data-{tag}
        state: absent
        wait: true
    - openstack.cloud.server:
        cloud: "{{{{ cloud }}}}"
        name: ans-srv-{tag}
        state: absent
        wait: true
    - openstack.cloud.volume:
        cloud: "{{{{ cloud }}}}"
        name: "{{{{ item }}}}"
        state: absent
        wait: true
      loop: [ans-vol-{tag}, ans-data-{tag}]
    - openstack.cloud.image:
        cloud: "{{{{ cloud }}}}"
        name: ans-img-{tag}
        state: absent
    - openstack.cloud.network:
        cloud: "{{{{ cloud }}}}"
        name: ans-net-{tag}
        state: absent
"""


def _ansible_env(live_cloud, tmp_path) -> dict[str, str]:
    env = live_cloud.env
    env["ANSIBLE_STDOUT_CALLBACK"] = "json"
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    # The modules must run under this Python, the one that has openstacksdk.
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    # NOTE: openstack.cloud 2.5.0 (ansible 12.3) reads `openstack.version` after a bare
    # `import openstack`, and openstacksdk 4.x no longer imports that submodule in its
    # __init__, so every module fails with "module 'openstack' has no attribute
    # 'version'" on any cloud. A sitecustomize that imports it works around the client's
    # bug without touching the modules.
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(
        "try:\n    import openstack.version  # noqa: F401\nexcept ImportError:\n    pass\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")]))
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "False"
    return env


def _play(text: str, env: dict[str, str], path) -> dict:
    path.write_text(text)
    proc = subprocess.run(["ansible-playbook", str(path)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    stats = json.loads(proc.stdout)["stats"]["localhost"]
    assert stats["failures"] == 0 and stats["unreachable"] == 0
    return stats


@pytest.mark.timeout(900)
def test_ansible_openstack_cloud(live_cloud, disk, tmp_path):
    if shutil.which("ansible-playbook") is None:
        unavailable("ansible is not installed (pip install -e '.[test]')")
    tag = uuid.uuid4().hex[:6]
    env = _ansible_env(live_cloud, tmp_path)
    try:
        assert _play(BUILD.format(tag=tag, disk=disk), env, tmp_path / "build.yml"
                     )["changed"] >= 5
        # Where it landed, as the API tells (the default topology: zone ag1 is
        # controller1's aggregate; the one Cinder backend is on controller2 in zone nova).
        conn = live_cloud.connect()
        server = conn.compute.find_server(f"ans-srv-{tag}", ignore_missing=False)
        server = conn.compute.get_server(server.id)
        assert server.status == "ACTIVE"
        assert server.availability_zone == "ag1"
        assert server.compute_host == "controller1"
        boot = conn.block_storage.find_volume(f"ans-vol-{tag}", ignore_missing=False)
        data = conn.block_storage.find_volume(f"ans-data-{tag}", ignore_missing=False)
        for vol in (boot, data):
            vol = conn.block_storage.get_volume(vol.id)
            assert vol.availability_zone == "nova"
            assert vol.host.split("@")[0] == "controller2"
            assert vol.status == "in-use"
            assert [a["server_id"] for a in vol.attachments] == [server.id]
        attached = {a.volume_id for a in conn.compute.volume_attachments(server)}
        assert attached == {boot.id, data.id}
    finally:
        _play(TEARDOWN.format(tag=tag), env, tmp_path / "teardown.yml")
