"""Capabilities: root's powers cut into forty pieces, and which a container keeps.

Implements: spec/security.md RT-SEC-010 .. RT-SEC-014
Explained:  chapters/03-runtime.md#capabilities
Modelled on: <linux/capability.h>, moby's oci/caps (NormalizeLegacyCapabilities,
             TweakCapabilities) and runc's libcontainer/capabilities

    NUMBERS / NAMES                      CAP_CHOWN <-> 0 ... CAP_CHECKPOINT_RESTORE <-> 40
    DOCKER_DEFAULT                       the 14 Docker keeps (moby's oci/caps/defaults.go)
    checked_names(names, where) -> list  canonical names; an unknown one is refused, pure
    resolve(defaults, add, drop) -> set  Docker's --cap-add / --cap-drop rules, pure
    Capabilities                         the five sets of OCI process.capabilities
    parse(value, field) -> Capabilities  check the OCI object, pure
    bounding_set() -> set                what this machine allows at all (/proc/self/status)
    apply(caps)                          the thin shell: bounding drop, capset, ambient

A thread has five sets (capabilities(7)): effective (checked by the kernel),
permitted (the ceiling of effective), inheritable and ambient (what survives
execve), and bounding (the ceiling of everything, for good: a capability dropped
from it never comes back, even for root).

Rules: a capability outside the bounding set can never be gained again, so
apply() drops from the bounding set first, while we still hold CAP_SETPCAP;
capset(2) can only lower permitted, never raise it.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

# <linux/capability.h>, in the kernel's order: the number is the bit in each set.
NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",   # 0-3
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",                   # 4-7
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",           # 8-10
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",    # 11-14
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",   # 15-18
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",     # 19-22
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG",  # 23-26
    "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",       # 27-30
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",       # 31-34
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",  # 35-38
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",                                    # 39-40
)
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}
LAST_CAP = len(NAMES) - 1  # CAP_CHECKPOINT_RESTORE; /proc/sys/kernel/cap_last_cap on this kernel

# moby's oci/caps/defaults.go: what `docker run` keeps without --cap-add/--cap-drop.
DOCKER_DEFAULT: frozenset[str] = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})

# The five sets of the OCI runtime-spec's process.capabilities, in its words.
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def normalize(name: str) -> str:
    """Return the canonical name: `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` are one capability."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") or upper == "ALL" else "CAP_" + upper


def checked_names(names: Iterable[str], where: str) -> list[str]:
    """Normalize ``names``; refuse the unknown ones, naming every one of them."""
    normal = [normalize(n) for n in names]
    unknown = [n for n in normal if n not in NUMBERS and n != "ALL"]
    if unknown:
        # [RT-SEC-011] an unknown capability is refused by name, never skipped
        raise InvalidArgument(f"{where}: unknown capabilit{'y' if len(unknown) == 1 else 'ies'}: "
                              f"{', '.join(unknown)}")
    return normal


def resolve(defaults: Iterable[str], add: Iterable[str] = (), drop: Iterable[str] = (),
            everything: Iterable[str] = NAMES) -> frozenset[str]:
    """Return the capabilities a container keeps, by Docker's rules (moby's TweakCapabilities).

    - names may be written with or without `CAP_`, in any case; unknown names are refused;
    - `ALL` in ``add``: every capability (``everything``, the bounding set for a real
      container) but those in ``drop``;
    - else `ALL` in ``drop``: just the ``add`` list (`--cap-drop ALL --cap-add NET_ADMIN`);
    - else: the defaults minus ``drop``, then plus ``add`` (an add beats a drop).
    """
    base = set(checked_names(defaults, "capabilities"))
    added = set(checked_names(add, "cap-add"))
    dropped = set(checked_names(drop, "cap-drop"))
    # [RT-SEC-012] Docker's cap-add / cap-drop arithmetic
    if "ALL" in added:
        return frozenset(set(everything) - dropped)
    if "ALL" in dropped:
        return frozenset(added)
    return frozenset((base - {"ALL"} - dropped) | added)


def to_mask(names: Iterable[str]) -> int:
    """The bit mask of ``names`` (canonical names), as capget(2)/capset(2) and /proc use."""
    mask = 0
    for name in names:
        mask |= 1 << NUMBERS[name]
    return mask


def from_mask(mask: int) -> frozenset[str]:
    """The names of the bits set in ``mask`` (bits the table does not know are ignored)."""
    return frozenset(name for number, name in enumerate(NAMES) if mask >> number & 1)


@record
class Capabilities:
    """The OCI process.capabilities object: five sets of canonical names."""

    bounding: frozenset[str] = frozenset()
    effective: frozenset[str] = frozenset()
    inheritable: frozenset[str] = frozenset()
    permitted: frozenset[str] = frozenset()
    ambient: frozenset[str] = frozenset()

    @classmethod
    def docker(cls, kept: Iterable[str]) -> "Capabilities":
        """The sets Docker writes for a container that keeps ``kept``: all but inheritable and ambient."""
        kept = frozenset(kept)
        return cls(bounding=kept, effective=kept, permitted=kept)

    def to_oci(self) -> dict[str, list[str]]:
        """The config.json form: each set a sorted list of names."""
        return {name: sorted(getattr(self, name)) for name in SETS}


def parse(value: object, field: str = "process.capabilities") -> Capabilities:
    """Check an OCI process.capabilities object; every error names the field."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"config.json: field {field!r} must be an object")
    unknown_sets = sorted(set(value) - set(SETS))
    if unknown_sets:
        raise InvalidArgument(f"config.json: field {field!r} has unknown sets {unknown_sets}; "
                              f"the sets are {', '.join(SETS)}")
    sets = {}
    for name in SETS:
        names = value.get(name, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidArgument(f"config.json: field '{field}.{name}' must be a list of strings")
        canonical = checked_names(names, f"config.json: field '{field}.{name}'")
        if "ALL" in canonical:
            raise InvalidArgument(f"config.json: field '{field}.{name}' names capabilities, not ALL")
        sets[name] = frozenset(canonical)
    caps = Capabilities(**sets)
    # capabilities(7): an ambient capability must also be permitted and inheritable
    stray = caps.ambient - (caps.permitted & caps.inheritable)
    if stray:
        raise InvalidArgument(f"config.json: field '{field}.ambient' has {', '.join(sorted(stray))}, "
                              "which must also be in permitted and inheritable")
    return caps


def bounding_set() -> frozenset[str]:
    """The names in this process's bounding set (CapBnd of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                return from_mask(int(line.split()[1], 16))
    raise RuntimeError("/proc/self/status has no CapBnd line")


def drop_bounding(caps: Capabilities) -> None:
    """Drop from the bounding set everything ``caps.bounding`` does not keep.

    Needs CAP_SETPCAP, so it comes before the capset that may drop it.
    """
    # [RT-SEC-013] what is dropped from the bounding set is gone for good
    # lab 03: begin: drop from the bounding set every capability it holds that caps.bounding does not keep
    for number, name in enumerate(NAMES):
        if name not in caps.bounding and sc.prctl(sc.PR_CAPBSET_READ, number) == 1:
            sc.prctl(sc.PR_CAPBSET_DROP, number)
    # lab 03: end


def set_process_sets(caps: Capabilities) -> None:
    """Set effective, permitted and inheritable with capset(2), then the ambient set.

    Comes after setuid(2): a uid change from 0 clears effective (and without
    PR_SET_KEEPCAPS, permitted too).
    """
    # [RT-SEC-014] effective, permitted and inheritable as configured, then ambient
    # lab 03: begin: capset the effective, permitted and inheritable masks; then clear the ambient set and raise caps.ambient
    sc.capset(to_mask(caps.effective), to_mask(caps.permitted), to_mask(caps.inheritable))
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in sorted(caps.ambient, key=NUMBERS.__getitem__):
        sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, NUMBERS[name])
    # lab 03: end
