#!/bin/bash
# GRUB's part of a reboot, as twinroot's grub.cfg does it: a next_entry boots once (and is
# cleared), otherwise saved_entry. Usage: grub-boot.sh FAKE_HOST_DIR
set -eu
host=$1 env=$1/boot/twinroot/grubenv
next=$(sed -n 's/^next_entry=twinroot-//p' "$env")
saved=$(sed -n 's/^saved_entry=twinroot-//p' "$env")
if [ -n "$next" ]; then sed -i '/^next_entry=/d' "$env"; echo "$next" >"$host/booted"
else echo "${saved:-A}" >"$host/booted"; fi
echo boot >>"$host/calls.log"
