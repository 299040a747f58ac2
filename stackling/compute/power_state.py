"""Power states of a server, as nova/compute/power_state.py numbers them."""

NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7
