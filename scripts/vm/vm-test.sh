#!/usr/bin/env bash
# `make vm-test`: the conformance suite inside a Debian 12 VM with pure cgroup v2.
#
#   scripts/vm/vm-test.sh            build the image if the cache has none for its key, boot it,
#                                    run the suite inside, exit with the suite's status
#   scripts/vm/vm-test.sh --can-run  exit 0 if `make test` should run the VM here (KVM works and
#                                    MINIDOCK_SKIP_VM is not 1), else say why and exit 1
#   scripts/vm/vm-test.sh --key      print the image's cache key
#
# Environment (the Makefile sets them): DEB_PACKAGES (the Makefile's list; it is in the key),
# VM_CACHE (default /var/cache/minidock/vm: outside the checkout, since CI clones afresh),
# REPORT_DIR (the VM writes REPORT_DIR/v2), PYTEST_ARGS (for the VM's pytest), and optionally
# VM_MEMORY (MiB, default 4096), VM_CPUS (2), VM_TIMEOUT (seconds, 3600).
#
#   host                                          VM (qemu, KVM; no network: -nic none)
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

# The files that make the image: a change to any of them (or to the package list) is a new key.
key_files=(scripts/provision.sh scripts/vm/build-image.sh scripts/vm/init)

kvm_usable() {
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    # PVM (kvm_pvm, KVM without hardware virtualization, as in some cloud sandboxes) boots only
    # kernels built as PVM guests, and Debian's is not one: it hangs before its first message.
    if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
        return 1
    fi
    # the device may exist where the CPU has no virtualization: ask it for a VM
    python3 -c 'import fcntl, os; fd = os.open("/dev/kvm", os.O_RDWR); os.close(fcntl.ioctl(fd, 0xAE01, 0))' 2>/dev/null
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

case "${1:-}" in
--can-run)
    if [ "${MINIDOCK_SKIP_VM:-}" = 1 ]; then
        echo "vm-test: SKIPPED (MINIDOCK_SKIP_VM=1): the suite did not run under cgroup v2"
        exit 1
    fi
    if ! kvm_usable; then
        echo "vm-test: SKIPPED: /dev/kvm is not usable here, so the suite did not run under cgroup v2" \
             "(make vm-test runs it emulated, slowly)"
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

# -- the image: built once per key, under a lock (two checkouts may ask at once) ------------
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

# -- one run ------------------------------------------------------------------------------
rm -f "$run_dir/status" "$run_dir/overlay.qcow2"
rm -rf "${repo:?}/$report_dir/v2"
qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.img" "$run_dir/overlay.qcow2"
cat > "$run_dir/run.env" <<ENV
REPORT_DIR='$report_dir/v2'
PYTEST_ARGS='${PYTEST_ARGS:-}'
WORKERS='${VM_CPUS:-2}'
ENV

if kvm_usable; then
    accel=(-machine q35,accel=kvm -cpu host)
else
    accel=(-machine q35 -accel tcg,thread=multi -cpu max)
    for _ in 1 2 3; do
        echo "vm-test: WARNING: /dev/kvm is not usable: the VM runs EMULATED (TCG), many times slower" >&2
    done
fi

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
