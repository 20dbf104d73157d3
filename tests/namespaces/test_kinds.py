"""Namespace kinds and the syscall layer (unit tests, plus one real failing syscall)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minidock.errors import InvalidArgument
from minidock.kernel import SyscallError, syscalls
from minidock.namespaces import Namespace, flags_for, identity, parse


@pytest.mark.spec("NS-001")
def test_every_kind_has_its_flag_and_proc_name():
    expected = {"mount": ("mnt", 0x00020000), "uts": ("uts", 0x04000000), "ipc": ("ipc", 0x08000000),
                "pid": ("pid", 0x20000000), "network": ("net", 0x40000000), "user": ("user", 0x10000000),
                "cgroup": ("cgroup", 0x02000000), "time": ("time", 0x00000080)}
    assert {k.oci_type: (k.proc, k.flag) for k in Namespace.ALL} == expected
    assert flags_for([Namespace.UTS, Namespace.PID]) == 0x24000000
    assert flags_for([]) == 0
    assert identity("self", Namespace.UTS).startswith("uts:[")


@pytest.mark.spec("NS-003")
def test_unknown_namespace_names_the_known_ones():
    assert parse("network") is Namespace.NETWORK
    with pytest.raises(InvalidArgument, match="unknown namespace type 'net'.*network"):
        parse("net")


@pytest.mark.spec("NS-SYS-002")
def test_a_failed_syscall_names_call_arguments_and_errno(tmp_path):
    missing = str(tmp_path / "no-such-dir")
    with pytest.raises(SyscallError) as caught:
        syscalls.mount("none", missing, "tmpfs")
    message = str(caught.value)
    assert message.startswith("mount('none', ")
    assert missing in message and "ENOENT" in message
    assert caught.value.call == "mount"


@pytest.mark.spec("NS-SYS-001")
def test_only_the_kernel_module_uses_ctypes():
    package = Path(__file__).resolve().parents[2] / "minidock"
    users = [str(p.relative_to(package)) for p in package.rglob("*.py")
             if re.search(r"^\s*(import ctypes|from ctypes)", p.read_text(), re.M)]
    assert users == ["kernel/syscalls.py"]
