"""The conformance runner's failure reasons: what failed and why, from tempest's details."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "tempest_run", Path(__file__).resolve().parents[2] / "conformance" / "tempest_run.py")
tempest_run = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tempest_run)

TRACEBACK = """Traceback (most recent call last):
  File "/x/tempest/api/compute/admin/test_hosts.py", line 36, in test_list_hosts
    hosts = self.client.list_hosts()['hosts']
            ^^^^^^^^^^^^^^^^^^^^^^^^
  File "/x/tempest/lib/services/compute/hosts_client.py", line 38, in list_hosts
    resp, body = self.get(url)
  File "/x/tempest/lib/common/rest_client.py", line 877, in _error_checker
    raise exceptions.NotFound(resp_body, resp=resp)
tempest.lib.exceptions.NotFound: Object not found
Details: {'code': 404, 'message': 'The resource could not be found.'}
"""
LOG = ("2026-12-01 08:14:59,616 20700 INFO [tempest.lib.common.rest_client] Request "
       "(HostsAdminTestJSON:test_list_hosts): 404 GET http://127.0.0.1:46974/v2.1/os-hosts"
       "?zone=ag1 0.047s\n")


def test_reason_names_the_refused_request():
    why = tempest_run.failure_reason({"traceback": TRACEBACK, "pythonlogging:''": LOG})
    assert why == ("404 GET /v2.1/os-hosts: tempest.lib.exceptions.NotFound: Object not "
                   "found Details: {'code': 404, 'message': 'The resource could not be "
                   "found.'}")


def test_reason_without_a_log_names_the_client_call():
    why = tempest_run.failure_reason({"traceback": TRACEBACK})
    assert why.startswith("hosts_client.list_hosts: tempest.lib.exceptions.NotFound")


def test_caret_lines_are_not_the_reason():
    traceback = ('Traceback (most recent call last):\n  File "/x/t.py", line 94, in t\n'
                 "    self.assertEqual(result['project'], 1)\n"
                 "                     ~~~~~~^^^^^^^^^^^\nKeyError: 'project'\n")
    assert tempest_run.failure_reason({"traceback": traceback}) == "KeyError: 'project'"


def test_causes_group_without_ids():
    a = "404 GET /v3/8c0c1f0e0c7b4a57a0e5e1b2c3d4e5f6/group_types: NotFound"
    b = "404 GET /v3/0123456789abcdef0123456789abcdef/group_types: NotFound"
    assert tempest_run.cause(a) == tempest_run.cause(b)
