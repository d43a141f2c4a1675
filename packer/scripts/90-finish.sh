#!/bin/bash
# Last step of every build: remove the upload and export leftovers, then zero the free space of
# every filesystem, so the exported disk compresses to what is used.
set -euo pipefail
rm -rf "${TWINROOT_BUILD_DIR:?}" /data/twinroot-rootfs.tar.zst /data/twinroot-rootfs.tar.zst.tmp

for mnt in / /boot /data /image; do
  mountpoint -q "$mnt" || continue
  # dd ends with "no space left": that is the point.
  dd if=/dev/zero of="$mnt/.twinroot-zero" bs=1M status=none 2>/dev/null || true
  sync -f "$mnt/.twinroot-zero" 2>/dev/null || true
  rm -f "$mnt/.twinroot-zero"
done
sync

echo "finish: upload removed, free space zeroed"
