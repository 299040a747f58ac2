"""Short IN lists as statements prebuilt per number of values (every service's objects)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import bindparam


class InList:
    """A statement with ``column IN (:{name}0, :{name}1, ...)``, built once per number of
    values: an expanding IN (``bindparam(expanding=True)``) re-renders its SQL at every
    execution. For short lists of values (statuses, quota resources).

    ``build(marks)`` makes the statement from the list of bind parameters; calling the
    InList with the values answers the statement and its parameters."""

    def __init__(self, name: str, build: Callable[[list], Any]) -> None:
        self.name = name
        self.build = build
        self.made: dict[int, Any] = {}

    def __call__(self, values: Iterable) -> tuple[Any, dict]:
        params = {f"{self.name}{i}": v for i, v in enumerate(values)}
        stmt = self.made.get(len(params))
        if stmt is None:
            stmt = self.made[len(params)] = self.build([bindparam(k) for k in params])
        return stmt, params
