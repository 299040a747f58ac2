"""Bounded fuzz over every route of the four APIs, in-process: no answer may be a 5xx.

Fixed seed, so CI runs the same requests every time (the long run is bench/bench_fuzz.py).
Each route × method gets generated requests as the admin, as a member of another project
and without a token: real and hostile path ids, query strings, and JSON bodies (mostly one
field off a valid body, so hostile values reach the code behind the other checks).
"""

from __future__ import annotations

import logging

from tests import fuzzing

PER_ROUTE = 4


def test_every_route_answers_hostile_input_without_a_5xx(cloud):
    target = fuzzing.make_target(cloud)
    services = {case.service for case in target.cases}
    assert services == {"identity", "compute", "volume", "image"}
    assert len(target.cases) > 300
    logging.disable(logging.ERROR)
    try:
        failures = []
        for case in target.cases:
            failures += fuzzing.run_case(target, case, PER_ROUTE, seed=20261201)
    finally:
        logging.disable(logging.NOTSET)
    assert failures == []
