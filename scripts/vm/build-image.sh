#!/usr/bin/env bash
# Build the VM image of `make vm-test`: Debian 12 from Debian's own packages, nothing else.
#
#   scripts/vm/build-image.sh OUT REPO
#
# OUT gets vmlinuz and initrd.img (Debian's linux-image-amd64) and rootfs.img (ext4, made with
# mkfs.ext4 -d from the directory debootstrap filled: no loop device, nothing mounted on the host).
# The packages are installed by scripts/provision.sh, the one the Vagrant box runs, and the
# image boots into scripts/vm/init. vm-test.sh calls this when its cache has no image for the key.
#
# The chroot's mounts (debootstrap's /proc and /sys, our /dev) are made in a mount namespace of
# this script's own, so none of them is ever seen by, or left behind on, the host.
set -euo pipefail

out=${1:?usage: build-image.sh OUT REPO}
repo=${2:?usage: build-image.sh OUT REPO}
mirror=${VM_MIRROR:-http://deb.debian.org/debian}
security_mirror=${VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_size=${VM_DISK_SIZE:-16G}

if [ "${MINIDOCK_VM_BUILD_NS:-}" != 1 ]; then
    exec env MINIDOCK_VM_BUILD_NS=1 unshare --mount --propagation private "$0" "$@"
fi

root=$out/root
rm -rf "$root"
mkdir -p "$root"

echo "vm: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$out/debootstrap.log" 2>&1 \
    || { tail -n 30 "$out/debootstrap.log"; exit 1; }

cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SOURCES
# No service starts inside a chroot (podman, nftables, ... ask invoke-rc.d).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
echo minidock-vm > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost minidock-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"   # for apt, while building

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"

# The Makefile (for its DEB_PACKAGES) and the provisioning script, as the Vagrant box gets them.
mkdir -p "$root/tmp/provision/scripts"
cp "$repo/Makefile" "$root/tmp/provision/"
cp "$repo/scripts/provision.sh" "$root/tmp/provision/scripts/"
echo "vm: provisioning (scripts/provision.sh --image)"
chroot "$root" /tmp/provision/scripts/provision.sh --image /tmp/provision > "$out/provision.log" 2>&1 \
    || { tail -n 30 "$out/provision.log"; exit 1; }

echo "vm: Debian's kernel (linux-image-amd64) and the upgrades of bookworm-security"
chroot "$root" sh -c 'apt-get install -y -q --no-install-recommends linux-image-amd64 initramfs-tools tini \
    && apt-get upgrade -y -q && apt-get clean' > "$out/kernel.log" 2>&1 \
    || { tail -n 30 "$out/kernel.log"; exit 1; }

install -m 755 "$repo/scripts/vm/init" "$root/sbin/minidock-init"
: > "$root/etc/resolv.conf"   # the VM has no network: nothing to resolve
rm -rf "$root/tmp/provision" "$root/usr/sbin/policy-rc.d"
find "$root/var/lib/apt/lists" -type f -delete   # the VM never runs apt: no network
cp -L "$root/vmlinuz" "$out/vmlinuz"
cp -L "$root/initrd.img" "$out/initrd.img"

umount -R "$root/dev" "$root/sys" "$root/proc"
echo "vm: rootfs.img ($disk_size, ext4)"
rm -f "$out/rootfs.img"
mkfs.ext4 -q -F -L minidock-vm -E root_owner=0:0 -d "$root" "$out/rootfs.img" "$disk_size"
rm -rf "$root"
