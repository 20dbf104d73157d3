"""Detach keys: the key sequence that leaves a TTY attach with the container still running.

Implements: spec/engine.md ENGINE-TTY-005
Explained:  chapters/05-engine.md#terminals
Modelled on: moby/term's ToBytes (the --detach-keys / ?detachKeys= format)

    parse("ctrl-p,ctrl-q") -> b"\\x10\\x11"      parse("ctrl-a,x") -> b"\\x01x"

    a key is one character ("x") or ctrl- and one of a-z @ [ \\ ] ^ _ (ctrl-@ is 0,
    ctrl-a is 1 ... ctrl-_ is 31); keys are separated by commas

Used by the daemon (attach's ?detachKeys=, an exec's DetachKeys) and by the CLI
(--detach-keys), which watch the same sequence on their sides of the stream.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument

DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q, Docker's default
_CONTROL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse(text: str | None) -> bytes:
    """The bytes of a detach sequence; "" or None is Docker's default."""
    if not text:
        return DEFAULT
    out = bytearray()
    for key in text.split(","):
        lowered = key.strip().lower()
        if len(key) == 1:
            out.append(ord(key))
        elif lowered.startswith("ctrl-") and len(lowered) == 6 and lowered[5] in _CONTROL:
            out.append(_CONTROL.index(lowered[5]))
        else:
            # [ENGINE-TTY-005] moby/term's words
            raise InvalidArgument(f"Invalid detach keys ({key}) provided")
    return bytes(out)
