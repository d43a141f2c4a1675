# shellcheck shell=bash
# sync-config --slot S [--list FILE]: carries the appliance's own configuration from the
# running root into an installed slot, as a declarative list says (see sync-config.list).

# Paths that must never be copied over: the slot's own identity and the kernel's filesystems.
sync_path_allowed() {
  local p=$1
  [[ $p == /* ]] || return 1
  [[ /$p/ != */../* ]] || return 1
  case $p in / | /proc* | /sys* | /dev* | /run* | /boot | /boot/* | /etc/twinroot/version) return 1 ;; esac
  return 0
}

# Replaces (or adds) a file or directory in the slot with the running root's copy: copied
# next to it under a fresh name, then renamed into place; no link in the slot is followed.
sync_copy() {
  local src=$1 mnt=$2 rel=${1#/}
  local dir; dir=$(dirname -- "$rel")
  slot_dir "$mnt" "$dir"
  local dst="$mnt/$rel" tmpd
  tmpd=$(mktemp -d "$mnt/$dir/.twinroot-sync.XXXXXX") || die "cannot create a directory in $mnt/$dir"
  cp -a -- "$src" "$tmpd/new" || { rm -rf -- "$tmpd"; die "cannot copy $src into slot"; }
  # A directory cannot be renamed over anything but an empty directory: the old entry goes first
  # (rm removes a link itself, never what it points to). A file is renamed over the old entry.
  if [ -d "$tmpd/new" ] && [ ! -L "$tmpd/new" ]; then rm -rf -- "$dst"
  elif [ -d "$dst" ] && [ ! -L "$dst" ]; then rm -rf -- "$dst"; fi
  mv -fT -- "$tmpd/new" "$dst" || { rm -rf -- "$tmpd"; die "cannot replace $dst"; }
  rmdir -- "$tmpd"
}

# merge_target SRC MNT REL: "MODE UID GID" of the slot's account file to merge into, or nothing
# when either side lacks the file; dies if the slot's file is a link.
merge_target() {
  [ -f "$1" ] || return 0
  [ -e "$2/$3" ] || [ -L "$2/$3" ] || return 0
  slot_mode_owner "$2" "$3" '0600 0 0'
}

# merge_accounts SRC MNT REL NAMES_FILE: lines of SRC whose first field is listed in NAMES_FILE
# replace the slot file's lines of the same name or are appended; every other line stays. The
# slot's file keeps its own mode and owner (a planted link is refused, never followed).
merge_accounts() {
  local src=$1 mnt=$2 rel=$3 names=$4
  local mode uid gid mo
  mo=$(merge_target "$src" "$mnt" "$rel") || exit 1
  [ -n "$mo" ] || return 0
  read -r mode uid gid <<<"$mo"
  awk -F: -v OFS=: '
    FILENAME == ARGV[1] { want[$1] = 1; next }
    FILENAME == ARGV[2] { if ($1 in want) { line[$1] = $0; order[++n] = $1 } next }
    { if ($1 in line) { print line[$1]; done[$1] = 1 } else print }
    END { for (i = 1; i <= n; i++) if (!(order[i] in done)) print line[order[i]] }
  ' "$names" "$src" "$mnt/$rel" | slot_write "$mnt" "$rel" "$mode" "$uid" "$gid"
}

# Supplementary group membership of the synced users (e.g. wheel, sudo) is added to the
# slot's groups of the same name.
merge_memberships() {
  local src=$1 mnt=$2 rel=$3 users=$4
  local mode uid gid mo
  mo=$(merge_target "$src" "$mnt" "$rel") || exit 1
  [ -n "$mo" ] || return 0
  read -r mode uid gid <<<"$mo"
  awk -F: -v OFS=: '
    FILENAME == ARGV[1] { u[$1] = 1; next }
    FILENAME == ARGV[2] { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] in u) add[$1] = add[$1] "," m[i]; next }
    {
      if ($1 in add) {
        n = split(substr(add[$1], 2), m, ","); k = split($4, have, ",")
        for (j = 1; j <= k; j++) seen[$1 SUBSEP have[j]] = 1
        for (i = 1; i <= n; i++) if (!(($1 SUBSEP m[i]) in seen)) { $4 = ($4 == "" ? m[i] : $4 "," m[i]); seen[$1 SUBSEP m[i]] = 1 }
      }
      print
    }
  ' "$users" "$src" "$mnt/$rel" | slot_write "$mnt" "$rel" "$mode" "$uid" "$gid"
}

cmd_sync_config() {
  local slot='' list='' json=no
  while [ $# -gt 0 ]; do
    case $1 in
      --slot) slot=$(need_value "$@"); shift ;;
      --list) list=$(need_value "$@"); shift ;;
      --json) json=yes ;;
      *) usage_error "sync-config: unknown option $1" ;;
    esac
    shift
  done
  check_slot "$slot"
  require_root
  local lists=()
  if [ -n "$list" ]; then lists=("$list")
  elif [ -n "$SYNC_LIST" ]; then lists=("$SYNC_LIST")
  elif [ -f /etc/twinroot/sync-config.list ]; then lists=(/etc/twinroot/sync-config.list)
  else lists=("$TWINROOT_LIB_DIR/sync-config.list"); fi
  local extra
  for extra in /etc/twinroot/sync-config.d/*.list; do [ -f "$extra" ] && lists+=("$extra"); done
  for extra in "${lists[@]}"; do [ -r "$extra" ] || usage_error "sync-config: cannot read list $extra"; done
  detect_booted
  [ "$slot" != "$BOOTED" ] || die "refusing to sync into slot $slot: it is the booted slot"
  [ -n "$(slot_version "$slot")" ] || die "slot $slot has no installed system (run install first)"
  take_lock
  mount_slot "$slot" rw; local mnt=$SLOT_MNT
  local tmp; tmp=$(mktemp -d /run/twinroot/sync.XXXXXX)
  : >"$tmp/users"; : >"$tmp/groups"; : >"$tmp/devices"
  local copied=() missing=() file line n kind arg m lo hi
  for file in "${lists[@]}"; do
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
      n=$((n + 1))
      line=${line%%#*}
      read -r kind arg <<<"$line" || true
      [ -n "${kind:-}" ] || continue
      case $kind in
        path)
          sync_path_allowed "$arg" || usage_error "$file:$n: path '$arg' is not allowed (absolute, no .., not /proc /sys /dev /run /boot)"
          local found=no
          while IFS= read -r m; do
            [ -n "$m" ] && { [ -e "$m" ] || [ -L "$m" ]; } || continue
            sync_path_allowed "$m" || continue
            sync_copy "$m" "$mnt"; copied+=("$m"); found=yes
          done < <(compgen -G "$arg" || true)
          [ "$found" = yes ] || missing+=("$arg") ;;
        users)
          [[ $arg =~ ^([0-9]+)-([0-9]+)$ ]] || usage_error "$file:$n: users needs a uid range like 1000-60000"
          lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
          awk -F: -v lo="$lo" -v hi="$hi" '$3 >= lo && $3 <= hi { print $1 }' /etc/passwd >>"$tmp/users"
          awk -F: -v lo="$lo" -v hi="$hi" '$3 >= lo && $3 <= hi { print $1 }' /etc/group >>"$tmp/groups" ;;
        user)
          [[ $arg =~ ^[a-z_][a-z0-9_.-]*\$?$ ]] || usage_error "$file:$n: invalid user name '$arg'"
          grep -q "^$arg:" /etc/passwd && echo "$arg" >>"$tmp/users" || missing+=("user $arg") ;;
        fstab)
          [[ $arg =~ ^[^[:space:]]+$ ]] || usage_error "$file:$n: fstab needs one device (first fstab field)"
          echo "$arg" >>"$tmp/devices" ;;
        *) usage_error "$file:$n: unknown entry '$kind' (expected path, users, user or fstab)" ;;
      esac
    done <"$file"
  done
  local nusers; nusers=$(sort -u "$tmp/users" | wc -l)
  if [ "$nusers" -gt 0 ]; then
    merge_accounts /etc/passwd "$mnt" etc/passwd "$tmp/users"
    merge_accounts /etc/shadow "$mnt" etc/shadow "$tmp/users"
    merge_accounts /etc/group "$mnt" etc/group "$tmp/groups"
    merge_accounts /etc/gshadow "$mnt" etc/gshadow "$tmp/groups"
    merge_memberships /etc/group "$mnt" etc/group "$tmp/users"
  fi
  local nfstab=0
  if [ -s "$tmp/devices" ] && [ -f /etc/fstab ]; then
    local mode uid gid mo slot_fstab=/dev/null
    mo=$(slot_mode_owner "$mnt" etc/fstab '0644 0 0') || exit 1
    read -r mode uid gid <<<"$mo"
    [ ! -f "$mnt/etc/fstab" ] || slot_fstab="$mnt/etc/fstab"
    nfstab=$(awk 'FILENAME == ARGV[1] { d[$1] = 1; next } ($1 in d) { c++ } END { print c + 0 }' "$tmp/devices" /etc/fstab)
    awk 'FILENAME == ARGV[1] { d[$1] = 1; next } FILENAME == ARGV[2] { if ($1 in d) keep[++n] = $0; next }
         !($1 in d) { print } END { for (i = 1; i <= n; i++) print keep[i] }' \
      "$tmp/devices" /etc/fstab "$slot_fstab" | slot_write "$mnt" etc/fstab "$mode" "$uid" "$gid"
  fi
  rm -rf "$tmp"
  sync -f "$mnt/etc"
  cleanup_mounts
  if [ "$json" = yes ]; then
    printf '{"slot":"%s","copied":[' "$slot"
    local i
    for i in "${!copied[@]}"; do [ "$i" -gt 0 ] && printf ','; json_str "${copied[$i]}"; done
    printf '],"missing":['
    for i in "${!missing[@]}"; do [ "$i" -gt 0 ] && printf ','; json_str "${missing[$i]}"; done
    printf '],"users":%d,"fstabEntries":%d}\n' "$nusers" "$nfstab"
  else
    info "synced ${#copied[@]} paths, $nusers users, $nfstab fstab entries into slot $slot${missing[0]:+ (absent here: ${missing[*]})}"
  fi
}
