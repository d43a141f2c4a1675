#!/bin/bash
# Node.js 20 for the agent, at /usr/bin/node (the agent's unit runs that path). Rocky 9 gets it
# from the nodejs:20 module stream; a base image that already ships Node.js >= 20 keeps it.
set -euo pipefail
die() { echo "install-node: $*" >&2; exit 1; }
want=20

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

have=$(command -v node || true)
if [ -z "$have" ] || [ "$(major "$have")" -lt "$want" ]; then
  if command -v dnf >/dev/null; then
    dnf -y -q module reset nodejs
    dnf -y -q module enable "nodejs:$want"
    dnf -y -q install nodejs || die "dnf could not install nodejs:$want"
  else
    die "Node.js >= $want is not installed and this system has no dnf; install it in the base image"
  fi
  have=$(command -v node) || die "node is still not on PATH"
fi
if [ ! -x /usr/bin/node ]; then
  ln -sf "$(readlink -f "$have")" /usr/bin/node
fi
[ "$(major /usr/bin/node)" -ge "$want" ] || die "/usr/bin/node is older than $want"
echo "install-node: $(/usr/bin/node --version) at /usr/bin/node"
