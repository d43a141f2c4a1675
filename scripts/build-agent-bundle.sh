#!/usr/bin/env bash
# Packs the agent as it is installed on an appliance: one self-contained directory tree
# (the agent bundled by esbuild, the aws-crt package with the native MQTT library for linux-x64
# (glibc) only, the systemd unit and the service-installer hook). The image
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
mkdir -p "$app/dist/cli"
cp -a "$repo/agent/systemd" "$repo/agent/hooks" "$app/"
# The two entry points bundled with what they import (esbuild): one file each plus shared chunks
# that each command imports when it needs them. Loading a few files instead of ~1,000 modules is
# what makes the CLI start fast and the daemon small. aws-crt stays a package: its native binary
# is found relative to its own files. `require` is given to the bundled CommonJS code (the MQTT
# SDK requires aws-crt).
esbuild=$repo/node_modules/.bin/esbuild
[ -x "$esbuild" ] || die "esbuild is missing: run \`npm ci\` first"
"$esbuild" "$repo/agent/dist/cli/twinroot.js" "$repo/agent/dist/cli/twinroot-agent.js" \
  --bundle --splitting --format=esm --platform=node --target=node20 --minify --keep-names \
  --external:aws-crt --outdir="$app/dist/cli" --chunk-names='chunk-[hash]' --log-level=warning \
  --banner:js="import { createRequire as __twinrootRequire } from 'node:module'; const require = __twinrootRequire(import.meta.url);" \
  || die "esbuild could not bundle the agent"
crt_version=$(node -p 'require(process.argv[1]).version' "$repo/node_modules/aws-crt/package.json")
node -e '
  const fs = require("fs");
  const [src, dst, crt] = process.argv.slice(1);
  const p = JSON.parse(fs.readFileSync(src, "utf8"));
  const out = { name: p.name, version: p.version, private: true, type: "module", bin: p.bin, dependencies: { "aws-crt": crt } };
  fs.writeFileSync(dst, JSON.stringify(out, null, 2) + "\n");
' "$repo/agent/package.json" "$app/package.json" "$crt_version"
# Install scripts are not needed (aws-crt ships its binaries) and are not run.
(cd "$app" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock --prefer-offline --loglevel=error >/dev/null) \
  || die "npm install of aws-crt failed"
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
