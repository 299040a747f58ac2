"""Rally (rally + rally-openstack) against a fresh stackling cloud.

Rally pins its own dependencies, so it lives in a virtualenv of its own (default
/tmp/rallyvenv; created with `python3 -m venv /tmp/rallyvenv && /tmp/rallyvenv/bin/pip
install rally-openstack` when missing). The script starts a cloud, uploads a small
image named rally-image, registers the cloud as an existing-cloud environment, runs
bench/rally/task.yaml and prints per-action durations and the success rate.

    python bench/bench_rally.py [--times 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from _common import machine, tempdir

from tests.helpers import LiveCloud

HERE = Path(__file__).resolve().parent


def ensure_rally(venv: Path) -> Path:
    rally = venv / "bin" / "rally"
    if not rally.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "rally-openstack"],
                       check=True)
    return rally


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--venv", default="/tmp/rallyvenv")
    args = parser.parse_args()
    rally_bin = ensure_rally(Path(args.venv))
    work = tempdir()
    cloud = LiveCloud(work / "cloud")
    cloud.start()
    try:
        disk = work / "rally.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"],
                       check=True)
        r = cloud.openstack("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                            "--container-format", "bare", "--public", "rally-image")
        assert r.returncode == 0, r.stderr
        conf = work / "rally.conf"
        conf.write_text(f"[database]\nconnection = sqlite:///{work / 'rally.sqlite'}\n")

        def rally(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
            proc = subprocess.run([str(rally_bin), "--config-file", str(conf), *cmd],
                                  capture_output=True, text=True, timeout=3600)
            if check and proc.returncode != 0:
                raise SystemExit(f"rally {' '.join(cmd)} failed:\n{proc.stdout[-4000:]}"
                                 f"\n{proc.stderr[-4000:]}")
            return proc

        rally("db", "create")
        spec = work / "env.json"
        spec.write_text(json.dumps({"openstack": {
            "auth_url": cloud.url("identity") + "/v3", "region_name": "RegionOne",
            "endpoint_type": "public", "https_insecure": False,
            "admin": {"username": "admin", "password": "secret",
                      "user_domain_name": "Default", "project_name": "admin",
                      "project_domain_name": "Default"}}}))
        rally("env", "create", "--name", "stackling", "--spec", str(spec))
        rally("env", "check")
        task = rally("task", "start", str(HERE / "rally" / "task.yaml"), "--task-args",
                     json.dumps({"times": args.times, "concurrency": args.concurrency}),
                     check=False)
        report = work / "report.json"
        rally("task", "report", "--json", "--out", str(report))
        print(summarise(json.loads(report.read_text()), args))
        return 0 if task.returncode == 0 else 1
    finally:
        cloud.stop()
        shutil.rmtree(work, ignore_errors=True)


def summarise(report: dict, args: argparse.Namespace) -> str:
    lines = [f"## Rally ({args.times} iterations, concurrency {args.concurrency})", "",
             f"Machine: {machine()}", "",
             "| scenario | action | success | median s | 90%ile s | max s |",
             "|---|---|---|---|---|---|"]
    for task in report.get("tasks", []):
        for subtask in task.get("subtasks", []):
            for wl in subtask.get("workloads", []):
                name = wl.get("name") or subtask.get("title")
                stats = wl.get("statistics", {}).get("durations", {})
                for row in stats.get("atomics", []) + [stats.get("total", {})]:
                    data = row.get("data", {})
                    lines.append(f"| {name} | {row.get('display_name', row.get('name'))} | "
                                 f"{data.get('success', '')} | {data.get('median', '')} | "
                                 f"{data.get('90%ile', '')} | {data.get('max', '')} |")
    errors: dict[str, int] = {}
    for task in report.get("tasks", []):
        for subtask in task.get("subtasks", []):
            for wl in subtask.get("workloads", []):
                for it in wl.get("data", []):
                    if it.get("error"):
                        key = " ".join(str(e) for e in it["error"][:2])[:300]
                        errors[key] = errors.get(key, 0) + 1
    if errors:
        lines += ["", "Errors:"] + [f"- {n}× {e}" for e, n in errors.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
