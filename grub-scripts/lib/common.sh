# shellcheck shell=bash disable=SC2034
# Shared helpers of twinroot-slot: errors, JSON, configuration, locking, cleanup.
# (Globals set here are read by the other lib files.)

# One line on stderr and a non-zero exit: 2 for bad input, 1 for a failed operation.
die() { echo "twinroot-slot: $1" >&2; exit "${2:-1}"; }
usage_error() { die "$1" 2; }
info() { echo "twinroot-slot: $*" >&2; }

# A JSON string literal (control characters other than \n \r \t are dropped).
json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}
# A JSON string, or null for an empty value.
json_str_or_null() { if [ -n "$1" ]; then json_str "$1"; else printf null; fi; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

readonly CONFIG_KEYS=" VG SLOT_A_LV SLOT_B_LV BOOT_DIR BOOT_DISK FS_TYPE KERNEL_ARGS GRUB_TIMEOUT GRUB_SERIAL STATE_DIR HEALTH_TIMEOUT REBOOT_COMMAND SYNC_LIST "

# Defaults, then KEY=VALUE lines from /etc/twinroot/slots.conf (or $TWINROOT_SLOT_CONFIG).
# The file is parsed, never sourced.
load_config() {
  VG=VA SLOT_A_LV=root SLOT_B_LV=back BOOT_DIR=/boot BOOT_DISK='' FS_TYPE=ext4
  KERNEL_ARGS=ro GRUB_TIMEOUT=0 GRUB_SERIAL=no STATE_DIR=/var/lib/twinroot HEALTH_TIMEOUT=60
  REBOOT_COMMAND='systemctl reboot' SYNC_LIST=''
  local file=${TWINROOT_SLOT_CONFIG:-/etc/twinroot/slots.conf}
  if [ ! -e "$file" ]; then
    [ -z "${TWINROOT_SLOT_CONFIG:-}" ] || usage_error "config $file does not exist"
    return 0
  fi
  [ -r "$file" ] || die "cannot read config $file"
  local line n=0 key val
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    case $line in '' | '#'*) continue ;; esac
    [[ $line =~ ^([A-Z_]+)=(.*)$ ]] || usage_error "$file:$n: expected KEY=VALUE"
    key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
    [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]] && val=${BASH_REMATCH[1]}
    case $CONFIG_KEYS in *" $key "*) printf -v "$key" '%s' "$val" ;; *) usage_error "$file:$n: unknown key $key" ;; esac
  done <"$file"
  local name
  for name in "$VG" "$SLOT_A_LV" "$SLOT_B_LV"; do
    [[ $name =~ ^[A-Za-z0-9_.+][A-Za-z0-9_.+-]*$ ]] || usage_error "$file: invalid VG/LV name '$name'"
  done
  [ "$SLOT_A_LV" != "$SLOT_B_LV" ] || usage_error "$file: SLOT_A_LV and SLOT_B_LV are the same LV"
  [[ $BOOT_DIR == /* ]] || usage_error "$file: BOOT_DIR must be an absolute path"
  [ -z "$BOOT_DISK" ] || [[ $BOOT_DISK == /dev/* ]] || usage_error "$file: BOOT_DISK must be a /dev path"
  case $FS_TYPE in ext4 | ext3 | xfs) ;; *) usage_error "$file: FS_TYPE must be ext4, ext3 or xfs" ;; esac
  [[ $GRUB_TIMEOUT =~ ^[0-9]{1,3}$ ]] || usage_error "$file: GRUB_TIMEOUT must be a number of seconds"
  case $GRUB_SERIAL in yes | no) ;; *) usage_error "$file: GRUB_SERIAL must be yes or no" ;; esac
  [[ $HEALTH_TIMEOUT =~ ^[0-9]{1,4}$ ]] || usage_error "$file: HEALTH_TIMEOUT must be a number of seconds"
  # KERNEL_ARGS lands in grub.cfg: nothing that GRUB's script language would interpret.
  [[ $KERNEL_ARGS =~ ^[A-Za-z0-9_.,:=/@+\ -]*$ ]] || usage_error "$file: KERNEL_ARGS may contain only letters, digits, spaces and _ . , : = / @ + -"
  return 0
}

require_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }

# Mutating commands take one lock; a killed command releases it with its process.
take_lock() {
  mkdir -p /run/twinroot
  exec 9>/run/twinroot/slot.lock
  flock -n 9 || die "another twinroot-slot command is running (lock /run/twinroot/slot.lock)"
}

# Mount points made by this run, unmounted (innermost first) on any exit.
CLEANUP_MOUNTS=()
cleanup_mounts() {
  local i
  for ((i = ${#CLEANUP_MOUNTS[@]} - 1; i >= 0; i--)); do
    findmnt "${CLEANUP_MOUNTS[$i]}" >/dev/null 2>&1 || continue
    umount -R "${CLEANUP_MOUNTS[$i]}" || { info "warning: lazy unmount of ${CLEANUP_MOUNTS[$i]}"; umount -Rl "${CLEANUP_MOUNTS[$i]}" || true; }
  done
  CLEANUP_MOUNTS=()
}
trap cleanup_mounts EXIT
trap 'exit 130' INT TERM

# "--name value" option parsing helper: prints the value or fails.
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; printf '%s' "$2"; }

# The options of commands that take only --slot S and --json: sets OPT_SLOT and OPT_JSON.
parse_slot_options() {
  local command=$1
  shift
  OPT_SLOT='' OPT_JSON=no
  while [ $# -gt 0 ]; do
    case $1 in
      --slot) OPT_SLOT=$(need_value "$@"); shift ;;
      --json) OPT_JSON=yes ;;
      *) usage_error "$command: unknown option $1" ;;
    esac
    shift
  done
  check_slot "$OPT_SLOT"
}

valid_version() { [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]{1,100})?$ ]]; }
