#!/bin/bash
# Removes what must differ on every clone, or must not ship at all: machine-id (systemd makes a
# new one at first boot), SSH host keys (twinroot-host-keys.service makes new ones), the agent's
# state and any registration seed, DHCP leases, random seed, logs, caches, temp files, shell
# history. The build's own login is removed by 87-remove-build-access.sh.
set -euo pipefail
systemctl stop twinroot-agent.service 2>/dev/null || true

# An empty /etc/machine-id (not a missing one) tells systemd this is a first boot.
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id /var/lib/systemd/random-seed /var/lib/systemd/credential.secret
rm -f /etc/ssh/ssh_host_*
rm -rf /data/twinroot && install -d -m 0700 /data/twinroot
rm -f /etc/twinroot/register.json

rm -rf /var/lib/dhclient/* /var/lib/dhcp/* /var/lib/NetworkManager/*.lease /var/lib/NetworkManager/timestamps \
       /var/lib/systemd/network/* 2>/dev/null || true
if command -v cloud-init >/dev/null; then cloud-init clean --logs --seed >/dev/null 2>&1 || true; fi

# Logs: journals and rotated files go, live log files are emptied.
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -rf /var/log/journal/* /var/log/twinroot/*
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*-[0-9]*' -o -name '*.old' \) -delete
find /var/log -type f -exec truncate -s 0 {} +

if command -v dnf >/dev/null; then dnf -q clean all >/dev/null 2>&1 || true; fi
if command -v apt-get >/dev/null; then apt-get -q clean >/dev/null 2>&1 || true; rm -rf /var/lib/apt/lists/*; fi
find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -name twinroot-build -exec rm -rf {} +
rm -f /root/.bash_history /root/.lesshst /root/.wget-hsts
echo "clean-for-clones: machine-id, host keys, agent state, leases, logs, caches and temp files removed"
