#!/bin/bash
# The root filesystem this build made, as the payload tar of its upgrade package: the running
# slot through a plain bind mount (so its own /boot with the kernel is included, not the /boot
# partition), one filesystem only, with numeric owners, xattrs, ACLs and SELinux labels. The
# build downloads /data/twinroot-rootfs.tar.zst and 90-finish.sh deletes it.
set -euo pipefail
die() { echo "export-rootfs: $*" >&2; exit 1; }
command -v zstd >/dev/null || die "zstd is not installed"
out=/data/twinroot-rootfs.tar.zst
self=/run/twinroot-export-self
mkdir -p "$self"
mountpoint -q "$self" || mount --bind / "$self"
trap 'umount "$self" 2>/dev/null || true' EXIT
extra=()
if tar --help 2>/dev/null | grep -q -- '--selinux'; then extra+=(--selinux); fi
tar -C "$self" --numeric-owner --xattrs --xattrs-include='*' --acls "${extra[@]}" --one-file-system \
  --exclude=./var/tmp/twinroot-build --exclude=./etc/twinroot/version -cf - . | zstd -q -T0 -3 -o "$out.tmp" -f \
  || die "tar of the root filesystem failed"
mv -f "$out.tmp" "$out"
echo "export-rootfs: $(du -h "$out" | cut -f1) $out"
