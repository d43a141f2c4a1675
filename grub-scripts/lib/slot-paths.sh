# shellcheck shell=bash
# Writing into a mounted slot without following what the payload planted there. A slot's tree
# comes from a package: a symbolic link in it (absolute, or with ..) resolves against the
# RUNNING root when followed from outside a chroot. So every write into a slot walks its path
# component by component refusing links, and replaces files by renaming a fresh file over them
# (rename(2) replaces a link instead of following it).

# slot_walk MNT REL create|check: every component of MNT/REL is a real directory of the slot;
# dies at a symbolic link, a non-directory or "..". With create, missing components are made.
slot_walk() {
  local path=$1 how=$3 part parts=()
  IFS=/ read -r -a parts <<<"${2#/}"
  for part in "${parts[@]}"; do
    [ -n "$part" ] && [ "$part" != . ] || continue
    [ "$part" != .. ] || die "refusing the slot path $2: it contains .."
    path="$path/$part"
    [ ! -L "$path" ] || die "refusing to write through $path: it is a symbolic link in the slot"
    if [ ! -e "$path" ] && [ "$how" = create ]; then mkdir -m 0755 -- "$path" || die "cannot create $path"
    elif [ ! -d "$path" ]; then die "refusing $path: it is not a directory"; fi
  done
}

# slot_dir MNT REL: MNT/REL is a real directory of the slot (missing components are created).
slot_dir() { slot_walk "$1" "$2" create; }

# slot_file MNT REL: MNT/REL, when every component above it is a real directory and it is a
# regular file (not a link); dies otherwise. For reading a slot's file from outside it.
slot_file() {
  slot_walk "$1" "$(dirname -- "${2#/}")" check
  local f="$1/${2#/}"
  [ ! -L "$f" ] || die "refusing to read $f: it is a symbolic link in the slot"
  [ -f "$f" ] || die "$f is not a regular file"
  printf '%s' "$f"
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
  slot_walk "$1" "$(dirname -- "${2#/}")" check
  [ ! -L "$f" ] || die "refusing to rewrite $f: it is a symbolic link in the slot"
  if [ -e "$f" ]; then
    [ -f "$f" ] || die "refusing to rewrite $f: it is not a regular file"
    stat -c '%a %u %g' -- "$f"
  else
    printf '%s\n' "$3"
  fi
}
