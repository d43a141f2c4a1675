#!/bin/bash
# Installs twinroot from what the build uploaded to $TWINROOT_BUILD_DIR:
#   twinroot-agent.tar.gz  -> /usr/lib/twinroot/agent (+ /usr/bin/twinroot, units, hooks)
#   grub-scripts/          -> /usr/lib/twinroot/{twinroot-slot,lib,health.d,sync-config.list}
#   release-signing.pub    -> /etc/twinroot/release-signing.pub (the pinned package key)
# and writes the agent's configuration. Safe to run again (replaces what it installed).
set -euo pipefail
die() { echo "install-twinroot: $*" >&2; exit 1; }
build=${TWINROOT_BUILD_DIR:?}
compatible=${TWINROOT_COMPATIBLE:?}
[[ $compatible =~ ^[A-Za-z0-9._-]{1,128}$ ]] || die "bad compatible name: $compatible"
for f in twinroot-agent.tar.gz grub-scripts/twinroot-slot release-signing.pub; do
  [ -e "$build/$f" ] || die "$build/$f was not uploaded"
done
grep -q 'BEGIN PUBLIC KEY' "$build/release-signing.pub" || die "release-signing.pub is not a PEM public key"

lib=/usr/lib/twinroot
mkdir -p "$lib"
# The agent: unpacked beside, then swapped in.
rm -rf "$lib/agent.new" && mkdir -p "$lib/agent.new"
tar -xzf "$build/twinroot-agent.tar.gz" -C "$lib/agent.new" --strip-components=1 --no-same-owner
[ -f "$lib/agent.new/dist/cli/twinroot-agent.js" ] || die "the agent bundle has no dist/cli/twinroot-agent.js"
rm -rf "$lib/agent.old"
[ ! -d "$lib/agent" ] || mv "$lib/agent" "$lib/agent.old"
mv "$lib/agent.new" "$lib/agent" && rm -rf "$lib/agent.old"

# The boot layer.
rm -rf /usr/lib/twinroot/lib /usr/lib/twinroot/health.d
cp -a "$build/grub-scripts/twinroot-slot" "$build/grub-scripts/lib" "$build/grub-scripts/health.d" "$build/grub-scripts/sync-config.list" "$lib/"
chown -R root:root "$lib/twinroot-slot" "$lib/lib" "$lib/health.d" "$lib/sync-config.list"
chmod 0755 "$lib/twinroot-slot" "$lib"/health.d/*
install -m 0755 "$lib/agent/hooks/service-installer" "$lib/service-installer"
install -m 0755 "$lib/agent/hooks/first-boot" "$lib/first-boot"

cat >/usr/bin/twinroot <<'SH'
#!/bin/sh
exec /usr/bin/node /usr/lib/twinroot/agent/dist/cli/twinroot.js "$@"
SH
chmod 0755 /usr/bin/twinroot

# Configuration. State lives on VA/data: it must survive switching slots.
install -d -m 0755 /etc/twinroot
install -m 0644 "$build/release-signing.pub" /etc/twinroot/release-signing.pub
cat >/etc/twinroot/agent.json <<JSON
{
  "stateDir": "/data/twinroot",
  "logFile": "/var/log/twinroot/agent.log",
  "compatible": "$compatible",
  "releasePublicKeyFile": "/etc/twinroot/release-signing.pub",
  "slots": { "driver": "lvm-grub", "command": ["/usr/lib/twinroot/twinroot-slot"] },
  "serviceInstaller": ["/usr/lib/twinroot/service-installer"],
  "rebootCommand": ["systemctl", "reboot"]
}
JSON
install -d -m 0700 /data/twinroot
/usr/bin/node "$lib/agent/dist/cli/twinroot.js" status --json >/dev/null 2>&1 || true

# Units: the agent (from the bundle) with the appliance's own ordering, and the first-boot units.
install -m 0644 "$lib/agent/systemd/twinroot-agent.service" /etc/systemd/system/twinroot-agent.service
install -m 0644 "$lib/agent/systemd/twinroot-register.service" /etc/systemd/system/twinroot-register.service
install -m 0644 "$lib/agent/systemd/twinroot-host-keys.service" /etc/systemd/system/twinroot-host-keys.service
mkdir -p /etc/systemd/system/twinroot-agent.service.d
cat >/etc/systemd/system/twinroot-agent.service.d/appliance.conf <<'UNIT'
[Unit]
# The agent's state and downloads are on the data volume; registration comes first.
RequiresMountsFor=/data
After=twinroot-register.service
UNIT
systemctl daemon-reload
systemctl enable twinroot-agent.service twinroot-register.service twinroot-host-keys.service >/dev/null 2>&1 \
  || die "could not enable the twinroot units"
echo "install-twinroot: agent $(/usr/bin/node -p 'require("/usr/lib/twinroot/agent/package.json").version'), grub-scripts, units and pinned key installed"
