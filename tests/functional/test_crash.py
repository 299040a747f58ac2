"""Crash consistency (issue 9): boot-from-volume/delete loops, kill -9, restart, and
every invariant holds (SQLite and PostgreSQL; fixed seed and duration)."""

from __future__ import annotations

import pytest

from tests.crash import crash_run


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_kill_9_under_load_then_restart_is_consistent(tmp_path, database_url):
    bad, facts = crash_run(tmp_path, clients=6, seconds=6.0, database_url=database_url,
                           seed=7)
    assert bad == [], bad
    assert facts["restart_s"] < 60
