# shellcheck shell=bash
# boot-config --slot S: makes an installed slot bootable.
#  1. its kernel and initramfs go to /boot/twinroot/S/ (staged, then swapped in);
#  2. a grub.cfg with one entry per bootable slot is written into a NEW GRUB prefix directory
#     /boot/twinroot/grub.<N>/, so the prefix the current GRUB core reads is never modified;
#  3. the slot's own GRUB is installed from a chroot into it, pointing at that new prefix;
#  4. if that fails, the saved boot sector and BIOS boot partition are written back, so the
#     previous GRUB core with its untouched prefix and grub.cfg boots as before.
# A power cut anywhere leaves either the old core (old prefix intact) or the new one (new
# prefix complete: it is written before the core); older prefixes are removed only after the
# new core is on disk.

readonly BIOS_BOOT_GUID=21686148-6449-6e6f-744e-656564454649

boot_disk() {
  if [ -n "$BOOT_DISK" ]; then echo "$BOOT_DISK"; return; fi
  local part parent
  part=$(findmnt -no SOURCE "$BOOT_DIR") || die "$BOOT_DIR is not a mount point; twinroot needs a plain /boot partition"
  parent=$(lsblk -no PKNAME "$part" 2>/dev/null | head -n1)
  [ -n "$parent" ] || die "cannot find the disk that holds $part; set BOOT_DISK in slots.conf"
  echo "/dev/$parent"
}

bios_boot_partition() {
  local disk=$1 name kind type
  while read -r name kind; do
    [ "$kind" = part ] || continue
    # A low-level probe: works without udev (image builders) as well as with it.
    type=$(blkid -p -o value -s PART_ENTRY_TYPE "$name" 2>/dev/null || true)
    [ "${type,,}" = "$BIOS_BOOT_GUID" ] && { echo "$name"; return; }
  done < <(lsblk -nrpo NAME,TYPE "$disk" 2>/dev/null)
  die "$disk has no BIOS boot partition (GPT type bios_grub) for GRUB's core image"
}

# The newest kernel of a root that has both its modules and an initramfs.
pick_kernel() {
  local root=$1 kver
  while read -r kver; do
    [ -f "$root/boot/vmlinuz-$kver" ] || continue
    if [ -f "$root/boot/initrd.img-$kver" ] || [ -f "$root/boot/initramfs-$kver.img" ]; then echo "$kver"; return; fi
  done < <(ls -1 "$root/lib/modules" 2>/dev/null | sort -rV)
  die "no kernel with modules and an initramfs in the slot's /boot and /lib/modules"
}

write_grub_cfg() {
  local out=$1 uuid=$2 s lv
  {
    echo "# Written by twinroot-slot boot-config; regenerated on every boot-config. Do not edit."
    echo "set timeout=$GRUB_TIMEOUT"
    if [ "$GRUB_SERIAL" = yes ]; then
      echo "serial --unit=0 --speed=115200"
      echo "terminal_input serial console"
      echo "terminal_output serial console"
    fi
    echo "insmod part_gpt"
    echo "insmod ext2"
    echo "search --no-floppy --fs-uuid --set=root $uuid"
    echo "load_env --file /twinroot/grubenv"
    echo "# A trial boot happens once: GRUB clears next_entry before booting it; any later boot"
    echo "# (reboot, panic=10, watchdog, power cut) uses saved_entry, the committed slot."
    echo 'if [ -n "${next_entry}" ]; then'
    echo '  set default="${next_entry}"'
    echo '  set fallback="${saved_entry}"'
    echo '  set next_entry='
    echo '  save_env --file /twinroot/grubenv next_entry'
    echo 'elif [ -n "${saved_entry}" ]; then'
    echo '  set default="${saved_entry}"'
    echo 'fi'
    for s in A B; do
      [ -f "$(boot_twinroot_dir)/$s/vmlinuz" ] || continue
      lv=$(slot_lv "$s")
      echo "menuentry 'twinroot slot $s' --id twinroot-$s {"
      echo "  search --no-floppy --fs-uuid --set=root $uuid"
      echo "  linux /twinroot/$s/vmlinuz root=$(slot_device "$s") rd.lvm.lv=$VG/$lv twinroot.slot=$s panic=10 $KERNEL_ARGS"
      echo "  initrd /twinroot/$s/initrd.img"
      echo "}"
    done
  } >"$out.tmp"
  sync -f "$out.tmp"
  mv -f "$out.tmp" "$out"
}

cmd_boot_config() {
  parse_slot_options boot-config "$@"
  local slot=$OPT_SLOT json=$OPT_JSON
  require_root
  [ ! -d /sys/firmware/efi ] || die "this appliance boots with UEFI; twinroot-slot supports BIOS boot (GPT + bios_grub) only"
  findmnt "$BOOT_DIR" >/dev/null || die "$BOOT_DIR is not a mount point; twinroot needs a plain /boot partition"
  local uuid; uuid=$(findmnt -no UUID "$BOOT_DIR")
  [ -n "$uuid" ] || die "cannot read the filesystem UUID of $BOOT_DIR"
  local disk biosboot; disk=$(boot_disk); biosboot=$(bios_boot_partition "$disk")
  detect_booted
  [ -n "$(slot_version "$slot")" ] || die "slot $slot has no installed system (run install first)"
  take_lock
  local started; started=$(now_ms)
  local tdir; tdir=$(boot_twinroot_dir)
  mkdir -p "$tdir/backup"

  # The slot's root as files: the running root through a plain bind mount (which shows the
  # root filesystem's own /boot, not the /boot partition mounted over it), or the slot's LV.
  local root
  if [ "$slot" = "$BOOTED" ]; then
    root=/run/twinroot/self
    mkdir -p "$root"
    umount -R "$root" 2>/dev/null || true
    mount --bind / "$root" || die "cannot bind / to $root"
    CLEANUP_MOUNTS+=("$root")
  else
    mount_slot "$slot" rw; root=$SLOT_MNT
  fi

  # 1. Kernel and initramfs, staged and swapped in; only this slot's directory changes.
  local kver initrd; kver=$(pick_kernel "$root")
  initrd="boot/initrd.img-$kver"; [ -e "$root/$initrd" ] || [ -L "$root/$initrd" ] || initrd="boot/initramfs-$kver.img"
  # Read through slot_file: a kernel or initramfs that is a link planted in the slot is refused,
  # so nothing of the running root is copied to /boot in its place.
  local kernel_file initrd_file
  kernel_file=$(slot_file "$root" "boot/vmlinuz-$kver") || exit 1
  initrd_file=$(slot_file "$root" "$initrd") || exit 1
  rm -rf "$tdir/$slot.new" "$tdir/$slot.old"
  mkdir -p "$tdir/$slot.new"
  cp -- "$kernel_file" "$tdir/$slot.new/vmlinuz"
  cp -- "$initrd_file" "$tdir/$slot.new/initrd.img"
  echo "$kver" >"$tdir/$slot.new/kernel-version"
  sync -f "$tdir/$slot.new/vmlinuz"
  [ ! -d "$tdir/$slot" ] || mv -T "$tdir/$slot" "$tdir/$slot.old"
  mv -T "$tdir/$slot.new" "$tdir/$slot"
  rm -rf "$tdir/$slot.old"
  sync -f "$tdir"

  # 2. A new prefix directory with its grub.cfg, before any GRUB is installed.
  local tool=grub-install grubdir=grub
  if [ -x "$root/usr/sbin/grub2-install" ]; then tool=grub2-install grubdir=grub2; fi
  [ -x "$root/usr/sbin/$tool" ] || [ -x "$root/usr/bin/$tool" ] || die "slot $slot has no grub-install or grub2-install"
  [ -d "$root/usr/lib/grub/i386-pc" ] || die "slot $slot has no BIOS GRUB modules (/usr/lib/grub/i386-pc: grub-pc or grub2-pc-modules)"
  local gen=0 d n
  for d in "$tdir"/grub.*; do
    n=${d##*/grub.}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt "$gen" ] && gen=$n
  done
  gen=$((gen + 1))
  local prefix="twinroot/grub.$gen/$grubdir"
  mkdir -p "$BOOT_DIR/$prefix"
  [ -f "$(grubenv_file)" ] || "$(editenv_tool)" "$(grubenv_file)" create
  write_grub_cfg "$BOOT_DIR/$prefix/grub.cfg" "$uuid"
  grep -q -- "--id twinroot-$slot " "$BOOT_DIR/$prefix/grub.cfg" || die "grub.cfg has no entry for slot $slot"

  # 3. Save the current core, then install this slot's GRUB from inside the slot.
  dd if="$disk" of="$tdir/backup/mbr.bin.tmp" bs=440 count=1 status=none || die "cannot read the boot sector of $disk"
  dd if="$biosboot" of="$tdir/backup/biosboot.bin.tmp" bs=64k status=none || die "cannot read $biosboot"
  sync -f "$tdir/backup"
  mv -f "$tdir/backup/mbr.bin.tmp" "$tdir/backup/mbr.bin"
  mv -f "$tdir/backup/biosboot.bin.tmp" "$tdir/backup/biosboot.bin"
  local out rc=0
  if [ "$root" = /run/twinroot/self ]; then
    out=$("$tool" --target=i386-pc --boot-directory="$BOOT_DIR/twinroot/grub.$gen" "$disk" 2>&1) || rc=$?
  else
    prepare_chroot "$root"
    out=$(chroot "$root" "$tool" --target=i386-pc --boot-directory="/boot/twinroot/grub.$gen" "$disk" 2>&1) || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    dd if="$tdir/backup/mbr.bin" of="$disk" bs=440 count=1 conv=notrunc,fsync status=none
    dd if="$tdir/backup/biosboot.bin" of="$biosboot" bs=64k conv=notrunc,fsync status=none
    rm -rf "${BOOT_DIR:?}/twinroot/grub.$gen"
    die "$tool in slot $slot failed (exit $rc: $(printf '%s' "$out" | tail -n1)); the previous GRUB core and grub.cfg are restored"
  fi
  sync
  echo "$prefix" >"$tdir/grub-active.tmp"
  sync -f "$tdir/grub-active.tmp"
  mv -f "$tdir/grub-active.tmp" "$tdir/grub-active"
  sync -f "$tdir"
  for d in "$tdir"/grub.*; do
    [ "$d" = "$tdir/grub.$gen" ] || rm -rf "$d"
  done
  # A fresh disk (image builder) commits the first slot it makes bootable.
  [ -n "$(committed_slot)" ] || env_set saved_entry="twinroot-$slot"
  cleanup_mounts
  local took=$(( $(now_ms) - started ))
  if [ "$json" = yes ]; then
    printf '{"slot":"%s","kernel":%s,"grubPrefix":%s,"bootDisk":%s,"durationMs":%d}\n' "$slot" "$(json_str "$kver")" \
      "$(json_str "/$prefix")" "$(json_str "$disk")" "$took"
  else
    info "slot $slot bootable: kernel $kver, $tool from slot $slot on $disk, prefix /$prefix ($((took / 1000)) s)"
  fi
}
