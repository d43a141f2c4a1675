# shellcheck shell=bash
# Writing into a mounted slot without following what the payload planted there. A slot's tree
# comes from a package: a symbolic link in it (absolute, or with ..) resolves against the
# RUNNING root when followed from outside a chroot. So every write into a slot walks its path
# component by component refusing links, and replaces files by renaming a fresh file over them
# (rename(2) replaces a link instead of following it).

# slot_dir MNT REL: MNT/REL is a real directory of the slot (missing components are created);
# dies if a component is a symbolic link or not a directory.
slot_dir() {
  local path=$1 part parts=()
  IFS=/ read -r -a parts <<<"${2#/}"
  for part in "${parts[@]}"; do
    [ -n "$part" ] && [ "$part" != . ] || continue
    [ "$part" != .. ] || die "refusing the slot path $2: it contains .."
    path="$path/$part"
    if [ -L "$path" ]; then die "refusing to write through $path: it is a symbolic link in the slot"; fi
    if [ ! -e "$path" ]; then mkdir -m 0755 -- "$path" || die "cannot create $path"
    elif [ ! -d "$path" ]; then die "refusing to write into $path: it is not a directory"; fi
  done
}

# slot_file MNT REL: MNT/REL, when every component above it is a real directory and it is a
# regular file (not a link); dies otherwise. For reading a slot's file from outside it.
slot_file() {
  local dir; dir=$(dirname -- "${2#/}")
  [ "$dir" = . ] || slot_dir_exists "$1" "$dir"
  local f="$1/${2#/}"
  [ ! -L "$f" ] || die "refusing to read $f: it is a symbolic link in the slot"
  [ -f "$f" ] || die "$f is not a regular file"
  printf '%s' "$f"
}

# slot_dir_exists MNT REL: like slot_dir, but creates nothing.
slot_dir_exists() {
  local path=$1 part parts=()
  IFS=/ read -r -a parts <<<"${2#/}"
  for part in "${parts[@]}"; do
    [ -n "$part" ] && [ "$part" != . ] || continue
    [ "$part" != .. ] || die "refusing the slot path $2: it contains .."
    path="$path/$part"
    [ ! -L "$path" ] || die "refusing $path: it is a symbolic link in the slot"
    [ -d "$path" ] || die "$path is not a directory"
  done
}

# slot_write MNT REL MODE [UID GID]: replaces MNT/REL with standard input, through a fresh file
# in the same directory renamed over it; the file gets MODE (and owner) as given.
slot_write() {
  local mnt=$1 rel=${2#/} mode=$3 uid=${4:-0} gid=${5:-0}
  local dir; dir=$(dirname -- "$rel")
  slot_dir "$mnt" "$dir"
  local tmp; tmp=$(mktemp "$mnt/$dir/.twinroot-new.XXXXXX") || die "cannot create a file in $mnt/$dir"
  if ! cat >"$tmp" || ! chown "$uid:$gid" "$tmp" || ! chmod "$mode" "$tmp"; then
    rm -f -- "$tmp"; die "cannot write $mnt/$rel"
  fi
  [ ! -d "$mnt/$rel" ] || [ -L "$mnt/$rel" ] || { rm -f -- "$tmp"; die "refusing to replace the directory $mnt/$rel by a file"; }
  mv -fT -- "$tmp" "$mnt/$rel" || { rm -f -- "$tmp"; die "cannot replace $mnt/$rel"; }
}

# slot_mode_owner MNT REL DEFAULT: "MODE UID GID" of the slot's regular file MNT/REL (dies if it
# is a link), or DEFAULT when there is none — so a rewritten file keeps the target's mode.
slot_mode_owner() {
  local f="$1/${2#/}"
  slot_dir_exists "$1" "$(dirname -- "${2#/}")"
  [ ! -L "$f" ] || die "refusing to rewrite $f: it is a symbolic link in the slot"
  if [ -e "$f" ]; then
    [ -f "$f" ] || die "refusing to rewrite $f: it is not a regular file"
    stat -c '%a %u %g' -- "$f"
  else
    printf '%s\n' "$3"
  fi
}
