"""Runtime: turn an OCI bundle (config.json + rootfs) into an isolated, limited process.

Implements: spec/runtime.md
Explained:  chapters/03-runtime.md
Modelled on: runc (verbs, state layout) and containerd-shim (the monitor)

    config     RunConfig, load(bundle), default_config()   pure: check the bundle
    rootfs     plan_mounts() (pure), enter(): mounts, /dev, pivot_root
    init       spawn(): cgroup, unshare, fork PID 1, wait for start, exec
    monitor    Monitor: parent of one container; start on request, reap, log, record
    state      Status, TRANSITIONS, transition(), State and state.json
    create     create() (detached) and run() (foreground)
    lifecycle  start, state, kill, delete, list, ps
    exec       exec_in(): setns into a running container
    cli        the `minidock-runtime` command (runc's verbs)
"""
