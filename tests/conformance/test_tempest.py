"""Tempest, OpenStack's own conformance suite, against a fresh cloud.

Runs `conformance/tempest_run.py --baseline`: the whole of tempest's compute, identity,
image and volume API tests. Failures outside `tempest-baseline.txt` are reported (they are
the truth about what is not yet faithful, see doc/tempest-failures.md) and do not fail
this test; a baseline test that stops passing does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import unavailable

ROOT = Path(__file__).resolve().parents[2]
# The full run takes about 15 minutes on two busy cores; the runner stops tempest at
# RUN_BOUND, this test at TEST_BOUND (pytest-timeout), each leaving time to stop the cloud.
RUN_BOUND = 2700
TEST_BOUND = RUN_BOUND + 300

pytestmark = [pytest.mark.e2e, pytest.mark.tempest]


def _run_tempest(args: list[str]) -> subprocess.CompletedProcess:
    """The runner in its own process group; on any interruption (pytest-timeout included)
    it gets SIGTERM first, which stops its cloud, then the group is killed."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "conformance" / "tempest_run.py"),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TEST_BOUND)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.timeout(TEST_BOUND + 120)
def test_tempest_keeps_every_baseline_test_passing():
    if shutil.which("tempest") is None:
        unavailable("tempest is not installed (pip install -e '.[test]')")
    if shutil.which("qemu-img") is None:
        unavailable("qemu-img is not installed (it makes tempest's image)")
    proc = _run_tempest(["--baseline", "--timeout", str(RUN_BOUND)])
    print(proc.stdout)
    assert "REGRESSION" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    summary = [line for line in proc.stdout.splitlines() if line.endswith("skipped")][-1]
    passed = int(summary.split()[0])
    baseline = [line for line in (ROOT / "conformance" / "tempest-baseline.txt")
                .read_text().splitlines() if line and not line.startswith("#")]
    assert passed >= len(baseline)
    # Every area of the selection ran.
    for area in ("compute", "identity", "image", "volume"):
        assert any(line.startswith(f"{area}: ") for line in proc.stdout.splitlines()), area
