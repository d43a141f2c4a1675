# shellcheck shell=bash disable=SC2034
# Mounting a slot that is not the running root, and preparing it for a chroot.

# Refuses when the slot's LV is mounted anywhere except twinroot-slot's own mount points
# (which a killed earlier run may have left behind: those are unmounted).
release_slot_device() {
  local dev=$1 target
  while read -r target; do
    [ -n "$target" ] || continue
    case $target in
      /run/twinroot/*) umount -R "$target" 2>/dev/null || umount -Rl "$target" || die "cannot unmount stale $target" ;;
      *) die "$dev is mounted at $target; unmount it first" ;;
    esac
  done < <(findmnt -rno TARGET -S "$dev" 2>/dev/null || true)
}

# mount_slot SLOT ro|rw: mounts the slot's LV and sets SLOT_MNT (registered for cleanup).
# Not for $(...): the cleanup list must be changed in this shell, not a subshell.
mount_slot() {
  local s=$1 mode=$2 dev mnt fs opts=$2
  dev=$(slot_device "$s")
  [ -b "$dev" ] || die "slot $s: LV $VG/$(slot_lv "$s") ($dev) does not exist"
  mnt=/run/twinroot/slot-$s
  release_slot_device "$dev"
  mkdir -p "$mnt"
  fs=$(filesystem_type "$dev")
  [ -n "$fs" ] || die "slot $s ($dev) has no filesystem; run install first"
  if [ "$mode" = ro ] && [ "$fs" = xfs ]; then opts=ro,norecovery; fi
  mount -o "$opts" "$dev" "$mnt" || die "cannot mount $dev"
  CLEANUP_MOUNTS+=("$mnt")
  SLOT_MNT=$mnt
}

# /dev, /proc, /sys bound (rslave, so umount -R works), a private /run (binding the host's
# /run would nest the slot's own mount under /run/twinroot inside itself) with udev's
# database, and the real /boot over ROOT/boot.
prepare_chroot() {
  local root=$1 d
  for d in dev proc sys; do
    mkdir -p "$root/$d"
    mount --rbind "/$d" "$root/$d" || die "cannot bind /$d into $root"
    mount --make-rslave "$root/$d"
  done
  mkdir -p "$root/run"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run" || die "cannot mount a tmpfs on $root/run"
  if [ -d /run/udev ]; then
    mkdir -p "$root/run/udev"
    mount --bind /run/udev "$root/run/udev" && mount --make-rslave "$root/run/udev"
  fi
  mkdir -p "$root/boot"
  mount --bind "$BOOT_DIR" "$root/boot" || die "cannot bind $BOOT_DIR into $root"
}
