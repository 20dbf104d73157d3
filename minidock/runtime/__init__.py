"""Runtime: turn an OCI bundle (config.json + rootfs) into an isolated, limited process.

Implements: spec/runtime.md
Explained:  chapters/03-runtime.md
Modelled on: runc (verbs, state layout, what a shim calls) and containerd-shim (the monitor)

    config     RunConfig, load(bundle), default_config()   pure: check the bundle
    mounts     the config's mounts into mount(2) calls; secure_join
    rootfs     default_mounts(), expand_cgroup() (pure); enter(): mounts, /dev, pivot_root
    security   capabilities, seccomp (BPF), no_new_privs, masked paths
    terminal   a pty from the container's devpts, handed to the monitor
    hooks      OCI hooks by stage
    init       spawn(): cgroup, unshare, fork PID 1, wait for start, exec
    monitor    Monitor: parent of one container; start on request, reap, log, record
    state      Status, TRANSITIONS, transition(), State and state.json
    create     create() (detached) and run() (foreground)
    shim       create --pid-file: init left to a shim (conmon, containerd-shim), as runc leaves it
    lifecycle  start, state, kill, pause, resume, update, delete, list, ps
    events     the cgroup's counters and OOM kills as runc's JSON events
    features   what the runtime supports, from the tables it enforces
    exec       exec_in(): setns into a running container
    cli        the `minidock-runtime` command (runc's verbs)

Start-up: `minidock-runtime run` is measured against runc (chapters/03-runtime.md#start-up-time),
and most of a Python command's start is importing. So the records that a start
defines (the config, mounts, hooks, security, seccomp, BPF, cgroup hierarchy) are
minidock.records.record classes: the tuples typing.NamedTuple would make, frozen
like a dataclass but defined four times faster (a dataclass compiles several methods
per class), without importing typing or collections at all; subprocess is imported only for a
config with hooks; socket, selectors, datetime, threading, termios and tty only where
a detached container or a terminal uses them (the fork server imports them once for its
monitors); and the state directory is removed without shutil.

Nor does a start import json, re, enum, signal or contextlib, which cost it some 10 ms
together on a slow machine: config.json, state.json and the launcher's messages go
through minidock/jsonfile.py (json's own C scanner and encoder); a container id is
checked against a set of characters; statuses, namespace kinds and seccomp actions are
constants in plain classes and dicts; `_signal`, the C module that `signal` wraps in
enum classes, gives the same calls; a with block that closes a descriptor is a small
class.

And work moves out of init, the forked child, where it costs most (its first write to
each page it shares with the monitor copies the page): the monitor compiles the seccomp
filter while init makes its namespaces and root filesystem (init.py, Protocol), and a
cgroup file is written with os.open and os.write, no file object.
"""
