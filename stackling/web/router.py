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

    def match(self, method: str, path: str) -> tuple[Route, Callable[..., Any], dict[str, str]]:
        """Find the handler; raise NotFound, or MethodNotAllowed with the allowed methods."""
        allowed: set[str] = set()
        for route in self.routes:
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
