#!/bin/bash
# Refuses to go on unless the disk is laid out as DESIGN.md says: BIOS boot partition, plain
# /boot, VG VA with root (booted, mounted on /), back (as large as root), data, image. A build
# from the wrong base image or a kickstart that went wrong stops here, not on a customer's site.
set -euo pipefail
die() { echo "check-layout: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"
[ ! -d /sys/firmware/efi ] || die "booted with UEFI; the appliance boots with BIOS (GPT + bios_grub)"

command -v lvs >/dev/null || die "lvm2 is not installed"
declare -A size
while read -r name bytes; do size[$name]=$bytes; done < <(lvs --noheadings --nosuffix --units b -o lv_name,lv_size VA 2>/dev/null)
for lv in root back data image; do
  [ -n "${size[$lv]:-}" ] || die "volume group VA has no logical volume $lv"
done
[ "${size[back]}" -ge "${size[root]}" ] || die "VA/back (${size[back]} bytes) is smaller than VA/root (${size[root]} bytes)"

root_dev=$(readlink -f "$(findmnt -no SOURCE /)")
[ "$root_dev" = "$(readlink -f /dev/VA/root)" ] || die "/ is $root_dev, not VA/root (slot A)"
boot_src=$(findmnt -no SOURCE /boot) || die "/boot is not a mount point (it must be a plain partition)"
case $boot_src in /dev/mapper/*|/dev/dm-*) die "/boot ($boot_src) is on LVM; GRUB cannot write its environment there" ;; esac
disk=/dev/$(lsblk -no PKNAME "$boot_src" | head -n1)
bios_boot=no
while read -r part; do
  [ "$(blkid -p -o value -s PART_ENTRY_TYPE "$part" 2>/dev/null)" = 21686148-6449-6e6f-744e-656564454649 ] && bios_boot=yes
done < <(lsblk -nrpo NAME,TYPE "$disk" | awk '$2 == "part" {print $1}')
[ "$bios_boot" = yes ] || die "$disk has no BIOS boot partition (GPT type bios_grub)"
for mnt in /data /image; do
  findmnt -no SOURCE "$mnt" >/dev/null || die "$mnt is not mounted (VA/${mnt#/})"
done
echo "check-layout: ok: $disk, /boot on $boot_src, VA/root=${size[root]} back=${size[back]} data=${size[data]} image=${size[image]} bytes"
