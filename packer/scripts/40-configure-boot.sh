#!/bin/bash
# Hands booting to the boot layer: the slot configuration twinroot-slot reads, slot A's version
# marker, slot A's own kernel and initramfs (inside the root filesystem, where boot-config and
# every future upgrade look for them), then `twinroot-slot boot-config --slot A`, which writes
# twinroot's grub.cfg, installs GRUB from slot A and commits A. Runs again safely.
set -euo pipefail
die() { echo "configure-boot: $*" >&2; exit 1; }
version=${TWINROOT_VERSION:?}
kernel_args=${TWINROOT_KERNEL_ARGS:?}
serial=${TWINROOT_GRUB_SERIAL:-yes}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "appliance_version is not a semantic version: $version"
[[ $kernel_args =~ ^[A-Za-z0-9_.,:=/@+\ -]+$ ]] || die "kernel_args has characters GRUB's command line must not get: $kernel_args"
[[ $serial =~ ^(yes|no)$ ]] || die "TWINROOT_GRUB_SERIAL must be yes or no"

cat >/etc/twinroot/slots.conf <<CONF
# Read by /usr/lib/twinroot/twinroot-slot (see its README). Written by the image build.
KERNEL_ARGS=$kernel_args
GRUB_SERIAL=$serial
STATE_DIR=/data/twinroot
CONF

# The root filesystem's own /boot, under the /boot partition mounted over it.
self=/run/twinroot-build-self
mkdir -p "$self"
mountpoint -q "$self" || mount --bind / "$self"
trap 'umount "$self" 2>/dev/null || true' EXIT
kver=$(uname -r)
if [ ! -f "$self/boot/vmlinuz-$kver" ]; then
  # Installed by the distribution onto the /boot partition (kickstart): copy it into the slot.
  [ -f "/boot/vmlinuz-$kver" ] || die "the running kernel /boot/vmlinuz-$kver is missing"
  cp -p "/boot/vmlinuz-$kver" "$self/boot/"
  for initrd in "initramfs-$kver.img" "initrd.img-$kver"; do
    [ ! -f "/boot/$initrd" ] || cp -p "/boot/$initrd" "$self/boot/"
  done
  [ -f "$self/boot/initramfs-$kver.img" ] || [ -f "$self/boot/initrd.img-$kver" ] || die "no initramfs for $kver"
fi
printf '%s\n' "$version" >"$self/etc/twinroot/version.tmp"
sync -f "$self/etc/twinroot/version.tmp"
mv -f "$self/etc/twinroot/version.tmp" "$self/etc/twinroot/version"
umount "$self"

/usr/lib/twinroot/twinroot-slot boot-config --slot A || die "twinroot-slot boot-config --slot A failed"
status=$(/usr/lib/twinroot/twinroot-slot status --json) || die "twinroot-slot status failed"
/usr/bin/node -e '
  const s = JSON.parse(process.argv[1]);
  if (s.committedSlot !== "A") { console.error(`configure-boot: slot A is not committed (committed: ${s.committedSlot})`); process.exit(1); }
  if (!s.slots.A.bootable) { console.error("configure-boot: slot A is not bootable"); process.exit(1); }
  console.log(`configure-boot: slot A (${s.slots.A.version}, kernel ${s.slots.A.kernel}) committed and bootable; B empty`);
' "$status"
