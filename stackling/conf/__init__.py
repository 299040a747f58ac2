"""Configuration: nova.conf, cinder.conf, glance-api.conf, neutron.conf and stackling.conf,
parsed with oslo.config.

Each file gets its own ``ConfigOpts`` so that an option means what it means in the
real service (``[DEFAULT] default_availability_zone`` is ``nova`` in nova.conf and unset
in cinder.conf). Options we do not implement are ignored with a warning, because
operators paste real files.
"""

from __future__ import annotations

import configparser
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from oslo_config import cfg

from stackling.conf import cinder as cinder_opts
from stackling.conf import nova as nova_opts
from stackling.conf import services as service_opts
from stackling.conf import stackling as stackling_opts

LOG = logging.getLogger(__name__)

FILES = {"nova": "nova.conf", "cinder": "cinder.conf", "glance": "glance-api.conf",
         "neutron": "neutron.conf", "stackling": "stackling.conf"}


@dataclass
class Config:
    """The parsed files; ``warnings`` lists every option that was ignored."""

    nova: cfg.ConfigOpts
    cinder: cfg.ConfigOpts
    stackling: cfg.ConfigOpts
    glance: cfg.ConfigOpts = field(default_factory=cfg.ConfigOpts)
    neutron: cfg.ConfigOpts = field(default_factory=cfg.ConfigOpts)
    config_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)


def _new(register, path: Path | None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    register(conf)
    files = [str(path)] if path is not None and path.is_file() else []
    conf(args=[], project="stackling", default_config_files=files, default_config_dirs=[],
         use_env=False)
    return conf


def _with_services(register):
    """The service's own options plus messaging and [keystone_authtoken]."""
    def both(conf: cfg.ConfigOpts) -> None:
        register(conf)
        service_opts.register_messaging(conf)
        service_opts.register_authtoken(conf)
    return both


def _unknown_options(conf: cfg.ConfigOpts, path: Path) -> list[str]:
    """Return ``file [group] name`` for every option in ``path`` that ``conf`` does not know."""
    parser = configparser.RawConfigParser(strict=False, default_section="__none__")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read(path)
    except configparser.Error as exc:
        return [f"{path.name}: could not be parsed ({exc})"]
    unknown = []
    for section in parser.sections():
        if section in service_opts.LIBRARY_SECTIONS:
            continue
        group = None if section == "DEFAULT" else section
        known: set[str] = set()
        # NOTE: oslo.config has no public "list the options of a group"; _opts is stable.
        if group is None:
            opts = conf._opts
        else:
            opts = conf._groups[group]._opts if group in conf._groups else {}
        for info in opts.values():
            opt = info["opt"]
            known.add(opt.dest)
            known.update(d.name for d in opt.deprecated_opts if d.name)
        for key in parser[section]:
            if key.replace("-", "_") not in known:
                unknown.append(f"{path.name}: [{section}] {key}")
    return unknown


def load(config_dir: str | os.PathLike | None) -> Config:
    """Parse the config dir (any file may be missing) and warn about unknown options."""
    directory = Path(config_dir) if config_dir else None

    def path(service: str) -> Path | None:
        return directory / FILES[service] if directory else None

    config = Config(
        nova=_new(_with_services(nova_opts.register), path("nova")),
        cinder=_new(_with_services(cinder_opts.register), path("cinder")),
        stackling=_new(stackling_opts.register, path("stackling")),
        glance=_new(service_opts.register_glance, path("glance")),
        neutron=_new(service_opts.register_neutron, path("neutron")),
        config_dir=directory,
    )
    # Per-backend sections named by enabled_backends exist only once that list is known.
    cinder_opts.register_backends(config.cinder)
    for service in FILES:
        p = path(service)
        if p is not None and p.is_file():
            for item in _unknown_options(getattr(config, service), p):
                config.warnings.append(item)
                LOG.warning("Ignoring unknown option %s", item)
    return config
