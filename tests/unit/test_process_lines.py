"""Process lines as a test: which room may import which, and who writes the shared rows.

Rooms (see doc/architecture.md): an API room runs in nova-api / cinder-api; a worker room
runs in nova-conductor, nova-compute, cinder-scheduler or cinder-volume; ``objects``
rooms are the rows both sides share. Imports inside functions count as much as those at
the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "stackling"

API_ROOMS = ("stackling.compute.api", "stackling.volume.api")
WORKER_ROOMS = ("stackling.compute.conductor", "stackling.compute.host",
                "stackling.volume.manager", "stackling.volume.scheduler",
                "stackling.volume.drivers")


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in PKG.rglob("*.py")
            if "migrations" not in p.parts}


def imports(tree: ast.Module) -> set[str]:
    """Every module a file imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def within(name: str, rooms: tuple[str, ...]) -> bool:
    return any(name == room or name.startswith(room + ".") for room in rooms)


RULES = [
    ("an API room imports a worker room", API_ROOMS, WORKER_ROOMS),
    ("a worker room imports an API room", WORKER_ROOMS, API_ROOMS),
    ("a worker room imports the web layer", WORKER_ROOMS, ("stackling.web",)),
    ("compute imports volume", ("stackling.compute",), ("stackling.volume",)),
    ("volume imports compute", ("stackling.volume",), ("stackling.compute",)),
]


def import_violations(mods: dict[str, ast.Module]) -> set[str]:
    """``module: rule (an imported name)``, one line per module and rule broken."""
    found: dict[tuple[str, str], str] = {}
    for name, tree in mods.items():
        for target in sorted(imports(tree)):
            for rule, rooms, forbidden in RULES:
                if within(name, rooms) and within(target, forbidden):
                    found.setdefault((name, rule), target)
    return {f"{name}: {rule} ({target})" for (name, rule), target in found.items()}


def test_no_forbidden_imports_between_rooms():
    assert import_violations(modules()) == set()


@pytest.mark.parametrize("room, line", [
    ("stackling.compute.api.servers", "from stackling.compute.host import manager"),
    ("stackling.compute.host.manager", "from stackling.web.app import Request"),
    ("stackling.compute.host.manager", "from stackling.compute.api import servers"),
    ("stackling.compute.conductor", "import stackling.volume.zones"),
    ("stackling.volume.api.volumes", "from stackling.volume import scheduler"),
    ("stackling.volume.scheduler", "from stackling.compute.objects import zones"),
])
def test_a_forbidden_import_is_caught(room, line):
    mods = modules()
    before = import_violations(mods)
    mods[room].body.insert(0, ast.parse(line).body[0])
    added = import_violations(mods) - before
    assert len(added) == 1 and added.pop().startswith(room + ":")
