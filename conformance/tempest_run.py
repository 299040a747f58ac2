#!/usr/bin/env python3
"""Run tempest's core API tests against a fresh stackling cloud, hiding nothing.

Starts a cloud (`stackling start -d` on free ports, fresh data dir), uploads a small image
it makes itself, writes tempest.conf from what the cloud itself advertises (microversion
ranges from the version documents, image import methods from /v2/info/import), runs the
tests selected by `tempest-include.txt` minus `tempest-exclude.txt` with stestr
(serial_tests after the others, serially, as tempest's own jobs do), and prints
`N passed, N failed, N skipped` per API area, then every failure with the first line of
its reason. Failures are reported, not hidden: the exit status is 1 only when a test of
`tempest-baseline.txt` did not pass (with `--baseline`) or when no test ran.

    python conformance/tempest_run.py [--concurrency 2] [--baseline] [--update-baseline]
                                      [--write-readme] [--failures-doc]
                                      [--include FILE]   # another regex list, to iterate
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import PASSWORD, LiveCloud  # noqa: E402

INCLUDE = HERE / "tempest-include.txt"
EXCLUDE = HERE / "tempest-exclude.txt"
BASELINE = HERE / "tempest-baseline.txt"
FAILURES_DOC = ROOT / "doc" / "tempest-failures.md"


def read_list(path: Path) -> list[str]:
    """Non-comment lines; in the exclude file the reason follows `  # `."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def make_image(cloud: LiveCloud, work: Path) -> str | None:
    """Upload a 1 MiB qcow2 made here; None when the Image API cannot take it yet."""
    disk = work / "tempest-disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"], check=True)
    r = cloud.openstack("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                        "--container-format", "bare", "--public", "-f", "json",
                        "tempest-image")
    if r.returncode != 0:
        print(f"no image uploaded (Image API answered: {r.stderr.strip()[:200]})")
        return None
    return json.loads(r.stdout)["id"]


def make_public_network(cloud: LiveCloud) -> str:
    """The external network an operator makes for floating IPs (devstack's ``public``),
    the default one, as devstack marks it, so get-me-a-network (``networks: auto``) can
    plug its router there; "" when the cloud serves no Network API."""
    r = cloud.openstack("network", "create", "--external", "--default", "-f", "json",
                        "public")
    if r.returncode != 0:
        print(f"no public network (Network API answered: {r.stderr.strip()[:200]})")
        return ""
    network_id = json.loads(r.stdout)["id"]
    r = cloud.openstack("subnet", "create", "--network", network_id, "--subnet-range",
                        "172.24.4.0/24", "--no-dhcp", "public-subnet")
    if r.returncode != 0:
        print(f"no public subnet (Network API answered: {r.stderr.strip()[:200]})")
    return network_id


def make_multiattach_type(cloud: LiveCloud) -> str:
    """The volume type tempest's multiattach tests ask for, as an operator would make it."""
    r = cloud.openstack("volume", "type", "create", "--property", "multiattach=<is> True",
                        "tempest-multiattach")
    if r.returncode != 0:
        print(f"no multiattach type (Block Storage answered: {r.stderr.strip()[:200]})")
        return ""
    return "tempest-multiattach"


# -- what the cloud advertises ---------------------------------------------------------


def _get(url: str, token: str | None = None) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 300:  # Cinder's root answers Multiple Choices with the document
            return json.loads(exc.read())
        raise


def _token(cloud: LiveCloud) -> str:
    body = json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}).encode()
    req = urllib.request.Request(cloud.url("identity") + "/v3/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers["X-Subject-Token"]


def _version_range(doc: dict, version_id: str) -> tuple[str, str]:
    """(min_version, version) of one entry of a Nova/Cinder version document."""
    versions = doc.get("versions") or [doc["version"]]
    entry = next(v for v in versions if v["id"] == version_id)
    return entry["min_version"], entry["version"]


def discover(cloud: LiveCloud) -> dict:
    """What the cloud says it serves, read from its own discovery documents."""
    token = _token(cloud)
    compute = _version_range(_get(cloud.url("compute") + "/"), "v2.1")
    volume = _version_range(_get(cloud.url("volume") + "/"), "v3.0")
    methods = _get(cloud.url("image") + "/v2/info/import", token) \
        .get("import-methods", {}).get("value", [])
    extensions: list[str] = []
    try:
        extensions = [e["alias"] for e in _get(cloud.url("network") + "/v2.0/extensions",
                                               token)["extensions"]]
    except (OSError, KeyError, ValueError):
        pass    # no Network API: tempest runs without neutron, as on any such cloud
    return {"compute": compute, "volume": volume, "import_methods": methods,
            "network_extensions": extensions}


# -- tempest.conf ----------------------------------------------------------------------

# A feature stays off only where stackling does not serve it; each says why, and why a
# real cloud behaves the same: for a feature that is off, the cloud gives the answer
# Nova/Cinder/Keystone give where it is not deployed (404 for an unknown path, 400 "There
# is no such action"), so a real cloud without it runs the same tests the same way.
NOT_SERVED = "not served"


def write_conf(cloud: LiveCloud, path: Path, image_id: str | None, found: dict,
               multiattach_type: str, public_network: str = "") -> None:
    identity = cloud.url("identity") + "/v3"
    (cmin, cmax), (vmin, vmax) = found["compute"], found["volume"]
    methods = found["import_methods"]
    extensions = found.get("network_extensions") or []
    neutron = bool(extensions)
    import_why = (f"/v2/info/import advertises {', '.join(methods)}" if methods else
                  "/v2/info/import advertises no method")
    lines = f"""
# Written by conformance/tempest_run.py from what this cloud advertises.
[DEFAULT]
log_file = tempest.log

[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = {PASSWORD}
admin_project_name = admin
admin_domain_name = Default
# With a Network API each dynamic project gets its network, subnet and router, as tempest
# makes them on any cloud with neutron.
create_isolated_networks = {neutron}

[identity]
uri_v3 = {identity}
auth_version = v3
region = RegionOne
v3_endpoint_type = public
admin_domain_scope = False

[identity-feature-enabled]
api_v2 = False
# Keystone's v2.0 API is gone upstream too.
api_v3 = True
# {NOT_SERVED}: /v3/OS-TRUST answers 404, as a Keystone whose paste/flask pipeline
# leaves the trust API out; tempest's trust tests need it on.
trust = False
# {NOT_SERVED}: /v3/users/{{id}}/access_rules answers 404, as a Keystone without
# application-credential access rules (the gate sets this only on Keystone jobs).
access_rules = False
# Keystone's defaults: no PCI-DSS settings, no per-domain drivers, a writable user source.
security_compliance = False
domain_specific_drivers = False
immutable_user_source = False

[service_available]
nova = True
cinder = True
glance = True
# From the catalog: the Network API answers /v2.0/extensions.
neutron = {neutron}
# Not in the catalog, as on any cloud that does not deploy them; none of their tests is
# in the selection.
swift = False
horizon = False
heat = False
placement = False

[compute]
image_ref = {image_id or ''}
image_ref_alt = {image_id or ''}
flavor_ref = 1
flavor_ref_alt = 2
region = RegionOne
# The default topology has three compute hosts.
min_compute_nodes = 3
# From GET / of the Compute API (its v2.1 entry).
min_microversion = {cmin}
max_microversion = {cmax}
# A fake cloud builds in well under a second; a minute bounds a hung test.
build_timeout = 60
build_interval = 1

[compute-feature-enabled]
# Served: the server actions, moves and consoles below (three hosts to move between).
pause = True
suspend = True
rescue = True
stable_rescue = True
console_output = True
change_password = True
resize = True
cold_migration = True
live_migration = True
vnc_console = True
spice_console = True
serial_console = True
# Served: shelve/unshelve (shelved_offload_time 0 offloads at once) and createImage.
shelve = True
snapshot = True
# {NOT_SERVED}: in-place volume swap; Nova swaps only for Cinder's migration or retype of
# an attached volume, which stackling's Cinder does not do, so every swap is refused.
swap_volume = False
# os-interface is served with the Network API.
interface_attach = {neutron}
# {NOT_SERVED}: no metadata service (only used with run_validation, which is off: no guests).
metadata_service = False
# Personality files are gone since 2.57 and not served before it either.
personality = False
# Served: OS-DCF:diskConfig, config_drive, adminPass, multiattach (2.60), encrypted types.
disk_config = True
config_drive = True
enable_instance_password = True
volume_multiattach = {bool(multiattach_type)}
attach_encrypted_volume = True
# Nova's default quota driver is the database one, not unified limits.
unified_limits = False

[volume]
region = RegionOne
catalog_type = block-storage
# From GET / of the Block Storage API (its v3.0 entry).
min_microversion = {vmin}
max_microversion = {vmax}
# What stackling's file backend reports as its capabilities.
storage_protocol = file
vendor_name = stackling
volume_type_multiattach = {multiattach_type}
build_timeout = 60
build_interval = 1
volume_size = 1

[volume-feature-enabled]
snapshot = True
clone = True
# Served at 3.42 (os-extend of an in-use volume).
extend_attached_volume = True
extend_volume_with_snapshot = True
# {NOT_SERVED}: /backups answers 404, as on a cloud without cinder-backup (devstack
# without c-bak sets this False too).
backup = False
# {NOT_SERVED}: os-volume-manage and os-snapshot-manage answer 404; a real cloud whose
# backend driver cannot manage existing volumes refuses them too (the gate switches this
# on only for drivers that can).
manage_volume = False
manage_snapshot = False
# One backend in the default topology.
multi_backend = False

[image]
region = RegionOne
build_timeout = 60
build_interval = 1

[image-feature-enabled]
# {import_why}.
import_image = {bool(methods)}
# Glance reserves the os_glance_ prefix (not a switch in Glance).
os_glance_reserved = True
# Glance's defaults: format inspection on upload, secure hash on, no http store, no
# multiple locations, no conversion, no store weights.
image_format_enforcement = True
do_secure_hash = True
http_store_enabled = False
manage_locations = False
image_conversion = False
store_weight_enabled = False

[validation]
# No guests to log into: the fake driver runs no operating system.
run_validation = False
# No guests: validation is off. Still "floating", as in the gate: tempest's
# prepare_instance_network then gives those classes a project network, so their servers
# have ports (and security groups) as they do upstream.
connect_method = floating

[network]
catalog_type = network
public_network_id = {public_network}
floating_network_name = {"public" if public_network else ""}
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64

[network-feature-enabled]
# The aliases /v2.0/extensions lists.
api_extensions = {", ".join(extensions)}
ipv6 = {neutron}
port_security = {"port-security" in extensions}
"""
    path.write_text(lines.lstrip())


# -- the run ---------------------------------------------------------------------------


def _stop_on_sigterm() -> None:
    """A timeout upstream (pytest, CI) sends SIGTERM: unwind so the cloud is stopped."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def _tempest(ws: Path, args: list[str], timeout: float) -> None:
    """`tempest run ...` in its own process group, killed whole (stestr workers too) when
    it outlives its bound or this script is interrupted."""
    proc = subprocess.Popen(["tempest", "run", *args], cwd=ws, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"tempest did not finish within {timeout:.0f} s: stopped")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(args: argparse.Namespace) -> int:
    if args.from_workspace:
        return report(collect(Path(args.from_workspace)), args)
    _stop_on_sigterm()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="stackling-tempest-"))
    cloud = LiveCloud(work / "cloud")
    results: dict[str, tuple[str, str]] = {}
    try:
        cloud.start()
        image_id = make_image(cloud, work)
        found = discover(cloud)
        print(f"cloud advertises compute {found['compute'][0]}-{found['compute'][1]}, "
              f"volume {found['volume'][0]}-{found['volume'][1]}, image import methods "
              f"{found['import_methods'] or 'none'}")
        ws = work / "ws"
        subprocess.run(["tempest", "init", "--workspace-path", str(work / "workspaces.yaml"),
                        "--name", work.name, str(ws)], check=True, capture_output=True)
        public = make_public_network(cloud) if found["network_extensions"] else ""
        write_conf(cloud, ws / "etc" / "tempest.conf", image_id, found,
                   make_multiattach_type(cloud), public)
        selection = read_list(Path(args.include) if args.include else INCLUDE)
        exclude = work / "exclude.txt"
        exclude.write_text("\n".join(read_list(EXCLUDE)) + "\n")
        # tempest's own jobs run serial_tests alone, after the rest: they change hosts.
        parallel = [r for r in selection if "serial_tests" not in r]
        serial = [r for r in selection if "serial_tests" in r]
        deadline = started + args.timeout
        for regexes, mode in ((parallel, ["--concurrency", str(args.concurrency)]),
                              (serial, ["--serial"])):
            if not regexes:
                continue
            include = work / "include.txt"
            include.write_text("\n".join(regexes) + "\n")
            _tempest(ws, ["--include-list", str(include), "--exclude-list", str(exclude),
                          *mode], max(deadline - time.monotonic(), 1))
        results = collect(ws)
    finally:
        cloud.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    print(f"run took {time.monotonic() - started:.0f} s")
    return report(results, args)


def collect(ws: Path) -> dict[str, tuple[str, str]]:
    """test id → (success / fail / skip, reason), from every stestr run of the workspace."""
    import subunit
    import testtools

    results: dict[str, tuple[str, str]] = {}

    def on_test(test: dict) -> None:
        test_id = test["id"].split("[", 1)[0]
        if test["status"] in ("success", "fail", "skip"):
            details = {k: b"".join(v.iter_bytes()).decode("utf-8", "replace")
                       for k, v in test["details"].items()}
            why = failure_reason(details) if test["status"] == "fail" else \
                details.get("reason", "").strip()
            results[test_id] = (test["status"], why)

    for run_id in range(100):
        proc = subprocess.run(["stestr", "history", "show", str(run_id), "--subunit"],
                              cwd=ws, capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            break
        case = subunit.ByteStreamToStreamResult(io.BytesIO(proc.stdout),
                                                non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        case.run(result)
        result.stopTestRun()
    return results


_REQUEST = re.compile(r"Request \(\w+:(\w+)\): (\d{3}) (\w+) https?://[^/\s]+(\S*)")
_CLIENT_CALL = re.compile(r'tempest/lib/services/(\S+?)\.py", line \d+, in (\w+)')


def failure_reason(details: dict[str, str]) -> str:
    """`<what failed>: <exception line>`: what failed is the refused request (`404 GET
    /v2.1/os-hosts`) when the log has it, else the client call of the traceback."""
    traceback = details.get("traceback", "")
    why = exception_line(traceback)
    code = re.search(r"'code': '?(\d{3})|Details: b'(\d{3})", why)
    where = ""
    if code:
        wanted = code.group(1) or code.group(2)
        hits = [h for h in _REQUEST.findall(details.get("pythonlogging:''", ""))
                if h[1] == wanted and h[0] != "_run_cleanups"]
        if hits:
            where = f"{wanted} {hits[-1][2]} {hits[-1][3].split('?', 1)[0]}"
    if not where:
        calls = _CLIENT_CALL.findall(traceback)
        if calls:
            where = f"{calls[-1][0].rsplit('/', 1)[-1]}.{calls[-1][1]}"
    return f"{where}: {why}" if where else why


def exception_line(traceback: str) -> str:
    """The exception line of a traceback, with tempest's `Details:` line when it has one."""
    lines = traceback.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  File ")),
                     default=-1)
    tail = [line for line in lines[last_frame + 1:]
            if line.strip() and not line.startswith(" ")]
    why = tail[0].strip() if tail else "no traceback"
    details = next((line.strip() for line in tail[1:] if line.startswith("Details:")), "")
    return f"{why} {details}".strip()[:300]


_IDS = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|"
                  r"\b[0-9a-f]{32}\b|0x[0-9a-f]+|tempest-[\w-]+|\b\d{4,}\b")


def cause(why: str) -> str:
    """A failure reason with its ids and numbers blanked, so the same cause groups."""
    return _IDS.sub("…", why)[:200]


def area(test_id: str) -> str:
    """compute / identity / image / volume (from a test id or a `setUpClass (id)`)."""
    inner = test_id.split("(", 1)[1].rstrip(")") if "(" in test_id else test_id
    parts = inner.split(".")
    if parts[:2] == ["tempest", "serial_tests"]:
        return parts[3] if len(parts) > 3 else "serial"
    return parts[2] if len(parts) > 2 and parts[0] == "tempest" else parts[0]


def report(results: dict[str, tuple[str, str]], args: argparse.Namespace) -> int:
    by_area: dict[str, Counter] = {}
    for test_id, (status, _) in results.items():
        by_area.setdefault(area(test_id), Counter())[status] += 1
    for name, c in sorted(by_area.items()):
        print(f"{name}: {c['success']} passed, {c['fail']} failed, {c['skip']} skipped")
    failed = {t: why for t, (s, why) in sorted(results.items()) if s == "fail"}
    for test_id, why in failed.items():
        print(f"FAILED {test_id}: {why}")
    total = Counter(s for s, _ in results.values())
    passed = {t for t, (s, _) in results.items() if s == "success"}
    status = 0
    if args.baseline or args.update_baseline:
        baseline = set(read_list(BASELINE)) if BASELINE.exists() else set()
        lost = sorted(baseline - passed)
        for test_id in lost:
            print(f"REGRESSION {test_id} passed before and did not pass now")
        if lost:
            status = 1
        if args.update_baseline:
            header = ("# tempest tests that passed against stackling; the list only grows.\n"
                      "# Regenerate with: python conformance/tempest_run.py --update-baseline\n")
            BASELINE.write_text(header + "\n".join(sorted(baseline | passed)) + "\n")
    print(f"{total['success']} passed, {total['fail']} failed, {total['skip']} skipped")
    if args.write_readme and results:
        write_readme(by_area, total)
    if args.failures_doc and results:
        write_failures_doc(failed, total)
    if not results:
        print("no tempest test ran")
        return 1
    return status


README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- tempest-results:start -->", "<!-- tempest-results:end -->"


def write_readme(by_area: dict[str, Counter], total: Counter) -> None:
    """Replace the results block of README.md with this run's counts."""
    import datetime as dt

    rows = ["| area | passed | failed | skipped |", "|---|---|---|---|"]
    for name, c in sorted(by_area.items()):
        rows.append(f"| {name} | {c['success']} | {c['fail']} | {c['skip']} |")
    rows.append(f"| **all** | **{total['success']}** | **{total['fail']}** | "
                f"**{total['skip']}** |")
    block = "\n".join([MARK_START,
                       f"Written by `python conformance/tempest_run.py --write-readme` on "
                       f"{dt.date.today().isoformat()} (tempest "
                       f"{_tempest_version()}):", "", *rows, MARK_END])
    text = README.read_text()
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
        README.write_text(text)
        print("README.md results updated")


def write_failures_doc(failed: dict[str, str], total: Counter) -> None:
    """doc/tempest-failures.md: this run's failures grouped by their reason."""
    import datetime as dt

    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for test_id, why in failed.items():
        groups[cause(why)].append((test_id, why))
    out = ["# Tempest failures", "",
           f"The failures of the last full conformance run ({dt.date.today().isoformat()}, "
           f"tempest {_tempest_version()}: {total['success']} passed, {total['fail']} failed, "
           f"{total['skip']} skipped), grouped by cause: the request the cloud refused (or "
           "the tempest client call, or the assertion) and the first line of the reason, "
           "ids blanked. Written by `python conformance/tempest_run.py --failures-doc`; "
           "rerun it after a fix rather than editing this file.", ""]
    for key, tests in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out += [f"## {len(tests)} × `{key.replace('`', chr(39))}`", ""]
        out += [f"- `{test_id}`" for test_id, _ in tests]
        out.append("")
    FAILURES_DOC.write_text("\n".join(out))
    print(f"{FAILURES_DOC.relative_to(ROOT)} written")


def _tempest_version() -> str:
    from importlib.metadata import version

    return version("tempest")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2700,
                        help="bound of the whole run in seconds (cloud start included)")
    parser.add_argument("--baseline", action="store_true",
                        help="exit 1 when a test of tempest-baseline.txt did not pass")
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and cloud dir")
    parser.add_argument("--write-readme", action="store_true",
                        help="put this run's counts per area into README.md")
    parser.add_argument("--failures-doc", action="store_true",
                        help="write doc/tempest-failures.md from this run's failures")
    parser.add_argument("--from-workspace", default=None,
                        help="report on the runs of a workspace kept with --keep")
    parser.add_argument("--include", default=None,
                        help="read the test regexes from this file instead of tempest-include.txt")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
