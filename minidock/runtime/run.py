"""Run a container in the foreground: the sequence from checked config to exit code.

Implements: spec/runtime.md RT-RUN-001 .. RT-RUN-005
Explained:  chapters/03-runtime.md#starting-a-container
Modelled on: `runc run` (create + start + wait + delete in one call)

    parent: create cgroup ─ fork ─────────────────────────── waitpid ─ remove cgroup
    child:          join cgroup ─ unshare(ns) ─ fork ─ waitpid ─ _exit(status)
    PID 1 (grandchild):       rootfs.enter ─ sethostname ─ setgid/setuid ─ execve

Why two forks: unshare(CLONE_NEWPID) does not move the caller into the new PID
namespace, only its future children; the grandchild is the container's PID 1.

Rules: the cgroup is joined before unshare(CLONE_NEWCGROUP), so it becomes the
root of the container's cgroup view; whatever happens, the cgroup is removed.
"""

from __future__ import annotations

import os
import signal
import sys

from minidock.cgroups import Driver, open_driver
from minidock.kernel import syscalls as sc
from minidock.namespaces import Namespace, flags_for
from minidock.runtime import rootfs
from minidock.runtime.config import RunConfig

EXIT_START_FAILED = 127


def exit_code(wait_status: int) -> int:
    """Turn a waitpid status into a shell-style exit code (128 + signal when killed)."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def run(config: RunConfig, container_id: str, driver: Driver | None = None) -> int:
    """Run ``config`` as container ``container_id``; return its exit code."""
    driver = driver or open_driver()
    group = driver.create(f"minidock-runtime/{container_id}")
    try:
        if config.memory_limit is not None:
            group.set_memory_limit(config.memory_limit)
        if config.pids_limit is not None:
            group.set_pids_limit(config.pids_limit)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(config, group, driver.version)  # never returns
        # a Ctrl-C or kill aimed at us is meant for the container
        forward = signal.signal(signal.SIGTERM, lambda sig, _: os.kill(pid, sig))
        try:
            _, status = os.waitpid(pid, 0)
        finally:
            signal.signal(signal.SIGTERM, forward)
        return exit_code(status)
    finally:
        group.remove()  # [RT-RUN-004] no cgroup outlives its container


def _child(config: RunConfig, group, cgroup_version: int) -> None:
    """The first child: join the cgroup, unshare, fork PID 1, pass on its status."""
    try:
        group.add(os.getpid())
        sc.unshare(flags_for(config.namespaces))
        if Namespace.PID in config.namespaces:
            pid = os.fork()
            if pid != 0:
                signal.signal(signal.SIGTERM, lambda sig, _: os.kill(pid, sig))
                _, status = os.waitpid(pid, 0)
                os._exit(exit_code(status))
        _init(config, cgroup_version)
    except BaseException as error:  # noqa: BLE001 - report anything, then leave
        print(f"minidock-runtime: cannot start container: {error}", file=sys.stderr, flush=True)
        os._exit(EXIT_START_FAILED)


def _init(config: RunConfig, cgroup_version: int) -> None:
    """Become the container's process: root filesystem, hostname, user, exec."""
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if Namespace.MOUNT in config.namespaces:
        rootfs.enter(config.rootfs, cgroup_version)
    else:
        os.chroot(config.rootfs)
    if Namespace.UTS in config.namespaces and config.hostname:
        sc.sethostname(config.hostname)
    os.chdir(config.cwd)
    os.setgroups([])
    os.setgid(config.gid)
    os.setuid(config.uid)
    # [RT-RUN-003] a program that cannot be found fails with 127, like a shell
    os.execvpe(config.args[0], list(config.args), config.env)
