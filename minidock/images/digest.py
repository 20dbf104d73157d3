"""Digests: the names of content, `sha256:` and 64 lowercase hex digits.

Implements: spec/images.md IMG-STORE-002
Explained:  chapters/04-images.md#digests
Modelled on: opencontainers/go-digest (Parse, Validate, Digester) and the
             OCI image-spec's descriptor.md "Digests"

    validate(digest) -> hex       refuse anything but sha256:<64 lowercase hex>
    of_bytes(data) -> digest      "sha256:" + sha256(data).hexdigest()
    Digester                      hash a stream as it passes (update, digest, size)

Rules: minidock names content with sha256 only. sha384 and sha512 are valid
in the OCI spec but not stored here: they are refused with NotImplemented, a
malformed digest with InvalidArgument, each in go-digest's words first.
"""

from __future__ import annotations

import hashlib
import re

from minidock.errors import InvalidArgument, NotImplemented

ALGORITHM = "sha256"

# descriptor.md: algorithm-component [algorithm-separator algorithm-component]* ":" encoded
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SHA256_HEX = re.compile(r"[a-f0-9]{64}")
_LOWER_HEX = re.compile(r"[a-f0-9]+")
# algorithms the OCI spec registers, and the length of their hex encoding
_REGISTERED = {"sha256": 64, "sha384": 96, "sha512": 128}


def validate(digest: str) -> str:
    """Check ``digest`` is ``sha256:<64 lowercase hex>`` and return the hex part."""
    if not isinstance(digest, str) or not _GRAMMAR.fullmatch(digest):
        # [IMG-STORE-002] a digest that is not algorithm:encoded is refused
        raise InvalidArgument(f"invalid checksum digest format: {digest!r} is not "
                              "'sha256:' followed by 64 lowercase hex digits")
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in _REGISTERED:
        raise InvalidArgument(f"unsupported digest algorithm: {algorithm!r} in {digest!r}; "
                              "minidock uses sha256")
    if len(encoded) != _REGISTERED[algorithm]:
        raise InvalidArgument(f"invalid checksum digest length: {digest!r} wants "
                              f"{_REGISTERED[algorithm]} hex digits, not {len(encoded)}")
    if not _LOWER_HEX.fullmatch(encoded):
        # the OCI spec: the encoded part MUST match /[a-f0-9]{64}/ for sha256
        raise InvalidArgument(f"invalid checksum digest format: {digest!r} wants lowercase hex digits")
    if algorithm != ALGORITHM:
        # [IMG-STORE-002] well-formed, but not an algorithm this store keeps
        raise NotImplemented(f"unsupported digest algorithm: {algorithm}; minidock stores "
                             "sha256 content only")
    return encoded


def is_valid(digest: str) -> bool:
    """Return whether ``digest`` is a sha256 digest minidock accepts."""
    return isinstance(digest, str) and digest.startswith("sha256:") \
        and _SHA256_HEX.fullmatch(digest[7:]) is not None


def of_bytes(data: bytes) -> str:
    """Return the digest of ``data``."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


class Digester:
    """Hash bytes as they pass, counting them: ``update``, then ``digest`` and ``size``."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk."""
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> str:
        """Return the digest of everything fed so far."""
        return f"{ALGORITHM}:{self._hash.hexdigest()}"
