"""/os-console-auth-tokens/{token}: a console proxy (admin) turns a console token into
the hypervisor's connection details (nova/api/openstack/compute/console_auth_tokens.py).
"""

from __future__ import annotations

from stackling import exception, policy
from stackling.compute import consoles
from stackling.compute.api import common
from stackling.web.app import Request, json_response

policy.register({"os_compute_api:os-console-auth-tokens": common.ADMIN})


def show_token(req: Request, token: str):
    """2.31+ (below, rdp-html5 only, gone with Hyper-V: webob's bare 400); ``tls_port``
    for spice-direct consoles from 2.99."""
    if not req.version.matches("2.31"):
        raise exception.BadRequest("The server could not comply with the request since it "
                                   "is either malformed or otherwise incorrect.")
    common.authorize(req, "os_compute_api:os-console-auth-tokens")
    auth = consoles.validate(req.app.cloud, token)
    if auth is None:
        raise exception.NotFound("Token not found")
    out = {"instance_uuid": auth.instance_uuid, "host": auth.host, "port": auth.port,
           "internal_access_path": auth.internal_access_path}
    if auth.console_type == "spice-direct" and req.version.matches("2.99"):
        out["tls_port"] = auth.tls_port
    return json_response({"console": out})
