#!/usr/bin/env bash
# Lints every shell script the appliance or the image builder runs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "shellcheck: not installed (apt-get install shellcheck)" >&2; exit 1; }
# Every *.sh, and every other file that starts with a sh/bash shebang (twinroot-slot, health.d checks, ...).
mapfile -t files < <(find grub-scripts image-build agent/hooks scripts test/vm packer .ci deploy -type f -not -path '*/tmp/*' -not -path '*/node_modules/*' -not -path '*/cdk.out/*' 2>/dev/null | while read -r f; do
  case $f in *.sh) echo "$f" ;; *) head -n1 "$f" | grep -qE '^#!.*[/ ](ba)?sh( |$)' && echo "$f" ;; esac
done | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "shellcheck: no scripts"; exit 0; fi
shellcheck -x "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean"
