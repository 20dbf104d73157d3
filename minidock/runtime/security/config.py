"""The security fields of config.json, checked: what a container may do once it runs.

Implements: spec/security.md RT-SEC-030 .. RT-SEC-034
Explained:  chapters/03-runtime.md#security
Modelled on: the OCI runtime-spec (process.capabilities, process.noNewPrivileges,
             linux.seccomp, linux.maskedPaths, linux.readonlyPaths) and runc's specconv

    Security                     the checked fields, a frozen record
    parse(config) -> Security    pure; every error is InvalidArgument naming its field

An absent field changes nothing, as in runc: no process.capabilities keeps the
runtime's own capabilities; no linux.seccomp means no filter. Docker's defaults
(14 capabilities, the default profile) are written into config.json by whoever
makes it: see defaults.docker_fields(), which the engine calls.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument
from minidock.records import record
from minidock.runtime.security import capabilities, paths, seccomp
from minidock.runtime.security.capabilities import Capabilities
from minidock.runtime.security.seccomp import Profile

# Fields minidock reads and does not honour: no LSM is configured on these machines.
IGNORED_FIELDS = ("process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel")


@record
class Security:
    """What apply() does in the container's init, right before execve."""

    capabilities: Capabilities | None = None   # None: leave them as they are
    no_new_privileges: bool = False
    seccomp: Profile | None = None             # None: no filter
    masked_paths: tuple[str, ...] = ()         # linux.maskedPaths
    readonly_paths: tuple[str, ...] = ()       # linux.readonlyPaths
    ignored: tuple[str, ...] = ()              # fields present but not honoured


def _get(config: dict, path: str) -> object:
    value: object = config
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def parse(config: object) -> Security:
    """Check the security fields of a decoded config.json."""
    if not isinstance(config, dict):
        raise InvalidArgument("config.json: the top level must be a JSON object")
    caps_value = _get(config, "process.capabilities")
    # [RT-SEC-033] wrong types and unknown names are refused, naming the field
    caps = None if caps_value is None else capabilities.parse(caps_value, "process.capabilities")
    no_new_privileges = _get(config, "process.noNewPrivileges")
    if no_new_privileges is None:
        no_new_privileges = False
    if not isinstance(no_new_privileges, bool):
        raise InvalidArgument("config.json: field 'process.noNewPrivileges' must be bool, "
                              f"not {type(no_new_privileges).__name__}")
    profile_value = _get(config, "linux.seccomp")
    profile = None if profile_value is None else seccomp.parse(profile_value, "linux.seccomp")
    # [RT-SEC-032] LSM labels are read, not honoured, and said so
    ignored = tuple(field for field in IGNORED_FIELDS if _get(config, field) not in (None, ""))
    masked = paths.parse_paths(_get(config, "linux.maskedPaths"), "linux.maskedPaths")
    readonly = paths.parse_paths(_get(config, "linux.readonlyPaths"), "linux.readonlyPaths")
    return Security(caps, no_new_privileges, profile, masked, readonly, ignored)
