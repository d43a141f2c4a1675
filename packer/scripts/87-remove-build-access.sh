#!/bin/bash
# Removes the build's own access before anything is exported: its SSH key, its sshd drop-in, the
# root password an ISO build logged in with. The build's open SSH connection keeps working for
# the steps after this one (export, zeroing, shutdown); nothing can log in this way again.
set -euo pipefail
rm -f /root/.ssh/authorized_keys /etc/ssh/sshd_config.d/00-twinroot-build.conf
passwd -l root >/dev/null 2>&1 || usermod -p '!' root
echo "remove-build-access: build key, sshd drop-in and root password removed"
