#!/usr/bin/env bash
# `make vm-test`: the conformance suite inside a Debian 12 VM with pure cgroup v2.
#
#   scripts/vm/vm-test.sh            build the image if the cache has none for its key, boot it,
#                                    run the suite inside, exit with the suite's status
#   scripts/vm/vm-test.sh --can-run  whether `make test` runs the VM: exit 0, or say why not and
#                                    exit 1 (MINIDOCK_SKIP_VM=1, or a host that is pure v2 itself)
#   scripts/vm/vm-test.sh --key      print the image's cache key
#
# With KVM the VM runs the whole suite. Where KVM cannot boot Debian's kernel (no /dev/kvm, or
# PVM) the VM is emulated (TCG), which is many times slower: it runs the tests where cgroup v2
# and Debian's kernel make a difference ($emulated_tests below), after a loud warning.
#
# Environment (the Makefile sets them): DEB_PACKAGES (the Makefile's list; it is in the key),
# VM_CACHE (default /var/cache/minidock/vm: outside the checkout, since CI clones afresh),
# REPORT_DIR (the VM writes REPORT_DIR/v2), PYTEST_ARGS (the VM's tests, instead of the
# default), and optionally VM_EMULATED_TESTS, VM_MEMORY (MiB, default 4096), VM_CPUS (2),
# VM_TIMEOUT (seconds, 3600).
#
#   host                                          VM (qemu; no network: -nic none)
#   $VM_CACHE/<key>/{vmlinuz,initrd.img,rootfs.img}   booted read-only behind .vm/overlay.qcow2
#   the checkout  --9p, tag "repo"-->             mounted at the same path (the host's .venv works)
#   .vm/run.env   ------------------->            scripts/vm/init -> scripts/vm/guest.sh -> pytest
#   .vm/status, REPORT_DIR/v2/  <------            the suite's exit status and its report
#   .vm/console.log                               everything the VM printed
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cache=${VM_CACHE:-/var/cache/minidock/vm}
report_dir=${REPORT_DIR:-docs/report}
run_dir=$repo/.vm

# What an emulated VM runs (VM_EMULATED_TESTS overrides it): what differs under pure cgroup v2
# and Debian's kernel, in a few minutes of emulation (511 s warm with the host's load at ~9):
# the cgroup v2 driver (the cgroups chapter, the runtime's limits, OOM and freezer, the engine's
# stats and limits), the runtime against runc, its security and breakouts (this kernel has
# /proc/kcore, sysrq and modules, which the CI host lacks), user namespaces, the devices
# cgroup (v2's eBPF program), and the engine's container API.
emulated_tests="tests/cgroups tests/harness_selftest/test_vm.py
    tests/runtime/test_run.py tests/runtime/test_runc_crosscheck.py tests/runtime/test_security.py
    tests/runtime/test_breakout.py tests/runtime/test_userns.py tests/runtime/test_devices.py
    tests/runtime/test_lifecycle.py::test_an_oom_kill_is_137_and_recorded
    tests/runtime/test_lifecycle.py::test_cpu_limits_are_applied_before_the_program_runs
    tests/runtime/test_lifecycle.py::test_bad_resources_are_refused_before_anything_exists
    tests/runtime/test_lifecycle.py::test_pause_freezes_and_resume_thaws
    tests/runtime/test_lifecycle.py::test_delete_needs_stopped_or_force
    tests/runtime/test_lifecycle.py::test_a_finished_container_is_stopped_with_its_exit_code
    tests/runtime/test_lifecycle.py::test_update_applies_new_limits_and_refuses_bad_ones
    tests/runtime/test_lifecycle.py::test_events_follows_until_the_end_and_says_oom
    tests/runtime/test_bad_bundles.py::test_a_duplicate_id_is_refused
    tests/runtime/test_shim.py::test_create_with_a_pid_file_leaves_init_to_the_caller
    tests/runtime/test_shim.py::test_linux_cgroups_path_places_the_group
    tests/runtime/test_mounts.py::test_runcs_recursive_options_reach_the_mounts_below
    tests/engine/test_stats.py tests/engine/test_containers_api.py tests/engine/test_api.py
    tests/engine/test_devices.py"

# The files that make the image: a change to any of them (or to the package list) is a new key.
key_files=(scripts/provision.sh scripts/vm/build-image.sh scripts/vm/init)

# Why KVM cannot run Debian's kernel here; nothing when it can.
kvm_problem() {
    if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "there is no usable /dev/kvm"
    elif [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
        # PVM (kvm_pvm): KVM without hardware virtualization, as in some cloud sandboxes. It boots
        # only kernels built as PVM guests; Debian's is not one and hangs before its first message.
        echo "/dev/kvm is PVM (kvm_pvm), which boots only PVM guest kernels, not Debian's"
    elif ! python3 -c 'import fcntl, os; fd = os.open("/dev/kvm", os.O_RDWR); os.close(fcntl.ioctl(fd, 0xAE01, 0))' \
            2>/dev/null; then
        echo "/dev/kvm refuses to create a VM (KVM_CREATE_VM)"
    fi
}

cache_key() {
    : "${DEB_PACKAGES:?is not set: run this through make vm-test}"
    {
        for file in "${key_files[@]}"; do
            echo "== $file"
            cat "$repo/$file"
        done
        echo "== DEB_PACKAGES"
        tr -s ' \t' '\n\n' <<< "$DEB_PACKAGES" | grep -v '^$' | sort -u
    } | sha256sum | cut -c1-16
}

# -- the image: built once per key, under a lock (two checkouts may ask at once) ------------
build_image_once() {
    exec 9> "$cache/.lock"
    flock 9
    if [ ! -f "$image/rootfs.img" ]; then
        echo "vm-test: no image for key $key in $cache: building it (once; several minutes)"
        started=$SECONDS
        rm -rf "$image.tmp"
        mkdir -p "$image.tmp"
        "$repo/scripts/vm/build-image.sh" "$image.tmp" "$repo"
        mv "$image.tmp" "$image"
        # keep only this key's image: an old one would never be booted again
        find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
        echo "vm-test: image built in $((SECONDS - started)) s"
    fi
    flock -u 9
}

# -- one run ------------------------------------------------------------------------------
run_vm() {
    # With KVM, the whole suite. Emulated (TCG: ~6-20 times slower), $emulated_tests.
    problem=$(kvm_problem)
    if [ -z "$problem" ]; then
        accel=(-machine q35,accel=kvm -cpu host)
        tests=${PYTEST_ARGS:-}
        ping_timeout=15
    else
        accel=(-machine q35 -accel tcg,thread=multi -cpu max)
        tests=$(echo ${PYTEST_ARGS:-${VM_EMULATED_TESTS:-$emulated_tests}})   # one line
        ping_timeout=120   # a daemon's start takes seconds of emulated Python
        for _ in 1 2 3; do
            echo "vm-test: WARNING: $problem: the VM runs EMULATED (TCG), many times slower," \
                 "and runs only: ${tests}" >&2
        done
    fi

    rm -f "$run_dir/status" "$run_dir/overlay.qcow2"
    rm -rf "${repo:?}/$report_dir/v2"
    qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.img" "$run_dir/overlay.qcow2"
    printf "REPORT_DIR='%s'\nPYTEST_ARGS='%s'\nWORKERS='%s'\nMINIDOCK_TEST_PING_TIMEOUT='%s'\n" \
        "$report_dir/v2" "$tests" "${VM_CPUS:-2}" "$ping_timeout" > "$run_dir/run.env"

    echo "vm-test: booting Debian 12 (image $key, ${VM_CPUS:-2} CPUs, ${VM_MEMORY:-4096} MiB), console in .vm/console.log"
    started=$SECONDS
    set +e
    timeout --kill-after=10 "${VM_TIMEOUT:-3600}" qemu-system-x86_64 \
        "${accel[@]}" -smp "${VM_CPUS:-2}" -m "${VM_MEMORY:-4096}" \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all init=/sbin/minidock-init minidock.repo=$repo" \
        -drive "file=$run_dir/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" \
        -virtfs "local,path=$repo,mount_tag=repo,security_model=passthrough,multidevs=remap" \
        -nic none -display none -monitor none -no-reboot \
        -chardev "stdio,id=console,logfile=$run_dir/console.log,signal=off" -serial chardev:console \
        < /dev/null
    qemu_status=$?
    set -e
    rm -f "$run_dir/overlay.qcow2"
    echo "vm-test: the VM ran $((SECONDS - started)) s"

    if [ ! -s "$run_dir/status" ]; then
        echo "vm-test: FAILED: the VM stopped (qemu exit $qemu_status) before the suite finished; see .vm/console.log" >&2
        exit 1
    fi
    status=$(cat "$run_dir/status")

    # The host's report page shows both runs side by side (when the host's own run wrote one).
    .venv/bin/python -m tests.harness.report "$report_dir"

    if [ "$status" != 0 ]; then
        echo "vm-test: FAILED: the suite exited $status inside the VM (cgroup v2); see .vm/console.log" >&2
        exit 1
    fi
    echo "vm-test: the suite passed inside the VM (cgroup v2)"
}

main() {
    case "${1:-}" in
    --can-run)
        if [ "${MINIDOCK_SKIP_VM:-}" = 1 ]; then
            echo "vm-test: SKIPPED (MINIDOCK_SKIP_VM=1): the suite did not run under cgroup v2"
            exit 1
        fi
        if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
            echo "vm-test: SKIPPED: this host is pure cgroup v2 already (the Vagrant box?): its own run is the v2 run"
            exit 1
        fi
        exit 0 ;;
    --key)
        cache_key
        exit 0 ;;
    "") ;;
    *)
        echo "usage: vm-test.sh [--can-run | --key]" >&2
        exit 2 ;;
    esac

    key=$(cache_key)
    image=$cache/$key
    mkdir -p "$cache" "$run_dir"
    build_image_once
    run_vm
}

main "$@"; exit   # one line, read whole before it runs: editing this file mid-run is safe
