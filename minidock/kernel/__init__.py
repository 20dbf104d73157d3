"""The kernel interface: the one place that makes raw syscalls through ctypes.

Implements: spec/namespaces.md NS-SYS-001 .. NS-SYS-002
Explained:  chapters/01-namespaces.md#the-syscalls

    syscalls   unshare, setns, mount, umount2, pivot_root, sethostname, prctl,
               their flag constants, and SyscallError

Rules: everything above imports these names from here; nothing here imports
anything of minidock's but the error tree.
"""

from minidock.kernel.syscalls import SyscallError  # noqa: F401
