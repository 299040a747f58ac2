#!/usr/bin/env python3
"""Run a selection of tempest against a fresh stackling cloud.

Starts a cloud (`stackling start -d` on free ports, fresh data dir), uploads a small image
it makes itself, writes tempest.conf for it, runs the tests selected by
`tempest-include.txt` minus `tempest-exclude.txt` with stestr, and prints
`N passed, N failed, N skipped` plus the same per API area. With `--baseline`, it exits 1
when a test listed there did not pass; `--update-baseline` adds the tests that passed
(the baseline only grows).

    python conformance/tempest_run.py [--concurrency 2] [--baseline] [--update-baseline]
                                      [--include FILE]   # another regex list, to iterate
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import LiveCloud  # noqa: E402

INCLUDE = HERE / "tempest-include.txt"
EXCLUDE = HERE / "tempest-exclude.txt"
BASELINE = HERE / "tempest-baseline.txt"


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


def write_conf(cloud: LiveCloud, path: Path, image_id: str | None) -> None:
    identity = cloud.url("identity") + "/v3"
    lines = f"""
[DEFAULT]
log_file = tempest.log

[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = secret
admin_project_name = admin
admin_domain_name = Default
create_isolated_networks = False

[identity]
uri_v3 = {identity}
auth_version = v3
region = RegionOne
v3_endpoint_type = public
disable_ssl_certificate_validation = True
admin_domain_scope = False

[identity-feature-enabled]
api_v2 = False
api_v3 = True
trust = False
security_compliance = False
access_rules = False
application_credentials = True
project_tags = True

[service_available]
nova = True
cinder = True
glance = True
neutron = False
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
min_compute_nodes = 3
build_timeout = 60
build_interval = 1

[compute-feature-enabled]
resize = False
pause = False
shelve = False
suspend = False
cold_migration = False
live_migration = False
vnc_console = False
spice_console = False
serial_console = False
rescue = False
console_output = False
change_password = False
snapshot = False
interface_attach = False
metadata_service = False
config_drive = False
personality = False
attach_encrypted_volume = False

[volume]
region = RegionOne
catalog_type = block-storage
# What stackling's file backend reports as its capabilities.
storage_protocol = file
vendor_name = stackling
build_timeout = 60
build_interval = 1
volume_size = 1

[volume-feature-enabled]
backup = False
snapshot = True
clone = True
manage_volume = False
manage_snapshot = False
extend_attached_volume = False
volume_revert = False

[image]
region = RegionOne
build_timeout = 60
build_interval = 1

[image-feature-enabled]
import_image = False
os_glance_reserved = False

[validation]
run_validation = False

[network]
catalog_type = network

[network-feature-enabled]
ipv6 = False
"""
    path.write_text(lines.lstrip())


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="stackling-tempest-"))
    cloud = LiveCloud(work / "cloud")
    cloud.start()
    try:
        image_id = make_image(cloud, work)
        ws = work / "ws"
        subprocess.run(["tempest", "init", "--workspace-path", str(work / "workspaces.yaml"),
                        "--name", work.name, str(ws)], check=True, capture_output=True)
        write_conf(cloud, ws / "etc" / "tempest.conf", image_id)
        include = work / "include.txt"
        selection = Path(args.include) if args.include else INCLUDE
        include.write_text("\n".join(read_list(selection)) + "\n")
        exclude = work / "exclude.txt"
        exclude.write_text("\n".join(read_list(EXCLUDE)) + "\n")
        proc = subprocess.run(["tempest", "run", "--include-list", str(include),
                               "--exclude-list", str(exclude),
                               "--concurrency", str(args.concurrency)],
                              cwd=ws, capture_output=True, text=True,
                              timeout=args.timeout)
        if args.verbose:
            print(proc.stdout[-20000:])
        results = collect(ws)
    finally:
        cloud.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    return report(results, args)


def collect(ws: Path) -> dict[str, str]:
    """test id → success / fail / skip, from the last stestr run's subunit stream."""
    import subunit
    import testtools

    stream = subprocess.run(["stestr", "last", "--subunit"], cwd=ws,
                            capture_output=True).stdout
    results: dict[str, str] = {}

    def on_test(test: dict) -> None:
        test_id = test["id"].split("[", 1)[0]
        if test["status"] in ("success", "fail", "skip"):
            results[test_id] = test["status"]

    case = subunit.ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout")
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    case.run(result)
    result.stopTestRun()
    return results


def area(test_id: str) -> str:
    parts = test_id.split(".")
    return parts[2] if len(parts) > 2 and parts[0] == "tempest" else parts[0]


def report(results: dict[str, str], args: argparse.Namespace) -> int:
    by_area: dict[str, Counter] = {}
    for test_id, status in results.items():
        by_area.setdefault(area(test_id), Counter())[status] += 1
    for name, c in sorted(by_area.items()):
        print(f"{name}: {c['success']} passed, {c['fail']} failed, {c['skip']} skipped")
    failed = sorted(t for t, s in results.items() if s == "fail")
    for test_id in failed:
        print(f"FAILED {test_id}")
    total = Counter(results.values())
    passed = {t for t, s in results.items() if s == "success"}
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
        if name in ("setUpClass (tempest", "tearDownClass (tempest"):
            name = name.split(" ")[0] + " (whole classes)"
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


def _tempest_version() -> str:
    from importlib.metadata import version

    return version("tempest")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2400)
    parser.add_argument("--baseline", action="store_true",
                        help="fail when a test of tempest-baseline.txt did not pass")
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and cloud dir")
    parser.add_argument("--write-readme", action="store_true",
                        help="put this run's counts per area into README.md")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--include", default=None,
                        help="read the test regexes from this file instead of tempest-include.txt")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
