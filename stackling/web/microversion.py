"""Microversion parsing and the headers that go with it (Nova and Cinder rules)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from stackling import exception

_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _FORMAT.match(text.strip())
        if not m:
            raise exception.BadRequest(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum.")
        return cls(int(m.group(1)), int(m.group(2)))

    def matches(self, min_version: str | Version | None = None,
                max_version: str | Version | None = None) -> bool:
        """True if min <= self <= max (either bound may be omitted)."""
        lo = _bound(min_version) if isinstance(min_version, str) else min_version
        hi = _bound(max_version) if isinstance(max_version, str) else max_version
        return (lo is None or self >= lo) and (hi is None or self <= hi)


# The bounds handlers compare with are a few hundred constants ("2.47", "3.48"): each is
# parsed once, not on every check (a request makes several).
_bound = functools.lru_cache(maxsize=1024)(Version.parse)


@dataclass(frozen=True)
class VersionSpec:
    """What a service honours: ``service_type`` is the name used in OpenStack-API-Version."""

    service_type: str
    min: Version
    max: Version
    legacy_header: str | None = None

    def from_headers(self, headers) -> Version:
        """The requested version; absent means the minimum, ``latest`` the maximum."""
        requested = None
        header = headers.get("OpenStack-API-Version")
        if header:
            for item in header.split(","):
                parts = item.strip().split()
                if len(parts) == 2 and parts[0].lower() == self.service_type:
                    requested = parts[1]
        if requested is None and self.legacy_header:
            requested = headers.get(self.legacy_header)
        if requested is None:
            return self.min
        if requested.strip().lower() == "latest":
            return self.max
        version = Version.parse(requested)
        if not version.matches(self.min, self.max):
            raise exception.NotAcceptable(version=requested, min=self.min, max=self.max)
        return version

    def response_headers(self, version: Version) -> list[tuple[str, str]]:
        headers = [("OpenStack-API-Version", f"{self.service_type} {version}")]
        vary = "OpenStack-API-Version"
        if self.legacy_header:
            headers.append((self.legacy_header, str(version)))
            vary += ", " + self.legacy_header
        headers.append(("Vary", vary))
        return headers
