#!/usr/bin/env bash
# Packs the agent as it is installed on an appliance: one self-contained directory tree
# (compiled agent, its production dependencies, the protocol package, the systemd unit and the
# service-installer hook), with the native MQTT library for linux-x64 (glibc) only. The image
# build installs this tarball; no git checkout and no npm on the appliance.
#   scripts/build-agent-bundle.sh [OUT_DIR]   (default build/) -> OUT_DIR/twinroot-agent-<version>.tar.gz
# Needs `npm run build` first. Prints the tarball's path on its last line.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build}
die() { echo "build-agent-bundle: $*" >&2; exit 1; }

[ -f "$repo/agent/dist/cli/twinroot-agent.js" ] || die "agent/dist is missing: run \`npm run build\` first"
[ -f "$repo/protocol/dist/index.js" ] || die "protocol/dist is missing: run \`npm run build\` first"
command -v npm >/dev/null || die "npm not found"
version=$(node -p 'require(process.argv[1]).version' "$repo/agent/package.json")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app=$stage/agent
mkdir -p "$app/vendor/protocol"
cp -a "$repo/agent/dist" "$repo/agent/systemd" "$repo/agent/hooks" "$app/"
cp -a "$repo/protocol/dist" "$repo/protocol/package.json" "$app/vendor/protocol/"
# The workspace link to @twinroot/protocol becomes a vendored copy; everything else as published.
node -e '
  const fs = require("fs");
  const [src, dst] = process.argv.slice(1);
  const p = JSON.parse(fs.readFileSync(src, "utf8"));
  p.dependencies["@twinroot/protocol"] = "file:vendor/protocol";
  delete p.devDependencies;
  fs.writeFileSync(dst, JSON.stringify(p, null, 2) + "\n");
' "$repo/agent/package.json" "$app/package.json"
# Install scripts are not needed (aws-crt ships its binaries) and are not run.
(cd "$app" && npm install --omit=dev --install-links --ignore-scripts --no-audit --no-fund --no-package-lock --prefer-offline --loglevel=error >/dev/null) \
  || die "npm install of the agent's production dependencies failed"
# Only the native binary an x86_64 glibc appliance loads.
bin=$app/node_modules/aws-crt/dist/bin
[ -f "$bin/linux-x64-glibc/aws-crt-nodejs.node" ] || die "aws-crt has no linux-x64-glibc binary"
find "$bin" -mindepth 1 -maxdepth 1 ! -name linux-x64-glibc -exec rm -rf {} +
# Smoke test: the bundle runs on its own (resolves every import) before it is shipped.
node "$app/dist/cli/twinroot.js" --help >/dev/null || die "the bundled CLI does not start"

mkdir -p "$out"
tarball=$out/twinroot-agent-$version.tar.gz
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$tarball.tmp" agent
mv "$tarball.tmp" "$tarball"
echo "build-agent-bundle: $(du -h "$tarball" | cut -f1) ($(find "$app" -type f | wc -l) files)" >&2
echo "$tarball"
