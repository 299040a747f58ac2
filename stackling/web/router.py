"""Route tables: path template → {METHOD: handler}, with 404 and 405 + Allow built in.

Templates use ``{name}`` for one path segment (never a regex). A service whose URLs may
carry the project id (``/v2.1/{project_id}/servers`` and ``/v2.1/servers``) declares the
prefix after which the optional segment goes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stackling import exception

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Route:
    template: str
    methods: dict[str, Callable[..., Any]]
    public: bool = False
    strict: bool = False     # no trailing slash allowed (python-routes' Mapper, as Nova)
    regex: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        pattern = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", self.template.rstrip("/"))
        self.regex = re.compile(f"^{pattern}{'' if self.strict else '/?'}$")

    @property
    def shape(self) -> tuple[int, str | None]:
        """How many segments the template has, and its last one if it is literal."""
        depth, last = _shape(self.template)
        return depth, None if "{" in last else last


def _shape(path: str) -> tuple[int, str]:
    """A path's segment count and last segment (a trailing slash ignored)."""
    path = path.rstrip("/")
    return path.count("/"), path[path.rfind("/") + 1:]


class Router:
    def __init__(self, table: Iterable[tuple[str, dict]], project_prefix: str | None = None,
                 public: Iterable[str] = (), strict_slashes: bool = False) -> None:
        """``strict_slashes``: a trailing slash is a 404 except on the public (version)
        routes, as in the services routed by python-routes (Nova)."""
        public = set(public)
        self.routes: list[Route] = []
        for template, methods in table:
            self.routes.append(Route(template, dict(methods), public=template in public,
                                     strict=strict_slashes and template not in public))
        if project_prefix:
            for template, methods in table:
                if template.startswith(project_prefix + "/"):
                    rest = template[len(project_prefix):]
                    self.routes.append(Route(f"{project_prefix}/{{project_id}}{rest}",
                                             dict(methods), strict=strict_slashes))
        self._index()

    def _index(self) -> None:
        """Candidates by the path's shape, in table order (the first match wins): a
        request is tried only against the routes with as many segments whose last
        segment is a parameter or the same word (5–10 regexes instead of 130–180)."""
        shapes = [(route, *route.shape) for route in self.routes]
        self._shapes: dict[int, tuple[dict[str, list[Route]], list[Route]]] = {}
        for depth in {d for _, d, _ in shapes}:
            at = [(r, last) for r, d, last in shapes if d == depth]
            words = {last for _, last in at if last is not None}
            self._shapes[depth] = (
                {w: [r for r, last in at if last in (w, None)] for w in words},
                [r for r, last in at if last is None])

    def match(self, method: str, path: str) -> tuple[Route, Callable[..., Any], dict[str, str]]:
        """Find the handler; raise NotFound, or MethodNotAllowed with the allowed methods."""
        allowed: set[str] = set()
        depth, last = _shape(path)
        words, params = self._shapes.get(depth, ({}, []))
        for route in words.get(last, params):
            m = route.regex.match(path)
            if not m:
                continue
            handler = route.methods.get(method)
            if handler is None and method == "HEAD":
                handler = route.methods.get("GET")
            if handler is not None:
                return route, handler, m.groupdict()
            allowed.update(route.methods)
        if allowed:
            err = exception.MethodNotAllowed()
            err.headers = {"Allow": ", ".join(sorted(allowed))}
            raise err
        raise exception.NotFound("The resource could not be found.")
