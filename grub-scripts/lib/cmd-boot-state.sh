# shellcheck shell=bash
# try / commit / rollback: only grubenv on /boot changes (written with grub-editenv).

cmd_try() {
  parse_slot_options try "$@"
  local slot=$OPT_SLOT json=$OPT_JSON
  require_root
  detect_booted
  [ "$slot" != "$BOOTED" ] || die "slot $slot is the booted slot; try boots the other slot once"
  [ -n "$(slot_version "$slot")" ] || die "slot $slot has no installed system (run install first)"
  slot_bootable "$slot" || die "slot $slot is not bootable yet (run boot-config --slot $slot first)"
  [ -n "$(committed_slot)" ] || die "no committed slot in $(grubenv_file); refusing a trial boot without a fallback"
  take_lock
  env_set next_entry="twinroot-$slot"
  if [ "$json" = yes ]; then printf '{"nextBoot":"%s","committedSlot":"%s"}\n' "$slot" "$(committed_slot)"
  else info "the next boot (once) is slot $slot; any boot after that is slot $(committed_slot) unless slot $slot commits"; fi
}

cmd_commit() {
  local json=no
  while [ $# -gt 0 ]; do
    case $1 in --json) json=yes ;; *) usage_error "commit: unknown option $1" ;; esac
    shift
  done
  require_root
  detect_booted
  [ -n "$BOOTED" ] || die "/ is not a twinroot slot; commit runs inside the booted slot"
  slot_bootable "$BOOTED" || die "slot $BOOTED has no kernel on /boot or no grub.cfg entry; refusing to commit it"
  take_lock
  local before; before=$(committed_slot)
  env_set saved_entry="twinroot-$BOOTED"
  env_unset next_entry
  if [ "$json" = yes ]; then printf '{"committedSlot":"%s","previous":%s}\n' "$BOOTED" "$(json_str_or_null "$before")"
  else info "slot $BOOTED is committed${before:+ (was $before)}"; fi
}

cmd_rollback() {
  local reboot=no json=no
  while [ $# -gt 0 ]; do
    case $1 in
      --reboot) reboot=yes ;;
      --json) json=yes ;;
      *) usage_error "rollback: unknown option $1" ;;
    esac
    shift
  done
  require_root
  detect_booted
  [ -n "$BOOTED" ] || die "/ is not a twinroot slot; rollback runs inside the booted slot"
  local target; target=$(other_slot "$BOOTED")
  [ -n "$(slot_version "$target")" ] || die "slot $target has no installed system; nothing to roll back to"
  slot_bootable "$target" || die "slot $target is not bootable (no kernel on /boot or no grub.cfg entry); refusing to roll back"
  take_lock
  env_set saved_entry="twinroot-$target"
  env_unset next_entry
  if [ "$json" = yes ]; then printf '{"committedSlot":"%s","reboot":%s}\n' "$target" "$( [ "$reboot" = yes ] && echo true || echo false)"
  else info "slot $target is the default again${reboot/#no/; reboot to use it}"; fi
  if [ "$reboot" = yes ]; then
    local cmd
    read -r -a cmd <<<"$REBOOT_COMMAND"
    "${cmd[@]}" || die "reboot command '$REBOOT_COMMAND' failed"
  fi
}
