"""Process lines as a test: which room may import which, and who writes the shared rows.

Rooms (see doc/architecture.md): an API room runs in nova-api / cinder-api; a worker room
runs in nova-conductor, nova-compute, cinder-scheduler or cinder-volume; ``objects``
rooms are the rows both sides share. Imports inside functions count as much as those at
the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

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
    ("compute imports network", ("stackling.compute",), ("stackling.network",)),
    ("network imports compute", ("stackling.network",), ("stackling.compute",)),
    ("volume imports network", ("stackling.volume",), ("stackling.network",)),
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
    ("stackling.compute.host.manager", "from stackling.network.objects import ports"),
])
def test_a_forbidden_import_is_caught(room, line):
    mods = modules()
    before = import_violations(mods)
    mods[room].body.insert(0, ast.parse(line).body[0])
    added = import_violations(mods) - before
    assert len(added) == 1 and added.pop().startswith(room + ":")


# --- Who writes Instance, BlockDeviceMapping, Volume and ConsoleAuthToken rows ---------
#
# Only the objects rooms may. The checker reads each function and types its names the way
# a reader would: a name bound from ``s.get(M, ...)``, ``s.scalar(select(M)...)``,
# ``s.query(M)...first()``, a loop over ``s.scalars(select(M))``, a parameter annotated
# ``M``, or a call to a function (anywhere in the package) annotated or seen to return an
# ``M`` is a row of ``M``; failing that, a name such as ``inst``/``vol``/``bdm`` (or
# ``row`` in a function that names ``M``) is taken for one. A write is an attribute
# assignment on such a row (``setattr`` too), changing a collection it holds
# (``inst.metadata_items.append(...)``), ``s.add/delete/merge(row)``, ``s.add_all(rows)``,
# constructing ``M(...)``, ``update(M)``/``insert(M)``/``delete(M)``, or
# ``s.query(M)....update()/.delete()``.

OBJECTS_ROOMS = ("stackling.compute.objects", "stackling.volume.objects")
GUARDED = ("Instance", "BlockDeviceMapping", "Volume", "ConsoleAuthToken")
NAME_HINTS = {"inst": "Instance", "instance": "Instance", "server": "Instance",
              "bdm": "BlockDeviceMapping", "vol": "Volume", "volume": "Volume"}
MUTATORS = {"append", "extend", "insert", "remove", "pop", "clear", "update", "setdefault",
            "add", "discard"}
ROW_OF_QUERY = {"scalar", "first", "one", "one_or_none", "scalar_one", "scalar_one_or_none"}
Kind = tuple  # (model, many): many=True for a collection of rows


def model_names() -> set[str]:
    """Every ORM class (so a Snapshot row is known not to be a Volume row)."""
    return {node.name for path in PKG.joinpath("db").glob("models*.py")
            for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}


def _annotation_kind(ann: ast.expr | None, models: set[str]) -> Kind | None:
    """``Volume | None`` is a row, ``list[Volume]`` rows; a tuple or a dict is neither."""
    if ann is None:
        return None
    text = ann.value if isinstance(ann, ast.Constant) and isinstance(ann.value, str) \
        else ast.unparse(ann)
    words = text.replace("[", " ").replace("]", " ").replace("|", " ").replace(",", " ") \
        .split()
    found = [w for w in words if w in models]
    if len(found) != 1 or "tuple" in words or "dict" in words:
        return None
    many = any(w in ("list", "Iterable", "Sequence", "Iterator", "set") for w in words)
    return found[0], many


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name it stands for (module or module.function)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = \
                    alias.name if alias.asname else alias.name.split(".")[0]
    return out


def _callee(func: ast.expr, module: str, aliases: dict[str, str]) -> str | None:
    """The dotted name a call refers to, when it can be told statically."""
    if isinstance(func, ast.Name):
        return aliases.get(func.id, f"{module}.{func.id}")
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in aliases:
        return f"{aliases[func.value.id]}.{func.attr}"
    return None


class _Typer:
    """Kinds of expressions inside one module, given what functions return."""

    def __init__(self, module: str, aliases: dict[str, str], models: set[str],
                 returns: dict[str, Kind]):
        self.module, self.aliases, self.models, self.returns = \
            module, aliases, models, returns

    def queried(self, expr: ast.expr) -> str | None:
        """``M`` when ``expr`` is built on ``select(M)``/``query(M)``/``get(M, ...)``."""
        while isinstance(expr, (ast.Call, ast.Attribute)):
            if isinstance(expr, ast.Call):
                name = expr.func.attr if isinstance(expr.func, ast.Attribute) else \
                    getattr(expr.func, "id", None)
                first = expr.args[0] if expr.args else None
                if name in ("select", "query", "get") and len(expr.args) >= 1 and \
                        isinstance(first, ast.Name) and first.id in self.models and \
                        (name != "select" or len(expr.args) == 1):
                    return first.id
                if name in ("scalar", "scalars", "execute") and first is not None:
                    found = self.queried(first)
                    if found:
                        return found
                expr = expr.func
            else:
                expr = expr.value
        return None

    def kind(self, expr: ast.expr | None, env: dict[str, Kind]) -> Kind | None:
        if isinstance(expr, ast.Name):
            return env.get(expr.id)
        if isinstance(expr, (ast.IfExp, ast.BoolOp)):
            for part in ([expr.body, expr.orelse] if isinstance(expr, ast.IfExp)
                         else expr.values):
                found = self.kind(part, env)
                if found:
                    return found
            return None
        if isinstance(expr, ast.Subscript):
            inner = self.kind(expr.value, env)
            return (inner[0], False) if inner and inner[1] else None
        if isinstance(expr, ast.NamedExpr):
            return self.kind(expr.value, env)
        if isinstance(expr, (ast.GeneratorExp, ast.ListComp)) and len(expr.generators) == 1 \
                and ast.unparse(expr.elt) == ast.unparse(expr.generators[0].target):
            return self.kind(expr.generators[0].iter, env)   # a filter keeps the rows
        if not isinstance(expr, ast.Call):
            return None
        callee = _callee(expr.func, self.module, self.aliases)
        if callee in self.returns:
            return self.returns[callee]
        if isinstance(expr.func, ast.Name) and expr.func.id in ("list", "sorted") \
                and expr.args:
            return self.kind(expr.args[0], env)
        if isinstance(expr.func, ast.Name) and expr.func.id == "next" and expr.args:
            many = self.kind(expr.args[0], env)      # next(b for b in bdms if ...)
            return (many[0], False) if many and many[1] else None
        model = self.queried(expr)
        if model is None:
            return None
        method = expr.func.attr if isinstance(expr.func, ast.Attribute) else None
        return model, not (method in ROW_OF_QUERY or method == "get")


class _Scope(NamedTuple):
    node: ast.AST            # a function, or the module
    name: str
    outer: _Scope | None   # the enclosing function
    own: list[ast.AST]       # its nodes, without those of functions nested in it


def _scopes(tree: ast.Module) -> list[_Scope]:
    """The module and every function in it, enclosing ones before nested ones."""
    out: list[_Scope] = []

    def walk(node, scope: _Scope | None, own: list) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = _Scope(child, child.name, scope, [])
                out.append(inner)
                walk(child, inner, inner.own)
            else:
                own.append(child)
                walk(child, scope, own)

    module = _Scope(tree, "<module>", None, [])
    out.append(module)
    walk(tree, None, module.own)
    return out


def _bind(target: ast.expr, kind: Kind | None, env: dict[str, Kind]) -> None:
    if isinstance(target, ast.Name) and kind:
        env.setdefault(target.id, kind)


def _env(scope: _Scope, typer: _Typer, outer: dict[str, Kind]) -> dict[str, Kind]:
    """What each name in a function holds (rows or collections of rows)."""
    env = dict(outer)
    args = scope.node.args
    for arg in args.posonlyargs + args.args + args.kwonlyargs:
        _bind(ast.Name(arg.arg), _annotation_kind(arg.annotation, typer.models), env)
    for _ in range(3):   # a name typed late (``rows`` then ``for r in rows``) settles
        for node in scope.own:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        for t, v in zip(target.elts, node.value.elts):
                            _bind(t, typer.kind(v, env), env)
                    else:
                        _bind(target, typer.kind(node.value, env), env)
            elif isinstance(node, ast.AnnAssign):
                _bind(node.target, _annotation_kind(node.annotation, typer.models)
                      or typer.kind(node.value, env), env)
            elif isinstance(node, ast.NamedExpr):
                _bind(node.target, typer.kind(node.value, env), env)
            elif isinstance(node, (ast.For, ast.comprehension)):
                many = typer.kind(node.iter, env)
                if many and many[1]:
                    _bind(node.target, (many[0], False), env)
    names = {n.id for n in scope.own if isinstance(n, ast.Name)} | \
        {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    mentioned = names & set(GUARDED)
    for name in names - set(env):
        if name in NAME_HINTS:
            env[name] = (NAME_HINTS[name], False)
        elif name == "row" and len(mentioned) == 1:
            env[name] = (mentioned.pop(), False)
    return env


def _returns(index: dict[str, tuple[dict, list[_Scope]]], models: set[str]) \
        -> dict[str, Kind]:
    """``module.function`` -> the kind it returns, from annotations then from bodies."""
    returns: dict[str, Kind] = {}
    top = [(name, aliases, scope) for name, (aliases, scopes) in index.items()
           for scope in scopes if scope.outer is None and scope.name != "<module>"]
    for name, _, scope in top:
        found = _annotation_kind(scope.node.returns, models)
        if found:
            returns[f"{name}.{scope.name}"] = found
    unannotated = [(name, aliases, scope) for name, aliases, scope in top
                   if scope.node.returns is None and any(
                       isinstance(n, ast.Return) and n.value is not None for n in scope.own)]
    for _ in range(2):      # a helper returning another helper's row
        for name, aliases, scope in unannotated:
            key = f"{name}.{scope.name}"
            if key in returns:
                continue
            typer = _Typer(name, aliases, models, returns)
            env = _env(scope, typer, {})
            for node in scope.own:
                found = isinstance(node, ast.Return) and typer.kind(node.value, env)
                if found:
                    returns[key] = found
                    break
    return returns


def _write(node: ast.AST, typer: _Typer, env: dict[str, Kind]) -> str | None:
    """What ``node`` writes to a guarded row, or None."""
    def row(expr) -> str | None:
        found = typer.kind(expr, env)
        return found[0] if found and not found[1] and found[0] in GUARDED else None

    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else \
        node.targets if isinstance(node, ast.Delete) else []
    for target in targets:
        for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute):
                t = t.value    # inst.system_metadata[key] = ...
            if isinstance(t, ast.Attribute) and row(t.value):
                return f"sets {row(t.value)}.{t.attr}"
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else \
        typer.aliases.get(func.id, func.id).rsplit(".", 1)[-1] \
        if isinstance(func, ast.Name) else None      # sa_delete is sqlalchemy's delete
    first = node.args[0] if node.args else None
    if isinstance(func, ast.Name) and name in GUARDED:
        return f"constructs {name}"
    if isinstance(func, ast.Attribute) and name in MUTATORS and \
            isinstance(func.value, ast.Attribute) and row(func.value.value):
        return f"changes {row(func.value.value)}.{func.value.attr}"   # inst.tags.append(t)
    if name == "setattr" and first is not None and row(first):
        return f"setattr on {row(first)}"
    if name in ("update", "insert", "delete") and isinstance(first, ast.Name) \
            and first.id in GUARDED:
        return f"{name}({first.id})"
    if name in ("update", "delete") and isinstance(func, ast.Attribute) and \
            typer.queried(func.value) in GUARDED and "query" in ast.unparse(func.value):
        return f"query({typer.queried(func.value)}).{name}()"
    if name in ("delete", "merge", "add") and isinstance(func, ast.Attribute) \
            and first is not None and row(first):
        return f"session.{name}({row(first)} row)"
    if name == "add_all" and first is not None and (typer.kind(first, env) or ("",))[0] \
            in GUARDED:
        return f"session.add_all({typer.kind(first, env)[0]} rows)"
    return None


def write_violations(mods: dict[str, ast.Module], paths: dict[str, str] | None = None) \
        -> list[str]:
    """``path:line: module.function writes ...`` for each write outside the objects rooms."""
    models = model_names()
    index = {name: (_aliases(tree), _scopes(tree)) for name, tree in mods.items()}
    returns = _returns(index, models)
    out = []
    for name, (aliases, scopes) in index.items():
        if within(name, OBJECTS_ROOMS) or within(name, ("stackling.db",)):
            continue
        typer = _Typer(name, aliases, models, returns)
        envs: dict[int, dict[str, Kind]] = {}
        for scope in scopes:
            env = envs[id(scope)] = {} if isinstance(scope.node, ast.Module) else \
                _env(scope, typer, envs.get(id(scope.outer), {}))
            for node in scope.own:
                what = _write(node, typer, env)
                if what:
                    path = (paths or {}).get(name, name)
                    out.append(f"{path}:{node.lineno}: {name}.{scope.name} {what}")
    return sorted(out)


# Writes still outside objects/, as "module.function what" (no line numbers, so edits
# elsewhere in a file do not break it). Each entry needs a reason; the aim is none.
ALLOWED_WRITES: set[str] = set()


def _paths() -> dict[str, str]:
    return {module_name(p): str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py")}


def test_only_objects_write_instance_bdm_and_volume_rows():
    found = [v for v in write_violations(modules(), _paths())
             if v.split(": ", 1)[1] not in ALLOWED_WRITES]
    assert not found, "writes outside objects/ (move them into an objects module):\n" + \
        "\n".join(found)


SNIPPET_HEAD = ("from sqlalchemy import delete, select, update\n"
                "from stackling.db.models_volume import Snapshot, Volume\n"
                "from stackling.db.models_compute import BlockDeviceMapping, "
                "ConsoleAuthToken, Instance\n")


@pytest.mark.parametrize("body, what", [
    ("def f(s):\n    inst = s.get(Instance, 1)\n    inst.vm_state = 'error'\n",
     "sets Instance.vm_state"),
    (("def f(s):\n    vol = s.scalar(select(Volume).where(Volume.id == 1))\n"
     "    setattr(vol, 'status', 'error')\n"), "setattr on Volume"),
    (("def f(s):\n    for b in s.scalars(select(BlockDeviceMapping)):\n"
     "        b.device_name = '/dev/vdb'\n"), "sets BlockDeviceMapping.device_name"),
    (("def load(s) -> Volume:\n    return s.get(Volume, 1)\n\n\n"
     "def f(s):\n    thing = load(s)\n    thing.size += 1\n"), "sets Volume.size"),
    ("def f(s, thing: Instance):\n    thing.metadata_items = []\n",
     "sets Instance.metadata_items"),
    ("def f(s, inst):\n    inst.metadata_items.append(1)\n",
     "changes Instance.metadata_items"),
    ("def f(s):\n    s.add(Volume(id='x'))\n", "constructs Volume"),
    ("def f(s):\n    s.execute(update(Instance).values(host=None))\n", "update(Instance)"),
    ("def f(s):\n    s.query(Volume).filter_by(id=1).delete()\n", "query(Volume).delete()"),
    ("def f(s):\n    s.delete(s.get(BlockDeviceMapping, 1))\n",
     "session.delete(BlockDeviceMapping row)"),
    ("def f(s):\n    s.add(ConsoleAuthToken(token_hash='x'))\n", "constructs ConsoleAuthToken"),
    ("def f(s):\n    s.execute(delete(ConsoleAuthToken))\n", "delete(ConsoleAuthToken)"),
])
def test_the_write_checker_flags_a_write_outside_objects_only(body, what):
    tree = ast.parse(SNIPPET_HEAD + body)
    line = SNIPPET_HEAD.count("\n") + len(body.rstrip("\n").split("\n"))
    found = write_violations({"stackling.volume.api.fake": tree}, {
        "stackling.volume.api.fake": "stackling/volume/api/fake.py"})
    assert found == [(f"stackling/volume/api/fake.py:{line}: "
                     f"stackling.volume.api.fake.f {what}")]
    assert write_violations({"stackling.volume.objects.fake": tree}) == []


@pytest.mark.parametrize("body", [
    "def f(s):\n    snap = s.get(Snapshot, 1)\n    snap.status = 'error'\n",
    "def f(s):\n    vol = s.get(Volume, 1)\n    size = vol.size\n    vol = {}\n",
    "def f(s, row):\n    row.status = 'error'\n",       # a row of what? not a guarded model
    "def f(s, inst):\n    inst.metadata_items.count(1)\n",
    "def f(s):\n    s.execute(update(Snapshot).values(status='error'))\n",
])
def test_the_write_checker_leaves_other_rows_and_reads_alone(body):
    assert write_violations({"stackling.volume.api.fake": ast.parse(SNIPPET_HEAD + body)}) == []
