"""`features`: what this runtime supports, as runc's `features` prints it (runtime-spec features.md).

Implements: spec/runtime.md RT-VERB-010
Explained:  chapters/03-runtime.md#under-a-shim
Modelled on: `runc features` (runc 1.1), which containerd and podman may ask before they
             choose options

    features() -> dict      the answer, read from the tables the runtime itself uses

Rules: every list comes from the table that enforces it (the hook stages, the mount
flag words, the namespace kinds, the capability names, the seccomp actions, operators
and architectures), so the answer cannot claim what the code refuses. AppArmor and
SELinux are "enabled": false: their labels are ignored, with a note (chapter 03).
"""

from __future__ import annotations


def features() -> dict:
    """[RT-VERB-010] The runtime's features, in runc's shape."""
    from minidock import __version__
    from minidock.namespaces import Namespace
    from minidock.runtime.hooks import STAGES
    from minidock.runtime.mounts import FLAGS, PROPAGATION, RECURSIVE
    from minidock.runtime.security import capabilities, seccomp
    from minidock.runtime.security.syscall_numbers import ARCHES

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": list(STAGES),
        "mountOptions": sorted({*FLAGS, *PROPAGATION, *RECURSIVE, "tmpcopyup"}),
        "linux": {
            "namespaces": sorted(kind.oci_type for kind in Namespace.ALL),
            "capabilities": list(capabilities.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": sorted(seccomp.ACTIONS), "operators": sorted(seccomp.OPS),
                        "archs": sorted(arch.name for arch in ARCHES.values())},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.minidock.runtime.version": __version__},
    }
