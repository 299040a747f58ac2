"""Small shared pieces for the benchmarks: machine facts, a live cloud, percentiles."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# This checkout's code, unless PYTHONPATH names a tree to measure (bench_bfv_clients.py runs
# the base tree's cloud in-process that way: the checkout must not shadow it).
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
else:
    # A cloud started as `python -m stackling` has its working directory first on
    # sys.path, ahead of PYTHONPATH: run from this checkout, the "base" tree's cloud ran
    # this checkout's code. Its children run from the measured tree instead (only when
    # PYTHONPATH's first entry is a stackling tree: another PYTHONPATH leaves cwd alone).
    _tree = Path(os.environ["PYTHONPATH"].split(os.pathsep)[0]).resolve()
    if (_tree / "stackling" / "__init__.py").is_file():
        os.chdir(_tree)


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python "
            f"{platform.python_version()}, {dt.date.today().isoformat()}")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stackling(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stackling", *args], capture_output=True,
                          text=True, timeout=120)


def tempdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stackling-bench-"))
