"""The ``stackling`` command: start, stop, status, wait and clouds-yaml.

The conventions are LocalStack's: ``start`` runs in the foreground, ``start -d`` detaches,
``wait`` blocks until every API answers. Every command understands the same options.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from stackling import runstate
from stackling.seams import SelectionError, parse_only
from stackling.settings import DEFAULT_PORTS, Settings, default_data_dir

LOG = logging.getLogger("stackling")


def _add_common(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--data-dir", default=None,
                   help="database, volumes, images, logs, pid file and clouds.yaml "
                        f"(default {default_data_dir()}; env STACKLING_DATA_DIR)")
    # NOTE: --config-dir, --host and --port-offset default to None so that the commands
    # talking to a started cloud can tell "not given" and take them from its run state.
    p.add_argument("--config-dir", default=None,
                   help="holds nova.conf, cinder.conf, glance-api.conf, neutron.conf, "
                        "stackling.conf (default <data-dir>/etc; env STACKLING_CONFIG_DIR)")
    p.add_argument("--topology", default=env("STACKLING_TOPOLOGY"),
                   help="topology YAML (default: the seed's three zones)")
    p.add_argument("--host", default=None,
                   help="address to listen on and to advertise (default 127.0.0.1; "
                        "env STACKLING_HOST)")
    p.add_argument("--port-offset", type=int, default=None,
                   help="added to every default port (5000, 8774, 8776, 9292; "
                        "env STACKLING_PORT_OFFSET)")
    p.add_argument("--database-url", default=env("STACKLING_DATABASE_URL"),
                   help="SQLAlchemy URL, e.g. postgresql://user@127.0.0.1/db "
                        "(default: SQLite in the data dir)")
    p.add_argument("--only", default=env("STACKLING_ONLY"),
                   help="run only these services, e.g. keystone,nova-api or "
                        "nova-compute=controller1,cinder-volume=controller2@file "
                        "(default: all of them)")


def settings_from(args: argparse.Namespace, state: dict | None = None) -> Settings:
    """Options as given; else what the run state says; else the environment; else defaults."""
    env, state = os.environ.get, state or {}
    offset = args.port_offset
    if offset is None:
        offset = state.get("port_offset", int(env("STACKLING_PORT_OFFSET", "0")))
    config_dir = args.config_dir or state.get("config_dir") or env("STACKLING_CONFIG_DIR")
    return Settings(data_dir=_data_dir(args),
                    config_dir=Path(config_dir) if config_dir else None,
                    topology_file=Path(args.topology) if args.topology else None,
                    host=args.host or state.get("host") or env("STACKLING_HOST", "127.0.0.1"),
                    port_offset=offset, database_url=args.database_url,
                    only=args.only or state.get("only"))


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else default_data_dir()


def running(args: argparse.Namespace) -> tuple[Settings, dict | None]:
    """The settings of the cloud started for this data dir, and its run state (or None)."""
    state = runstate.read(Settings(data_dir=_data_dir(args)).data_dir)
    return settings_from(args, state), state


def _alive_pid(state: dict | None) -> int | None:
    return state["pid"] if state and runstate.alive(state["pid"]) else None


def _forward(args: argparse.Namespace) -> list[str]:
    out = [f"--{flag}" for flag in ("spread", "restart") if getattr(args, flag, False)]
    for opt in ("data_dir", "config_dir", "topology", "host", "port_offset", "database_url",
                "only"):
        value = getattr(args, opt)
        if value is not None:
            out += ["--" + opt.replace("_", "-"), str(value)]
    return out


# -- clouds.yaml -----------------------------------------------------------------------


def clouds(settings: Settings, config=None) -> dict:
    from stackling import conf as conf_mod

    config = config or conf_mod.load(settings.config_dir)
    b = config.stackling.bootstrap
    region = _region(settings)

    def entry(user: str, password: str, project: str) -> dict:
        return {"auth": {"auth_url": settings.url("identity") + "/v3", "username": user,
                         "password": password, "project_name": project,
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": region, "identity_api_version": 3, "interface": "public"}

    return {"stackling": entry(b.admin_username, b.admin_password, b.admin_project),
            "stackling-demo": entry(b.demo_username, b.demo_password, b.demo_project)}


def _region(settings: Settings) -> str:
    from stackling.topology import Topology

    return Topology.load(settings.topology_file).region


def write_clouds_yaml(settings: Settings, config=None) -> list[str]:
    """Write our two entries into <data-dir>/clouds.yaml, keeping any others.

    Returns the names of our entries that existed with different content (the caller
    says so; a backup of the old file is kept as clouds.yaml.bak).
    """
    import yaml

    path = settings.clouds_yaml
    ours = clouds(settings, config)
    existing: dict = {}
    if path.exists():
        existing = yaml.safe_load(path.read_text()) or {}
    entries = existing.setdefault("clouds", {})
    changed = [name for name in ours if name in entries and entries[name] != ours[name]]
    if changed:
        _write_private(path.with_suffix(".yaml.bak"), path.read_text())
    if changed or any(name not in entries for name in ours):
        entries.update(ours)
        _write_private(path, yaml.safe_dump(existing, sort_keys=False))
    return changed


def _write_private(path: Path, text: str) -> None:
    """Passwords inside: readable by the owner only (0600), also if the file existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def usage_text(settings: Settings) -> str:
    return (f"stackling is running: identity {settings.url('identity')}/v3\n"
            f"Use it with the openstack CLI or openstacksdk:\n"
            f"  export OS_CLIENT_CONFIG_FILE={settings.clouds_yaml}\n"
            f"  export OS_CLOUD=stackling        # admin; stackling-demo for a member user\n"
            f"or copy {settings.clouds_yaml} to ~/.config/openstack/clouds.yaml\n")


# -- commands --------------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    state = runstate.read(settings.data_dir)
    running_pid = _alive_pid(state)
    if running_pid and running_pid != os.getpid():
        if args.spread and state.get("spread"):
            # A spread cloud runs: start its processes that are down (a crashed one).
            os.kill(running_pid, signal.SIGUSR1)
            print(f"stackling is running (pid {running_pid}): starting its processes "
                  "that are down")
            return 0
        print(f"stackling is already running (pid {running_pid}) for {settings.data_dir}",
              file=sys.stderr)
        return 1
    try:
        parse_only(settings.only)
    except SelectionError as exc:
        print(f"stackling: --only: {exc}", file=sys.stderr)
        return 2
    if args.spread and os.environ.get(DETACHED_ENV) != "1":
        from stackling import conf as conf_mod
        from stackling.spread import problems

        found = problems(settings, conf_mod.load(settings.config_dir))
        for text in found:
            print(f"stackling: --spread: {text}", file=sys.stderr)
        if found:
            return 2
    if args.detach:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The child logs to the rotating log itself; its stdout/stderr (what bypasses
        # logging, such as a crash before logging is set up) go to a small side file.
        fd = os.open(settings.console_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as console:
            proc = subprocess.Popen(
                [sys.executable, "-m", "stackling", "start", *_forward(args)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                start_new_session=True, env={**os.environ, DETACHED_ENV: "1"})
        # The child records itself again once it serves; `wait` watches this pid meanwhile
        # and finds the ports here.
        runstate.record(settings, proc.pid, serving=False)
        print(f"stackling starting in the background (pid {proc.pid}); "
              f"log: {settings.log_file}\nRun `stackling wait` to block until it is ready.")
        return 0
    # Replaces whatever a crashed earlier cloud left: `wait` watches this process now.
    runstate.record(settings, os.getpid(), serving=False)
    if args.spread:
        from stackling import spread

        setup_logging(settings)
        return spread.run(settings, args.restart)
    return run_foreground(settings)


DETACHED_ENV = "STACKLING_DETACHED_CHILD"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Size-based rotation: stackling.log plus a few old files, 10 MiB each.
LOG_MAX_BYTES = 10 * 2 ** 20
LOG_BACKUPS = 3


def _log_handler(settings: Settings) -> logging.Handler:
    if os.environ.get(DETACHED_ENV) != "1":
        return logging.StreamHandler(sys.stderr)
    settings.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(
        settings.log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS)
    os.chmod(settings.log_file, 0o600)
    return handler


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT,
                        handlers=[_log_handler(settings)])


def run_foreground(settings: Settings) -> int:
    setup_logging(settings)
    t0 = time.perf_counter()
    # NOTE: start-up allocates only what lives as long as the process (modules, models,
    # apps): cyclic collections over it are wasted time, so they wait until it serves.
    gc.disable()
    from stackling import conf as conf_mod

    config = conf_mod.load(settings.config_dir)
    from stackling import bootstrap_hashes

    prehashed = bootstrap_hashes.start(settings, config)
    from stackling.cloud import Cloud

    try:
        cloud = Cloud(settings, config)
    except SelectionError as exc:
        LOG.error("cannot start: %s", exc)
        return 2
    if cloud.identity is not None:
        cloud.identity.prehashed = prehashed
    cloud.setup()
    cloud.start()
    try:
        cloud.serve()
    except OSError as exc:
        LOG.error("cannot listen: %s", exc)
        cloud.stop()
        return 1
    finally:
        # Start-up made what lives as long as the process (modules, models, apps, ~200k
        # objects): frozen, the collector never walks them again (the first collections
        # after start walked them all: 0.29 s of CPU over the first 64 boots, 0.03 s frozen).
        gc.freeze()
        gc.enable()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    changed = write_clouds_yaml(settings, cloud.config)
    for name in changed:
        LOG.warning("clouds.yaml entry %r was changed to match this cloud "
                    "(old file kept as clouds.yaml.bak)", name)
    # Last: once `wait` sees this, clients may read clouds.yaml.
    runstate.record(settings, os.getpid(), serving=True)
    LOG.info("ready in %.0f ms", (time.perf_counter() - t0) * 1000)
    sys.stdout.write(usage_text(settings))
    sys.stdout.flush()
    stop.wait()
    LOG.info("stopping")
    t1 = time.perf_counter()
    cloud.stop()
    runstate.clear(settings, os.getpid())
    LOG.info("stopped in %.0f ms", (time.perf_counter() - t1) * 1000)
    # The interpreter's last collections would walk the whole heap (≈0.2 s) only to free
    # memory the exit returns anyway.
    gc.freeze()
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    settings, state = running(args)
    pid = _alive_pid(state)
    if state is not None and state.get("spread"):
        return _stop_spread(settings, state, pid, args.timeout)
    if pid is None:
        if state is not None:  # it died without cleaning up: forget it
            runstate.clear(settings, state["pid"])
        print("stackling is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not runstate.alive(pid):
            runstate.clear(settings, pid)  # in case it died before it could
            print("stackling stopped")
            return 0
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    runstate.clear(settings, pid)
    print("stackling killed after timeout")
    return 0


def _stop_spread(settings: Settings, state: dict, pid: int | None, timeout: float) -> int:
    """The supervisor stops its children; those a dead supervisor left are stopped here."""
    from stackling import spread

    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout + 5
        while runstate.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if runstate.alive(pid):
            os.kill(pid, signal.SIGKILL)
    left = spread.stop_leftovers(state, timeout)
    runstate.clear(settings, state["pid"])
    print(f"stackling stopped ({len(state.get('processes', []))} processes"
          + (f", {left} of them left by a dead supervisor)" if left else ")"))
    return 0


def _probe(host: str, port: int, timeout: float = 1.0) -> int | None:
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Accept": "application/json"})
        with conn.getresponse() as resp:
            resp.read()
            return resp.status
    except (OSError, http.client.HTTPException):
        # Refused, reset or cut short while the cloud starts or stops: not answering yet.
        return None
    finally:
        conn.close()


def api_states(settings: Settings) -> dict[str, int | None]:
    """The answer of each API this cloud (or its --only part) serves."""
    areas = parse_only(settings.only).areas
    return {name: _probe(settings.host, settings.port(name)) for name in DEFAULT_PORTS
            if name in areas}


def _answering(states: dict[str, int | None]) -> bool:
    """Every API answers (a process serving none, e.g. compute hosts only, trivially)."""
    return all(code is not None and code < 500 for code in states.values())


def cmd_status(args: argparse.Namespace) -> int:
    settings, state = running(args)
    pid = _alive_pid(state)
    states = api_states(settings)
    procs = None
    if state is not None and state.get("spread"):
        from stackling.spread import process_states

        procs = process_states(state)
    # Ready means this data dir's cloud runs and answers, not that someone holds the ports.
    up = pid is not None and state.get("serving") and _answering(states) and \
        all(p["state"] == "up" for p in procs or [])
    if args.format == "json":
        out = {"running": pid is not None, "pid": pid, "ready": bool(up),
               "data_dir": str(settings.data_dir),
               "apis": {k: {"url": settings.url(k), "status": v} for k, v in states.items()}}
        if procs is not None:
            out["processes"] = [{k: p[k] for k in ("name", "service", "host", "pid",
                                                   "state", "exit_code", "restarts")}
                                for p in procs]
        print(json.dumps(out))
        return 0 if up else 3
    print(f"stackling: {'running (pid %s)' % pid if pid else 'not running'}"
          f" - data dir {settings.data_dir}")
    for name, code in states.items():
        print(f"  {name:<9} {settings.url(name):<28} "
              f"{'answers (HTTP %s)' % code if code else 'down'}")
    if procs:
        print(f"  {'PID':>7}  {'SERVICE':<16} {'HOST':<20} {'PROCESS':<32} STATE")
        for p in procs:
            dead = f" (exit code {p['exit_code']})" if p["exit_code"] is not None else ""
            again = f", restarted {p['restarts']}x" if p["restarts"] else ""
            print(f"  {p['pid'] or '-':>7}  {p['service']:<16} {p['host']:<20} "
                  f"{p['name']:<32} {p['state']}{dead if p['state'] == 'dead' else ''}"
                  f"{again}")
    return 0 if up else 3


def cmd_wait(args: argparse.Namespace) -> int:
    data_dir = Settings(data_dir=_data_dir(args)).data_dir
    deadline = time.monotonic() + args.timeout
    states: dict[str, int | None] = {}
    while True:
        # The run state names the pid and the ports of this data dir's cloud: a dead start
        # or a stopped cloud must not pass for ready because another cloud holds the ports.
        settings, state = running(args)
        if state is not None:
            if not runstate.alive(state["pid"]):
                print(f"stackling exited; see {settings.log_file} and "
                      f"{settings.console_file}", file=sys.stderr)
                return 1
            if state.get("serving"):
                states = api_states(settings)
                if _answering(states):
                    return 0
        if time.monotonic() >= deadline:
            if state is None:
                print(f"timed out after {args.timeout}s: no cloud was started for {data_dir} "
                      f"(no {runstate.STATE_FILE}); run `stackling start -d`", file=sys.stderr)
            else:
                down = ([k for k, v in states.items() if v is None or v >= 500]
                        or ["the cloud to bind its ports"])
                print(f"timed out after {args.timeout}s waiting for: {', '.join(down)}",
                      file=sys.stderr)
            return 1
        time.sleep(0.01)


def cmd_clouds_yaml(args: argparse.Namespace) -> int:
    import yaml

    settings, _ = running(args)
    sys.stdout.write(yaml.safe_dump({"clouds": clouds(settings)}, sort_keys=False))
    return 0


def admin_token(settings: Settings) -> str:
    """Log in as the bootstrap admin of the running cloud."""
    import urllib.request

    from stackling import conf as conf_mod

    b = conf_mod.load(settings.config_dir).stackling.bootstrap
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": b.admin_username, "domain": {"name": "Default"},
        "password": b.admin_password}}},
        "scope": {"project": {"name": b.admin_project, "domain": {"name": "Default"}}}}})
    req = urllib.request.Request(settings.url("identity") + "/v3/auth/tokens?nocatalog",
                                 data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers["X-Subject-Token"]


def cmd_explain(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.parse
    import urllib.request

    settings, _ = running(args)
    kind = args.kind + "s"
    fmt = "text" if args.format == "text" else "json"
    url = (f"{settings.url('identity')}/_stackling/explain/{kind}/"
           f"{urllib.parse.quote(args.ident)}?format={fmt}")
    try:
        req = urllib.request.Request(url, headers={"X-Auth-Token": admin_token(settings)})
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            detail = next(iter(json.loads(detail).values()))["message"]
        except (ValueError, KeyError, TypeError, StopIteration):
            pass
        print(f"cannot explain {args.kind} {args.ident}: {detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"stackling is not answering at {settings.url('identity')}: {exc}",
              file=sys.stderr)
        return 1
    sys.stdout.write(body if fmt == "text" else json.dumps(json.loads(body), indent=2) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackling", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="start a cloud (foreground; -d to detach)")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("--spread", action="store_true",
                   help="every service (and each host's) in its own OS process, on a "
                        "PostgreSQL/MariaDB database and RabbitMQ; again on a running "
                        "cloud: start its processes that are down")
    p.add_argument("--restart", action="store_true",
                   help="with --spread: restart a process that exits (backoff 1 s "
                        "doubling to 60 s); default: report it in `stackling status`")
    p.set_defaults(func=cmd_start)
    p = sub.add_parser("stop", help="stop the cloud of this data dir")
    p.add_argument("--timeout", type=float, default=15.0)
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("status", help="is it running, and does every API answer")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("wait", help="block until every API answers")
    p.add_argument("-t", "--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("clouds-yaml", help="print the clouds.yaml for this cloud")
    p.set_defaults(func=cmd_clouds_yaml)
    p = sub.add_parser("explain", help="why a server or volume landed where it did, or "
                                       "failed, and which option would change that")
    p.add_argument("kind", choices=["server", "volume"])
    p.add_argument("ident", help="id or name")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_explain)
    for p in sub.choices.values():
        _add_common(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
