"""Namespaces: what a process can see. Create them, join them, describe them.

Implements: spec/namespaces.md
Explained:  chapters/01-namespaces.md
Modelled on: runc's libcontainer/configs namespaces table

    kinds   Namespace.MOUNT .. Namespace.TIME, each a Kind(oci_type, proc, flag),
            flags_for(), parse(), identity()

Creating and joining happen in minidock.runtime through minidock.kernel's
unshare(2) and setns(2); this package only names and describes.
"""

from minidock.namespaces.kinds import Kind, Namespace, flags_for, identity, parse

__all__ = ["Kind", "Namespace", "flags_for", "identity", "parse"]
