"""Security: what a container's process may do (capabilities, no_new_privs, seccomp).

Implements: spec/security.md
Explained:  chapters/03-runtime.md#security
Modelled on: runc (applying) and dockerd (choosing the defaults)

    config          Security, parse(config) -> Security   (pure: the config.json fields)
    apply           apply(security, uid, gid, gids)       (in the init, right before execve)
    capabilities    the table, DOCKER_DEFAULT, resolve(defaults, add, drop), bounding drop, capset
    seccomp         Profile, parse, compile_profile -> BPF, load
    bpf             classic BPF instructions and an assembler with labels
    syscall_numbers syscall name -> number for x86_64 and aarch64
    defaults        Docker's default profile and docker_fields(cap_add, cap_drop, privileged)
"""

from minidock.runtime.security.apply import apply, note_ignored
from minidock.runtime.security.config import Security, parse
from minidock.runtime.security.defaults import docker_fields, default_profile, merge

__all__ = ["Security", "parse", "apply", "note_ignored", "docker_fields", "default_profile", "merge"]
