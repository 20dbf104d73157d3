"""Platforms: which entry of a multi-platform image this host runs.

Implements: spec/images.md IMG-OCI-003 .. IMG-OCI-004
Explained:  chapters/04-images.md#platforms
Modelled on: containerd's platforms package (Normalize, Only, Ordered) and the
             OCI image-index's `platform` object

    host() -> Platform                    linux/amd64, linux/arm64/v8, ... from platform.machine()
    normalize(platform) -> Platform       x86_64 -> amd64, aarch64 -> arm64/v8, armhf -> arm/v7
    compatible(want) -> [Platform]        what a host runs, best first (arm/v7 also runs v6, v5)
    choose(entries, want) -> entry        the best (descriptor, platform) entry, or NotFound

Rules: names are Go's GOOS/GOARCH (amd64, not x86_64), as in the image-spec.
An entry without a platform is never chosen: only its config could say.
"""

from __future__ import annotations

import platform as _host
from dataclasses import dataclass
from typing import Any, Iterable, TypeVar

from minidock.errors import InvalidArgument, NotFound

# platform.machine() and other spellings -> (GOARCH, variant)
_ARCHITECTURES = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
    "i386": ("386", ""), "i686": ("386", ""), "386": ("386", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}
# the variant an architecture has when none is written (containerd's Normalize)
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
# older variants a CPU also runs, best first (an arm/v7 CPU runs v6 and v5 code)
_ALSO_RUNS = {("arm", "v8"): ("v7", "v6", "v5"), ("arm", "v7"): ("v6", "v5"), ("arm", "v6"): ("v5",)}


@dataclass(frozen=True)
class Platform:
    """An os / architecture / variant triple, as in an index entry or an image config."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    def to_json(self) -> dict[str, str]:
        """Return the OCI `platform` object (empty fields left out)."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        return out

    @classmethod
    def from_json(cls, value: Any, where: str = "platform") -> Platform:
        """Validate an OCI `platform` object; ``where`` names it in errors."""
        if not isinstance(value, dict):
            raise InvalidArgument(f"invalid {where}: an object is expected")
        for name in ("os", "architecture"):
            if not isinstance(value.get(name), str) or not value[name]:
                raise InvalidArgument(f"invalid {where}.{name}: missing or not a string")
        for name in ("variant", "os.version"):
            if not isinstance(value.get(name, ""), str):
                raise InvalidArgument(f"invalid {where}.{name}: not a string")
        return cls(os=value["os"], architecture=value["architecture"],
                   variant=value.get("variant", ""), os_version=value.get("os.version", ""))


def parse(text: str) -> Platform:
    """Parse ``os/arch[/variant]`` (``--platform linux/arm64``), normalised."""
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant]")
    return normalize(Platform(parts[0].lower(), parts[1].lower(), parts[2].lower() if len(parts) == 3 else ""))


def normalize(platform: Platform) -> Platform:
    """Return ``platform`` with Go's architecture names and the default variant filled in."""
    architecture, implied = _ARCHITECTURES.get(platform.architecture, (platform.architecture, ""))
    variant = platform.variant or implied or _DEFAULT_VARIANT.get(architecture, "")
    if architecture in ("arm", "arm64") and variant.isdigit():
        variant = f"v{variant}"  # "8" and "v8" are the same
    if variant == "v8.0":
        variant = "v8"
    return Platform(platform.os.lower(), architecture, variant, platform.os_version)


def host() -> Platform:
    """Return this machine's platform, normalised (``linux/amd64`` on x86_64)."""
    # [IMG-OCI-003] platform.machine() says x86_64 / aarch64; images say amd64 / arm64
    return normalize(Platform("linux", _host.machine()))


def compatible(want: Platform) -> list[Platform]:
    """Return the platforms a ``want`` machine runs, best first."""
    want = normalize(want)
    older = _ALSO_RUNS.get((want.architecture, want.variant), ())
    return [want] + [Platform(want.os, want.architecture, variant) for variant in older]


Entry = TypeVar("Entry")


def choose(entries: Iterable[tuple[Entry, Platform | None]], want: Platform | None = None) -> Entry:
    """Return the entry whose platform ``want`` runs best; the first of equals wins.

    ``entries`` are (anything, platform) pairs, e.g. an index's descriptors.
    """
    want = normalize(want or host())
    ranking = [(p.os, p.architecture, p.variant) for p in compatible(want)]
    best: tuple[int, Entry] | None = None
    for entry, offered in entries:
        if offered is None:
            continue
        offered = normalize(offered)
        key = (offered.os, offered.architecture, offered.variant)
        if key not in ranking:
            continue
        rank = ranking.index(key)
        if best is None or rank < best[0]:
            best = (rank, entry)
    if best is None:
        # [IMG-OCI-004] Docker's words when no entry fits the host
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")
    return best[1]
