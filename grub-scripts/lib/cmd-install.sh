# shellcheck shell=bash
# install --slot S --payload FILE|- --compression zstd|xz|none --version V
# Fresh filesystem on the slot's LV, payload extracted, version marker written last.
# Interrupted (power cut, kill) it leaves a slot without a marker; a rerun starts over.

cmd_install() {
  local slot='' payload='' compression='' version='' json=no
  while [ $# -gt 0 ]; do
    case $1 in
      --slot) slot=$(need_value "$@"); shift ;;
      --payload) payload=$(need_value "$@"); shift ;;
      --compression) compression=$(need_value "$@"); shift ;;
      --version) version=$(need_value "$@"); shift ;;
      --json) json=yes ;;
      *) usage_error "install: unknown option $1" ;;
    esac
    shift
  done
  check_slot "$slot"
  [ -n "$payload" ] || usage_error "install: --payload FILE|- is required"
  [ "$payload" = - ] || [ -r "$payload" ] || usage_error "install: cannot read payload $payload"
  case $compression in
    zstd | xz) command -v "$compression" >/dev/null || die "$compression is not installed" ;;
    none) ;;
    *) usage_error "install: --compression must be zstd, xz or none" ;;
  esac
  valid_version "$version" || usage_error "install: --version must be a semantic version (got '$version')"
  require_root
  detect_booted
  local committed; committed=$(committed_slot)
  [ "$slot" != "$BOOTED" ] || die "refusing to install into slot $slot: it is the booted slot"
  [ "$slot" != "$committed" ] || die "refusing to install into slot $slot: it is the committed slot"
  take_lock
  local started; started=$(now_ms)
  # A trial boot of this slot must not happen while (or after) it is being rewritten.
  [ "$(next_boot_slot)" != "$slot" ] || env_unset next_entry
  local dev; dev=$(slot_device "$slot")
  [ -b "$dev" ] || die "slot $slot: LV $VG/$(slot_lv "$slot") ($dev) does not exist"
  release_slot_device "$dev"
  case $FS_TYPE in
    xfs) mkfs.xfs -q -f -L "twinroot-$slot" "$dev" >/dev/null || die "mkfs.xfs on $dev failed" ;;
    *) "mkfs.$FS_TYPE" -q -F -L "twinroot-$slot" "$dev" >/dev/null || die "mkfs.$FS_TYPE on $dev failed" ;;
  esac
  mount_slot "$slot" rw; local mnt=$SLOT_MNT
  local tar_opts=(-x -p -C "$mnt" --numeric-owner --xattrs '--xattrs-include=*' --exclude=etc/twinroot/version -f -)
  tar --help | grep -q -- '--acls' && tar_opts+=(--acls)
  tar --help | grep -q -- '--selinux' && tar_opts+=(--selinux)
  local rc=0 statuses
  # A stream (-) is the decompressor's stdin: zstd takes a "-" after "--" for a file name.
  local input=(-- "$payload")
  [ "$payload" != - ] || input=()
  case $compression in
    zstd) zstd -q -dc "${input[@]}" | tar "${tar_opts[@]}"; statuses=("${PIPESTATUS[@]}") ;;
    xz) xz -dc "${input[@]}" | tar "${tar_opts[@]}"; statuses=("${PIPESTATUS[@]}") ;;
    none) if [ "$payload" = - ]; then tar "${tar_opts[@]}"; else tar "${tar_opts[@]}" <"$payload"; fi; statuses=("$?") ;;
  esac || true
  for rc in "${statuses[@]}"; do
    [ "$rc" -eq 0 ] || die "extracting the payload into slot $slot failed (exit ${statuses[*]}); the slot is left without a version"
  done
  { [ -d "$mnt/etc" ] && [ ! -L "$mnt/etc" ]; } && { [ -d "$mnt/usr" ] && [ ! -L "$mnt/usr" ]; } || die "the payload is not a root filesystem (no /etc or /usr directory)"
  sync -f "$mnt/etc"
  # The marker goes through slot_write: a version.tmp or etc/twinroot link planted by the payload is never followed.
  printf '%s\n' "$version" | slot_write "$mnt" etc/twinroot/version 0644
  sync -f "$mnt/etc/twinroot"
  cleanup_mounts
  local took=$(( $(now_ms) - started ))
  if [ "$json" = yes ]; then
    printf '{"slot":"%s","version":%s,"device":%s,"durationMs":%d}\n' "$slot" "$(json_str "$version")" "$(json_str "$dev")" "$took"
  else
    info "installed $version into slot $slot ($dev) in $((took / 1000)) s"
  fi
}
