"""Apply a container's security, in the one order that works, in its init before execve.

Implements: spec/security.md RT-SEC-040 .. RT-SEC-041
Explained:  chapters/03-runtime.md#the-order-of-things
Modelled on: runc's standard_init_linux.go (Init) and finalizeNamespace

    apply(security, uid, gid, additional_gids)   the thin shell; replaces setgroups/setgid/setuid

The order, and why (each step needs a power the later ones take away):

    0. compile the seccomp profile      pure; a bad profile fails before anything changes
                                        (init's comes compiled from the monitor: init.py)
       mask and protect paths           mounts: needs CAP_SYS_ADMIN and no filter yet
    1. prctl(PR_SET_NO_NEW_PRIVS)       if noNewPrivileges: setuid binaries stop working
    2. seccomp, if no no_new_privs      loading a filter without no_new_privs needs
                                        CAP_SYS_ADMIN, which step 3 may drop
    3. drop the bounding set            needs CAP_SETPCAP, which step 5 may drop
    4. PR_SET_KEEPCAPS, setgroups,      setuid(2) away from 0 clears the permitted set
       setgid, setuid                   unless KEEPCAPS, and needs CAP_SETUID/SETGID
    5. capset(2), then ambient          effective/permitted/inheritable as configured
    6. seccomp, if no_new_privs         as late as possible: it also filters steps 1-5

and then the caller execs. For uid 0 the exec recomputes the sets from the
bounding set (capabilities(7): root's file capabilities are "all"), so the
bounding set is what really limits a root container; for another uid only the
ambient set survives the exec.
"""

from __future__ import annotations

import os
import sys

from minidock.kernel import syscalls as sc
from minidock.runtime.security import capabilities, paths, seccomp
from minidock.runtime.security.config import Security

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

_noted: set[str] = set()


def note_ignored(security: Security) -> None:
    """Say once per process, on stderr, which fields minidock reads but does not honour."""
    fresh = [field for field in security.ignored if field not in _noted]
    if fresh:
        _noted.update(fresh)
        print(f"minidock-runtime: note: ignoring {', '.join(fresh)}: "
              "no AppArmor or SELinux support", file=sys.stderr, flush=True)


def apply(security: Security, uid: int = 0, gid: int = 0, additional_gids: Iterable[int] = (),
          protect_paths: bool = True, compiled: seccomp.Compiled | bytes | None = None) -> None:
    """Become ``uid``/``gid`` with ``security``'s capabilities, no_new_privs and filter.

    ``protect_paths=False`` for `exec`: the process joins a mount namespace whose
    paths the init already masked. ``compiled``: ``security``'s filter, already compiled
    (and packed, as init receives it from the monitor: runtime/init.py), or None to
    compile it here; empty bytes for no filter.
    """
    note_ignored(security)
    if compiled is None and security.seccomp:
        compiled = seccomp.compile_profile(security.seccomp)
    caps = security.capabilities
    # [RT-SEC-034] /proc and /sys paths masked and read-only while mount(2) still works
    if protect_paths:
        paths.protect(security.masked_paths, security.readonly_paths)
    if security.no_new_privileges:
        # [RT-SEC-031] no_new_privs: execve never grants more (setuid bits, file caps)
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    elif compiled:
        seccomp.load(compiled)
    if caps is not None:
        capabilities.drop_bounding(caps)
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(additional_gids))
    os.setgid(gid)
    os.setuid(uid)
    if caps is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        # [RT-SEC-041] capset after setuid, or the uid change would clear it
        capabilities.set_process_sets(caps)
    if compiled and security.no_new_privileges:
        # [RT-SEC-040] the filter last: it applies to every call after it
        seccomp.load(compiled)
