#!/usr/bin/env bash
# Runs `packer <command> [args] <this template>` with whichever Packer is installed: Packer >= 1.7
# gets `packer init` first (plugins.pkr.hcl); Packer 1.6 (Debian 12's) has the builders built in
# and rejects required_plugins, so it gets a view of this directory without plugins.pkr.hcl.
#   packer/run-packer.sh build -only=qemu.appliance -var-file=my.pkrvars.hcl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "run-packer: $*" >&2; exit 1; }
command -v packer >/dev/null || die "packer is not installed (apt-get install packer, or https://developer.hashicorp.com/packer/install)"
[ "$#" -ge 1 ] || die "usage: run-packer.sh build|validate|inspect [packer options]"
version=$(packer version | head -n1 | sed -n 's/^Packer v\([0-9.]*\).*/\1/p')
[ -n "$version" ] || die "cannot read packer's version"
if [ "$(printf '%s\n1.7.0\n' "$version" | sort -V | head -n1)" = 1.7.0 ]; then
  packer init "$here" >/dev/null || die "packer init failed"
  exec packer "$@" "$here"
fi
view=$(mktemp -d)
trap 'rm -rf "$view"' EXIT
for f in "$here"/*; do
  [ "$(basename "$f")" = plugins.pkr.hcl ] || ln -s "$f" "$view/"
done
# path.root is the view: grub-scripts must be named explicitly unless the caller did.
extra=()
case " $* " in *" -var grub_scripts_dir="*|*" -var=grub_scripts_dir="*) ;; *) extra=(-var "grub_scripts_dir=$here/../grub-scripts") ;; esac
cmd=$1; shift
packer "$cmd" "${extra[@]}" "$@" "$view"
