"""Tempest, OpenStack's own conformance suite, against a fresh cloud.

Runs `conformance/tempest_run.py --baseline`: the selection in
conformance/tempest-include.txt; fails when a test listed in tempest-baseline.txt (every
test that passed before) does not pass now.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.tempest]


@pytest.mark.skipif(shutil.which("tempest") is None,
                    reason="tempest is not installed (pip install -e '.[test]')")
def test_tempest_selection_keeps_every_baseline_test_passing():
    proc = subprocess.run([sys.executable, str(ROOT / "conformance" / "tempest_run.py"),
                           "--baseline"], capture_output=True, text=True, timeout=3000)
    print(proc.stdout)
    assert "REGRESSION" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    summary = [line for line in proc.stdout.splitlines() if line.endswith("skipped")][-1]
    passed = int(summary.split()[0])
    baseline = [line for line in (ROOT / "conformance" / "tempest-baseline.txt")
                .read_text().splitlines() if line and not line.startswith("#")]
    assert passed >= len(baseline)
