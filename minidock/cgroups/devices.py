"""Device rules: which device nodes a container may open or make (the devices controller).

Implements: spec/cgroups.md CG-DEV-001 .. CG-DEV-003
Explained:  chapters/02-cgroups.md#devices
Modelled on: the OCI runtime-spec `linux.resources.devices` list, the kernel's
             cgroup-v1 devices.txt (a default and a list of exceptions), and
             runc's libcontainer/cgroups/devices emulator and AllowedDevices

    DeviceRule.from_oci(entry, field)  one entry of linux.resources.devices  (pure)
    DeviceRule.parse("c 1:3 rwm")      the kernel's (and --device-cgroup-rule's) spelling
    rule.line()                        -> "c 1:3 rwm", what devices.allow takes
    DeviceState.of(rules)              the rules read in order, as the v1 kernel reads them
    state.allows("c", 1, 3, "rw")      the decision the kernel will make  (pure)
    state.lines()                      the v1 writes: ("devices.deny", "a"), ("devices.allow", ...)
    RUNC_DEFAULTS                      what runc appends to every container's list

Rules: pure. The rules start from "deny everything" and are read in order, as
the kernel reads writes to devices.allow and devices.deny: a rule for every
device (type `a`) sets the default and clears the exceptions; a rule that
disagrees with the default adds an exception; a rule that agrees with it takes
its access out of the matching exception. Both drivers apply the resulting
DeviceState (v1 as files, v2 as an eBPF program), so a container is allowed
the same devices on either.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument
from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from typing import Any

TYPES = ("a", "c", "b")   # all, character, block
ACCESS = "rwm"            # read, write, mknod(2)
WILDCARD = None           # a major or minor that matches every number ("*")
MAX_NUMBER = 0xFFFFF      # minors have 20 bits, majors 12 (<linux/kdev_t.h>)


@record
class DeviceRule:
    """One allow or deny rule: a device type, major and minor (None: any), and access letters."""

    allow: bool
    type: str = "a"
    major: int | None = WILDCARD
    minor: int | None = WILDCARD
    access: str = ACCESS

    @classmethod
    def from_oci(cls, entry: Any, field: str) -> DeviceRule:
        """Check one OCI device cgroup entry: {"allow", "type", "major", "minor", "access"}."""
        # [CG-DEV-003] a bad type, number or access string is refused, naming the entry
        if not isinstance(entry, dict):
            raise InvalidArgument(f"{field} must be an object, not {type(entry).__name__}")
        if not isinstance(entry.get("allow"), bool):
            raise InvalidArgument(f"{field}.allow must be true or false")
        kind = entry.get("type") or "a"   # runtime-spec: unset means "a", all devices
        if kind not in TYPES:
            raise InvalidArgument(f"{field}.type {kind!r} is not a device type: use a (all), "
                                  f"c (character) or b (block)")
        numbers = []
        for key in ("major", "minor"):
            value = entry.get(key)
            if value is not None and value != -1 and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 0
                    or value > MAX_NUMBER):
                raise InvalidArgument(f"{field}.{key} must be a device number (or -1 or "
                                      f"absent for any), got {value!r}")
            numbers.append(None if value in (None, -1) else value)
        access = entry.get("access") or ACCESS  # runtime-spec: unset means "rwm"
        return cls(entry["allow"], kind, numbers[0], numbers[1], _access(access, f"{field}.access"))

    @classmethod
    def parse(cls, text: str, allow: bool = True) -> DeviceRule:
        """Read the kernel's spelling, 'c 1:3 rwm' (devices.allow, --device-cgroup-rule)."""
        parts = text.strip().split(" ")
        kind, numbers, access = parts if len(parts) == 3 else ("", "", "")
        major, colon, minor = numbers.partition(":")
        if (kind not in TYPES or not colon or not _is_number(major) or not _is_number(minor)
                or not access or len(set(access)) != len(access) or not set(access) <= set(ACCESS)):
            raise InvalidArgument(f"invalid device cgroup rule {text!r}: use 'TYPE MAJOR:MINOR "
                                  f"ACCESS' like 'c 1:3 rwm' (type a, b or c; * for any number; "
                                  f"access from r, w, m)")
        major, minor = (None if n == "*" else int(n) for n in (major, minor))
        if any(n is not None and n > MAX_NUMBER for n in (major, minor)):
            raise InvalidArgument(f"invalid device cgroup rule {text!r}: a device number is at "
                                  f"most {MAX_NUMBER}")
        return cls(allow, kind, major, minor, _access(access, "access")).checked(text)

    def checked(self, where: str) -> DeviceRule:
        """Refuse a rule for all devices that names numbers or part of the access."""
        # the kernel reads any "a" line as "every device, every access": say so instead
        if self.type == "a" and (self.major, self.minor, self.access) != (None, None, ACCESS):
            raise InvalidArgument(f"{where}: type a means every device and every access; give "
                                  f"no major or minor and access rwm, or use type c or b")
        return self

    def line(self) -> str:
        """The rule as devices.allow / devices.deny take it: 'c 1:3 rwm', 'b *:* m', 'a'."""
        if self.type == "a":
            return "a"
        return f"{self.type} {_number(self.major)}:{_number(self.minor)} {self.access}"

    def covers_everything(self) -> bool:
        return self.type == "a"


def _is_number(text: str) -> bool:
    """A major or minor as the kernel's rule lines spell it: decimal digits, or '*'."""
    return text == "*" or (text.isascii() and text.isdigit())


def _number(number: int | None) -> str:
    return "*" if number is None else str(number)


def _access(text: Any, field: str) -> str:
    """Access letters in the canonical order, or a clear error."""
    if not isinstance(text, str) or not text or any(letter not in ACCESS for letter in text):
        raise InvalidArgument(f"{field} {text!r} is not an access string: use letters from r "
                              f"(read), w (write) and m (mknod), like 'rwm'")
    return "".join(letter for letter in ACCESS if letter in text)


def parse_oci(entries: Any, field: str = "linux.resources.devices") -> tuple[DeviceRule, ...]:
    """Check the whole OCI list; every refusal names the entry."""
    if not isinstance(entries, list):
        raise InvalidArgument(f"{field} must be a list, not {type(entries).__name__}")
    return tuple(DeviceRule.from_oci(entry, f"{field}[{index}]").checked(f"{field}[{index}]")
                 for index, entry in enumerate(entries))


# What runc appends to every container's rules (libcontainer/specconv AllowedDevices):
# mknod of any node, the standard /dev nodes, the ptys, /dev/console and /dev/net/tun.
# Docker itself writes only "deny everything" and the user's rules; these come from runc.
RUNC_DEFAULTS = (
    DeviceRule(True, "c", None, None, "m"), DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 1, 3), DeviceRule(True, "c", 1, 8), DeviceRule(True, "c", 1, 7),
    DeviceRule(True, "c", 5, 0), DeviceRule(True, "c", 1, 5), DeviceRule(True, "c", 1, 9),
    DeviceRule(True, "c", 136, None),   # /dev/pts/*
    DeviceRule(True, "c", 5, 2),        # /dev/ptmx
    DeviceRule(True, "c", 5, 1),        # /dev/console
    DeviceRule(True, "c", 10, 200),     # /dev/net/tun
)

ExceptionKey = tuple[str, int | None, int | None]   # (type, major, minor)


@record
class DeviceState:
    """What the kernel keeps for a group: a default, and the exceptions to it."""

    default_allow: bool
    exceptions: tuple[DeviceRule, ...]   # each says the opposite of the default

    @classmethod
    def of(cls, rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> DeviceState:
        """Read ``rules`` in order, from "deny everything", as the v1 kernel reads its files."""
        # [CG-DEV-001] the rules in order, starting from deny-all
        default_allow = False
        exceptions: dict[ExceptionKey, str] = {}
        for rule in rules:
            key = (rule.type, rule.major, rule.minor)
            if rule.covers_everything():
                default_allow, exceptions = rule.allow, {}
            elif rule.allow != default_allow:      # an exception: add its access
                exceptions[key] = _union(exceptions.get(key, ""), rule.access)
            elif key in exceptions:                # agrees with the default: take access away
                left = "".join(a for a in exceptions[key] if a not in rule.access)
                if left:
                    exceptions[key] = left
                else:
                    del exceptions[key]
        return cls(default_allow, tuple(DeviceRule(not default_allow, kind, major, minor, access)
                                        for (kind, major, minor), access in exceptions.items()))

    def allows(self, kind: str, major: int, minor: int, access: str) -> bool:
        """The kernel's decision for opening (r, w) or making (m) device ``kind`` major:minor.

        devcgroup_legacy_check_permission: with a deny default, one exception must grant
        every letter asked for; with an allow default, an exception sharing any letter refuses.
        """
        def matches(rule: DeviceRule) -> bool:
            return (rule.type == kind and rule.major in (None, major)
                    and rule.minor in (None, minor))
        if self.default_allow:
            return not any(matches(r) and set(access) & set(r.access) for r in self.exceptions)
        return any(matches(r) and set(access) <= set(r.access) for r in self.exceptions)

    def lines(self) -> list[tuple[str, str]]:
        """The v1 writes, in order: the default ("a" to devices.deny or .allow), then each exception."""
        # [CG-DEV-001] v1: reset with "a", then one line per exception, as runc writes them
        default_file, exception_file = (("devices.allow", "devices.deny") if self.default_allow
                                        else ("devices.deny", "devices.allow"))
        return [(default_file, "a"), *((exception_file, rule.line()) for rule in self.exceptions)]


def _union(first: str, second: str) -> str:
    return "".join(letter for letter in ACCESS if letter in first or letter in second)
