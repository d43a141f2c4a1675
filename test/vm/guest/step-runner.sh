#!/bin/bash
# Runs in the test appliance at every boot (from the 9p share, see twinroot-vm-step):
# installs the project's grub-scripts under test, records facts about this boot, runs the
# harness's step for this boot number, then powers off (QEMU runs with -no-reboot, so a
# reboot and a power-off both end this QEMU process; the harness starts the next boot).
set -u
share=/mnt/host
n=$(cat "$share/boot-number")
out="$share/out/$n"
mkdir -p "$out"
echo "TWINROOT-STEP $n: start"
rm -rf /usr/lib/twinroot && mkdir -p /usr/lib/twinroot && cp -a "$share/grub-scripts/." /usr/lib/twinroot/
findmnt -no SOURCE / >"$out/root-source"
cat /proc/cmdline >"$out/cmdline"
/usr/lib/twinroot/twinroot-slot status --json >"$out/status.json" 2>"$out/status.err"
if [ -f "$share/steps/$n.sh" ]; then
  bash -x "$share/steps/$n.sh" >"$out/step.log" 2>&1
  echo $? >"$out/step.rc"
fi
sync
echo "TWINROOT-STEP $n: done rc=$(cat "$out/step.rc" 2>/dev/null)"
systemctl --no-block poweroff
