# shellcheck shell=bash
# status [--json]: booted, committed and next slot, and each slot's LV, filesystem and version.

cmd_status() {
  local json=no
  while [ $# -gt 0 ]; do
    case $1 in --json) json=yes ;; *) usage_error "status: unknown option $1" ;; esac
    shift
  done
  detect_booted
  local committed next trial=false s dev
  committed=$(committed_slot)
  next=$(next_boot_slot)
  if [ -n "$BOOTED" ] && [ -n "$committed" ] && [ "$BOOTED" != "$committed" ]; then trial=true; fi
  declare -A SV SF SK SB SZ
  for s in A B; do
    dev=$(slot_device "$s")
    SF[$s]=$( [ -b "$dev" ] && filesystem_type "$dev" )
    SZ[$s]=$( [ -b "$dev" ] && blockdev --getsize64 "$dev" 2>/dev/null || echo null )
    SV[$s]=$(slot_version "$s")
    SK[$s]=$(cat "$(boot_twinroot_dir)/$s/kernel-version" 2>/dev/null || true)
    if slot_bootable "$s"; then SB[$s]=true; else SB[$s]=false; fi
  done
  if [ "$json" = yes ]; then
    printf '{"bootedSlot":%s,"committedSlot":%s,"trial":%s,"nextBoot":%s,' \
      "$(json_str_or_null "$BOOTED")" "$(json_str_or_null "$committed")" "$trial" "$(json_str_or_null "$next")"
    printf '"grubPrefix":%s,"note":%s,"slots":{' "$(json_str_or_null "$(active_grub_prefix)")" "$(json_str_or_null "$ROOT_NOTE")"
    for s in A B; do
      [ "$s" = B ] && printf ','
      printf '"%s":{"lv":%s,"device":%s,"sizeBytes":%s,"filesystem":%s,"version":%s,"kernel":%s,"bootable":%s}' "$s" \
        "$(json_str "$VG/$(slot_lv "$s")")" "$(json_str "$(slot_device "$s")")" "${SZ[$s]:-null}" "$(json_str_or_null "${SF[$s]}")" \
        "$(json_str_or_null "${SV[$s]}")" "$(json_str_or_null "${SK[$s]}")" "${SB[$s]}"
    done
    printf '}}\n'
  else
    echo "booted:    ${BOOTED:-none}${ROOT_NOTE:+ ($ROOT_NOTE)}"
    echo "committed: ${committed:-none}${next:+ (next boot: $next, once)}"
    for s in A B; do
      echo "slot $s:    $VG/$(slot_lv "$s") ${SF[$s]:-no filesystem} version ${SV[$s]:-none} kernel ${SK[$s]:-none}$( [ "${SB[$s]}" = true ] && echo ' bootable')"
    done
  fi
}
