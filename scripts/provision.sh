#!/usr/bin/env bash
# Provision a Debian 12 machine for minidock: one script for the students' Vagrant box and
# for the VM image that `make vm-test` builds (scripts/vm/build-image.sh), so both run the same.
#
#   scripts/provision.sh REPO           the Vagrant box: Debian packages, then `make setup` in REPO
#   scripts/provision.sh --image REPO   the VM image (run in its chroot): the packages only; the VM
#                                       uses the host's .venv, shared at the same path
#
# The packages are the Makefile's (`make deb`: DEB_PACKAGES), so adding one there adds it to
# both VMs; the image's cache key covers them (scripts/vm/vm-test.sh).
set -euo pipefail

image=no
if [ "${1:-}" = "--image" ]; then image=yes; shift; fi
repo=${1:?usage: provision.sh [--image] REPO}
export DEBIAN_FRONTEND=noninteractive

# What `make` needs to run at all, and what the suite expects of any Debian box beyond the
# Makefile's list: python3 itself, kmod (the kernel loads overlay, veth, bridge, nf_* on demand),
# e2fsprogs, ca-certificates.
base="make python3 kmod e2fsprogs ca-certificates"
apt-get update -q
apt-get install -y -q --no-install-recommends $base

make -C "$repo" --no-print-directory deb

if [ "$image" = no ]; then
    make -C "$repo" --no-print-directory setup
fi
