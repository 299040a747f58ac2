"""Host ranges: ``controller[1-500]`` names 500 hosts, ``az[001-100]`` 100 zero-padded names.

Scale tests describe hundreds of hosts; a range keeps ``--only`` and the topology YAML
short. One bracket per name; text around it is kept (``ctl[1-4]@file``). A zero-padded
start (``[001-100]``) pads every number to its width, as Slurm and Ansible do.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"^(?P<pre>[^\[\]]*)\[(?P<lo>\d+)-(?P<hi>\d+)\](?P<post>[^\[\]]*)$")
# Large enough for any scale test, small enough that a typo cannot eat the memory.
MAX_HOSTS = 100_000


class HostRangeError(ValueError):
    pass


def is_range(text: str) -> bool:
    return "[" in text or "]" in text


def expand(text: str) -> list[str]:
    """``name[a-b]`` → [namea, ..., nameb]; a plain name → [name]."""
    if not is_range(text):
        return [text]
    m = _RANGE.match(text)
    if m is None:
        raise HostRangeError(f"bad host range {text!r} (expected e.g. controller[1-500])")
    lo, hi = int(m["lo"]), int(m["hi"])
    if hi < lo or hi - lo + 1 > MAX_HOSTS:
        raise HostRangeError(f"bad host range {text!r}: [{lo}-{hi}] is empty or larger "
                             f"than {MAX_HOSTS}")
    width = len(m["lo"]) if m["lo"].startswith("0") and len(m["lo"]) > 1 else 0
    return [f"{m['pre']}{n:0{width}d}{m['post']}" for n in range(lo, hi + 1)]


def expand_all(names: list[str]) -> list[str]:
    """Every name of a list whose items may be ranges, in order, without repeats."""
    out: dict[str, None] = {}
    for name in names:
        out.update(dict.fromkeys(expand(name)))
    return list(out)


def split(items: list[str], parts: int) -> list[list[str]]:
    """``items`` in ``parts`` consecutive groups of equal size (a range of aggregates)."""
    if parts <= 0 or len(items) % parts:
        raise HostRangeError(f"{len(items)} hosts do not split evenly over {parts} groups")
    size = len(items) // parts
    return [items[i * size:(i + 1) * size] for i in range(parts)]
