"""Image references: `busybox`, `busybox:1.36`, `localhost:5000/team/app@sha256:...`.

Implements: spec/images.md IMG-REF-001 .. IMG-REF-005
Explained:  chapters/04-images.md#references
Modelled on: Docker's distribution/reference (regexp.go, normalize.go, helpers.go)

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]          host: a dotted name, an IPv4 or [IPv6] address
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}

    parse("busybox")   -> Reference("docker.io", "library/busybox", tag="latest")
    str(reference)     -> "docker.io/library/busybox:latest"   (the normalised name)
    reference.familiar -> "busybox:latest"                      (what `docker images` shows)

Rules: the first component is a domain only if it has a "." or a ":", is
"localhost", or has an upper-case letter; otherwise the image is on Docker
Hub (docker.io), and a one-component name is an official image (library/).
A reference with neither tag nor digest gets the tag "latest".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidock.errors import InvalidArgument
from minidock.images import digest as digests

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# the grammar above, as distribution/reference's regexp.go builds it
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
# the domain is not optional here: parse() always puts one in front (Docker Hub's at least),
# so "a_b.c/app" is refused rather than read as a path with no domain
_NAME = rf"{_DOMAIN}/{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
# Go's \w is ASCII only; re.ASCII makes Python's the same
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")

INVALID = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: domain, path, and a tag, a digest or both."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository name as Docker shows it: ``busybox``, ``team/app``, ``localhost:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
            path = path[len(OFFICIAL_PREFIX):]
        if _split_domain(path)[0] != DEFAULT_DOMAIN:
            # docker.io/my.team/app: "my.team/app" would read back as a registry; Docker
            # shows it anyway (Hub names have no dots), minidock keeps the domain
            return self.name
        return path

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        """The reference as Docker shows it: ``busybox:latest``."""
        return self.familiar_name + self._suffix()

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into a domain and a path, Docker Hub's defaults filled in."""
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"
                     and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference as ``docker pull`` does.

    ``default_tag``: give a reference with neither tag nor digest the tag ``latest``.
    """
    if not isinstance(text, str) or text == "":
        raise InvalidArgument(f"{INVALID}: repository name must have at least one component")
    if _IDENTIFIER.fullmatch(text):
        # [IMG-REF-004] 64 hex digits are an image ID, never a repository name
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify "
                              "64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    remote_name = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote_name.lower() != remote_name:
        # [IMG-REF-003] Docker's words for an upper-case repository name
        raise InvalidArgument(f"{INVALID}: repository name must be lowercase")
    match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
    if match is None:
        # [IMG-REF-003] anything else the grammar refuses, a 129-character tag included
        raise InvalidArgument(INVALID)
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(f"{INVALID}: repository name must not be more than "
                              f"{NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None:
        try:
            digests.validate(digest)
        except InvalidArgument as error:
            # [IMG-REF-003] a digest of the right shape but the wrong length or case
            raise InvalidArgument(f"{INVALID}: {error.message}") from None
    path = name[len(domain) + 1:]
    if default_tag and tag is None and digest is None:
        # [IMG-REF-002] no tag and no digest means :latest
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def normalize(text: str) -> str:
    """Return the normalised form of ``text``: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    return str(parse(text))


def familiar(text: str) -> str:
    """Return ``text`` as Docker shows it: ``docker.io/library/busybox`` -> ``busybox:latest``."""
    return parse(text).familiar


def with_tag(reference: Reference, tag: str) -> Reference:
    """Return ``reference`` with ``tag`` (``docker tag``), the tag checked against the grammar."""
    if not re.fullmatch(_TAG, tag, re.ASCII):
        raise InvalidArgument(f"invalid tag format: {tag!r}")
    return Reference(reference.domain, reference.path, tag, reference.digest)
