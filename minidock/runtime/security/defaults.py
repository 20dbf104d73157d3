"""Docker's defaults: the capabilities and the seccomp profile dockerd writes into config.json.

Implements: spec/security.md RT-SEC-050 .. RT-SEC-053, RT-SEC-055
Explained:  chapters/03-runtime.md#dockers-defaults
Modelled on: moby's profiles/seccomp/default.json, oci/caps/defaults.go and
             daemon/oci_linux.go (WithCapabilities, WithSeccomp; --privileged)

    DENIED                         syscall -> the capability that lets it through (or None)
    default_profile(kept) -> dict  the OCI linux.seccomp object for a container keeping `kept`
    docker_fields(...) -> dict     process.capabilities, noNewPrivileges, linux.seccomp,
                                   linux.resources.devices

Where policy lives: as in Docker, the runtime applies what config.json says and
knows no "privileged"; the engine decides. `docker run` writes the 14 default
capabilities and this profile; `--privileged` writes every capability of the
bounding set and no profile at all (seccomp off), and so does docker_fields().
Devices: `docker run` writes one device rule, "deny everything" (runc appends the
standard nodes); `--privileged` writes "allow everything". mknod(2) itself is
not filtered: as in Docker, a node can be made and the devices cgroup refuses
to open it.

Denylist, not allowlist: Docker's profile allows about 350 named syscalls and
refuses the rest with EPERM. This one allows everything and refuses the calls
below, which is the same for every syscall Docker lists and easy to read in a
page; the price is that a syscall newer than this table is allowed (Docker's
refuses it). As in Docker, a capability the container keeps unlocks its calls:
`--cap-add SYS_ADMIN` lets mount through, `--cap-add SYS_PTRACE` ptrace.
"""

from __future__ import annotations

import errno

from minidock.runtime.security import capabilities as caps
from minidock.runtime.security.paths import DOCKER_MASKED, DOCKER_READONLY

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

# The calls Docker's default profile refuses, and the capability under which it allows them.
# None: refused whatever the capabilities (Docker: not in its allowlist at all).
DENIED: dict[str, str | None] = {
    # filesystems and the root: a container must not remount or leave its root
    "mount": "CAP_SYS_ADMIN", "umount": "CAP_SYS_ADMIN", "umount2": "CAP_SYS_ADMIN",
    "pivot_root": "CAP_SYS_ADMIN", "fsopen": "CAP_SYS_ADMIN", "fsconfig": "CAP_SYS_ADMIN",
    "fsmount": "CAP_SYS_ADMIN", "fspick": "CAP_SYS_ADMIN", "move_mount": "CAP_SYS_ADMIN",
    "open_tree": "CAP_SYS_ADMIN", "mount_setattr": "CAP_SYS_ADMIN", "quotactl": "CAP_SYS_ADMIN",
    "quotactl_fd": "CAP_SYS_ADMIN", "swapon": "CAP_SYS_ADMIN", "swapoff": "CAP_SYS_ADMIN",
    "name_to_handle_at": "CAP_SYS_ADMIN", "open_by_handle_at": "CAP_DAC_READ_SEARCH",
    "fanotify_init": "CAP_SYS_ADMIN", "lookup_dcookie": "CAP_SYS_ADMIN",
    # namespaces: new ones (a user namespace hands out a full set of capabilities) or others'
    "unshare": "CAP_SYS_ADMIN", "setns": "CAP_SYS_ADMIN",
    # the kernel itself
    "init_module": "CAP_SYS_MODULE", "finit_module": "CAP_SYS_MODULE",
    "delete_module": "CAP_SYS_MODULE", "create_module": None, "get_kernel_syms": None,
    "query_module": None, "kexec_load": "CAP_SYS_BOOT", "kexec_file_load": "CAP_SYS_BOOT",
    "reboot": "CAP_SYS_BOOT", "bpf": "CAP_SYS_ADMIN", "perf_event_open": "CAP_PERFMON",
    "iopl": "CAP_SYS_RAWIO", "ioperm": "CAP_SYS_RAWIO", "syslog": "CAP_SYSLOG",
    "acct": "CAP_SYS_PACCT", "nfsservctl": None, "_sysctl": None, "sysfs": None,
    "uselib": None, "ustat": None, "vhangup": "CAP_SYS_TTY_CONFIG",
    "userfaultfd": "CAP_SYS_PTRACE",
    # the kernel keyring is not namespaced: keys of the host and other containers
    "keyctl": None, "add_key": None, "request_key": None,
    # other processes' memory
    "ptrace": "CAP_SYS_PTRACE", "process_vm_readv": "CAP_SYS_PTRACE",
    "process_vm_writev": "CAP_SYS_PTRACE", "kcmp": "CAP_SYS_PTRACE",
    "pidfd_getfd": "CAP_SYS_PTRACE",
    # the clock is not namespaced
    "settimeofday": "CAP_SYS_TIME", "clock_settime": "CAP_SYS_TIME",
    "clock_adjtime": "CAP_SYS_TIME", "stime": "CAP_SYS_TIME",
    # NUMA placement of other processes' memory
    "mbind": "CAP_SYS_NICE", "set_mempolicy": "CAP_SYS_NICE", "migrate_pages": "CAP_SYS_NICE",
    "move_pages": "CAP_SYS_NICE",
}

# clone(2) flags that make namespaces, from <linux/sched.h>: refused unless CAP_SYS_ADMIN.
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def _bits(mask: int) -> list[int]:
    """The single-bit values set in ``mask``."""
    return [1 << i for i in range(64) if mask >> i & 1]


def default_profile(kept: Iterable[str]) -> dict:
    """The OCI linux.seccomp object Docker's semantics give a container keeping ``kept``."""
    kept = frozenset(kept)
    refused = sorted(name for name, unlock in DENIED.items() if unlock is None or unlock not in kept)
    rules: list[dict] = [{"names": refused, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}]
    if "CAP_SYS_ADMIN" not in kept:
        rules += [
            # [RT-SEC-051] clone(2) may make threads and processes, not namespaces
            # one deny rule per flag: "flags & mask != 0" has no single comparison
            *({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
               "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}]}
              for bit in _bits(CLONE_NAMESPACE_FLAGS)),
            # clone3 passes its flags in memory, where BPF cannot look: ENOSYS makes
            # glibc fall back to clone, whose flags the rule above can check (as Docker)
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        ]
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": rules,
    }


def docker_fields(cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (),
                  privileged: bool = False, no_new_privileges: bool = False,
                  bounding: Iterable[str] | None = None) -> dict:
    """The config.json fields `docker run` would write, to merge into process and linux.

    ``bounding`` is what "every capability" means; by default this process's
    bounding set (here it lacks CAP_SYS_RESOURCE, so a privileged container lacks it
    too, as under podman).
    """
    everything = frozenset(caps.bounding_set() if bounding is None else bounding)
    if privileged:
        # [RT-SEC-053] privileged: every capability of the bounding set, no seccomp
        kept = everything
    else:
        # [RT-SEC-050] by default: Docker's 14, then --cap-add / --cap-drop
        kept = caps.resolve(caps.DOCKER_DEFAULT, cap_add, cap_drop, everything) & everything
    fields: dict = {
        "process": {"capabilities": caps.Capabilities.docker(kept).to_oci(),
                    "noNewPrivileges": no_new_privileges},
        "linux": {},
    }
    # [RT-SEC-055] the devices cgroup: deny everything (runc adds the standard nodes), or,
    # privileged, allow everything (moby's DefaultLinuxSpec and WithDevices)
    fields["linux"]["resources"] = {"devices": [{"allow": privileged, "access": "rwm"}]}
    if not privileged:
        # --privileged also unmasks /proc and /sys, and turns seccomp off
        fields["linux"]["seccomp"] = default_profile(kept)
        fields["linux"]["maskedPaths"] = list(DOCKER_MASKED)
        fields["linux"]["readonlyPaths"] = list(DOCKER_READONLY)
    return fields


def merge(config: dict, fields: dict) -> dict:
    """Return a copy of ``config`` with ``fields`` (from docker_fields) set in process and linux."""
    merged = {**config, "process": {**config.get("process", {}), **fields["process"]},
              "linux": {**config.get("linux", {}), **fields["linux"]}}
    if "resources" in fields["linux"]:   # the config's limits stay; the device rules are replaced
        merged["linux"]["resources"] = {**(config.get("linux", {}).get("resources") or {}),
                                        **fields["linux"]["resources"]}
    for key in ("seccomp", "maskedPaths", "readonlyPaths"):
        if key not in fields["linux"]:
            merged["linux"].pop(key, None)
    return merged
