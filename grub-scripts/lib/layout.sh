# shellcheck shell=bash disable=SC2034
# Where things are: slot -> LV -> device, which slot is booted and committed, the GRUB env.

check_slot() { [[ ${1:-} == A || ${1:-} == B ]] || usage_error "invalid slot '${1:-}' (expected A or B)"; }
other_slot() { if [ "$1" = A ]; then echo B; else echo A; fi; }
slot_lv() { if [ "$1" = A ]; then echo "$SLOT_A_LV"; else echo "$SLOT_B_LV"; fi; }
# The device-mapper name doubles dashes inside VG and LV names.
slot_device() { local lv; lv=$(slot_lv "$1"); echo "/dev/mapper/${VG//-/--}-${lv//-/--}"; }

# major:minor (decimal) of a block device, empty when it does not exist.
dev_number() {
  local hex
  hex=$(stat -Lc '%t:%T' "$1" 2>/dev/null) || return 0
  [ -b "$1" ] || return 0
  printf '%d:%d' "0x${hex%%:*}" "0x${hex##*:}"
}

cmdline_slot() {
  local words w
  read -r -a words </proc/cmdline || true
  for w in "${words[@]}"; do
    case $w in twinroot.slot=*) echo "${w#twinroot.slot=}" ;; esac
  done
}

# Sets BOOTED (A, B, or empty when / is not a slot, e.g. in an image builder) and ROOT_NOTE.
# The kernel command line must agree with what is actually mounted on /.
detect_booted() {
  local root_num s from_cmdline=""
  root_num=$(findmnt -no MAJ:MIN / 2>/dev/null | tr -d ' ') || true
  BOOTED='' ROOT_NOTE=''
  for s in A B; do
    if [ -n "$root_num" ] && [ "$(dev_number "$(slot_device "$s")")" = "$root_num" ]; then BOOTED=$s; fi
  done
  from_cmdline=$(cmdline_slot)
  if [ -n "$from_cmdline" ]; then
    check_slot "$from_cmdline"
    [ "$from_cmdline" = "$BOOTED" ] || die "kernel command line says twinroot.slot=$from_cmdline but / is $(findmnt -no SOURCE /)"
  elif [ -n "$BOOTED" ]; then
    ROOT_NOTE="no twinroot.slot= on the kernel command line; slot taken from the root mount"
  fi
}

boot_twinroot_dir() { echo "$BOOT_DIR/twinroot"; }
grubenv_file() { echo "$BOOT_DIR/twinroot/grubenv"; }

editenv_tool() {
  if command -v grub2-editenv >/dev/null; then echo grub2-editenv
  elif command -v grub-editenv >/dev/null; then echo grub-editenv
  else die "neither grub2-editenv nor grub-editenv is installed"; fi
}
env_get() {
  local f; f=$(grubenv_file)
  [ -f "$f" ] || return 0
  "$(editenv_tool)" "$f" list | sed -n "s/^$1=//p"
}
env_set() {
  local f; f=$(grubenv_file)
  [ -f "$f" ] || "$(editenv_tool)" "$f" create
  "$(editenv_tool)" "$f" set "$@" || die "could not write $f"
}
env_unset() {
  local f; f=$(grubenv_file)
  [ -f "$f" ] || return 0
  "$(editenv_tool)" "$f" unset "$@" || die "could not write $f"
}
entry_slot() { case ${1:-} in twinroot-A) echo A ;; twinroot-B) echo B ;; esac; }
committed_slot() { entry_slot "$(env_get saved_entry)"; }
next_boot_slot() { entry_slot "$(env_get next_entry)"; }

# The GRUB prefix (relative to /boot) that the installed GRUB core reads, e.g. twinroot/grub.3/grub.
active_grub_prefix() { local f; f="$(boot_twinroot_dir)/grub-active"; [ -f "$f" ] && cat "$f"; return 0; }
active_grub_cfg() { local p; p=$(active_grub_prefix); [ -n "$p" ] && echo "$BOOT_DIR/$p/grub.cfg"; return 0; }

filesystem_type() { blkid -o value -s TYPE "$1" 2>/dev/null || true; }

# The version marker of a slot (written last by install), empty if the slot is not installed.
slot_version() {
  local s=$1 dev fs v='' mnt
  if [ "$s" = "${BOOTED:-}" ]; then
    v=$(cat /etc/twinroot/version 2>/dev/null || true)
  else
    dev=$(slot_device "$s")
    [ -b "$dev" ] || return 0
    fs=$(filesystem_type "$dev")
    case $fs in
      ext2 | ext3 | ext4) v=$(debugfs -R 'cat /etc/twinroot/version' "$dev" 2>/dev/null || true) ;;
      xfs)
        mnt=$(mktemp -d /run/twinroot/peek.XXXXXX)
        if mount -o ro,norecovery "$dev" "$mnt" 2>/dev/null; then
          v=$(cat "$mnt/etc/twinroot/version" 2>/dev/null || true)
          umount "$mnt"
        fi
        rmdir "$mnt" ;;
    esac
  fi
  v=$(printf '%s' "$v" | head -n1 | tr -d '[:space:]')
  if valid_version "$v"; then echo "$v"; fi
}

# A slot can be booted when its kernel is on /boot and the active grub.cfg has its entry.
slot_bootable() {
  local s=$1 cfg
  [ -f "$(boot_twinroot_dir)/$s/vmlinuz" ] && [ -f "$(boot_twinroot_dir)/$s/initrd.img" ] || return 1
  cfg=$(active_grub_cfg)
  [ -n "$cfg" ] && grep -q -- "--id twinroot-$s " "$cfg"
}
