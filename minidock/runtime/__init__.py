"""Runtime: turn an OCI bundle (config.json + rootfs) into an isolated, limited process.

Implements: spec/runtime.md
Explained:  chapters/03-runtime.md
Modelled on: runc

    config   RunConfig, load(bundle), default_config()  (pure: check the bundle)
    rootfs   plan_mounts() (pure), enter(): mounts, /dev, pivot_root
    run      run(config, id) -> exit code: cgroup, unshare, fork, exec
    cli      the `minidock-runtime` command (runc's verbs)
"""
