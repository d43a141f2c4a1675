#!/bin/bash
# Runs grub-scripts/twinroot-slot on the host as if on an appliance: in a private mount namespace,
# /dev holds the two slot LVs' device nodes, /proc/cmdline and /etc/twinroot/version are the
# booted slot's, /boot is $FAKE_HOST/boot, and grub-editenv, findmnt, debugfs, blkid and
# blockdev are fakes (bin/, bound over /usr/local/sbin: the first directory of the script's
# own PATH). Nothing of the host's /dev, /etc or /boot is touched. Root only.
# Usage: run-slot.sh FAKE_HOST_DIR twinroot-slot-args...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
host=$(cd "$1" && pwd)
shift
repo=$(cd "$here/../../.." && pwd)
exec unshare -m bash -c '
  set -eu
  here=$1 host=$2 repo=$3
  shift 3
  mount --make-rprivate /
  mount -t tmpfs -o mode=0755 none /dev
  mknod -m 666 /dev/null c 1 3
  mknod -m 666 /dev/zero c 1 5
  mknod -m 666 /dev/urandom c 1 9
  ln -s /proc/self/fd /dev/fd
  mkdir /dev/mapper
  mknod /dev/mapper/VA-root b 253 0
  mknod /dev/mapper/VA-back b 253 1
  booted=$(cat "$host/booted")
  printf "BOOT_IMAGE=/twinroot/%s/vmlinuz ro twinroot.slot=%s\n" "$booted" "$booted" >"$host/cmdline"
  mount --bind "$host/cmdline" /proc/cmdline
  mkdir -p "$host/etc-upper" "$host/etc-work"
  rm -rf "${host:?}/etc-upper/twinroot" "${host:?}/etc-work/"*
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$host/etc-upper,workdir=$host/etc-work" /etc
  mkdir -p /etc/twinroot
  cp "$host/version-$booted" /etc/twinroot/version 2>/dev/null || true
  # twinroot-slot sets its own PATH, which starts with /usr/local/sbin: the fakes go there.
  mount --bind "$here/bin" /usr/local/sbin
  export FAKE_HOST=$host TWINROOT_SLOT_CONFIG="$host/slots.conf"
  exec bash "$repo/grub-scripts/twinroot-slot" "$@"
' _ "$here" "$host" "$repo" "$@"
