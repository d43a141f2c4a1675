#!/usr/bin/env bash
# A simulated appliance by hand: the real agent with `dir` slots (each slot a directory), against
# a running backend. Registers once, then runs the agent in a loop: the agent's "reboot" stops it
# (SIGTERM to itself) and the loop starts it again, which for dir slots is the next boot.
#
#   scripts/sim-appliance.sh --backend URL --token REGISTER_TOKEN --pubkey FILE --dir DIR
#                            [--version 1.0.0] [--compatible NAME] [--hostname NAME]
#
# DIR/slots/A and DIR/slots/B are the slots; a slot's version is its etc/twinroot/version, and the
# executables in its etc/twinroot/health.d/ are its health checks (a failing one rolls an upgrade
# back). DIR/agent.json is the agent's configuration, DIR/agent.log its log. Ctrl-C stops it.
# Needs `npm run build` first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "sim-appliance: $1" >&2; exit 2; }

backend='' token='' pubkey='' dir='' version=1.0.0 compatible=twinroot-sim hostname=''
while [ $# -gt 0 ]; do
  case $1 in
    --backend | --token | --pubkey | --dir | --version | --compatible | --hostname)
      [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"
      declare "${1#--}=$2"
      shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ -n "$dir" ] || die "--dir DIR is required"
[ -n "$pubkey" ] && [ -r "$pubkey" ] || die "--pubkey FILE (the release public key) is required and must be readable"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "--version must be a semantic version"
[[ $compatible =~ ^[A-Za-z0-9._-]{1,128}$ ]] || die "--compatible may contain only letters, digits, . _ -"
[ -f "$repo/agent/dist/cli/twinroot-agent.js" ] || die "agent/dist is missing: run npm run build first"

mkdir -p "$dir/slots/A/etc/twinroot" "$dir/slots/B/etc/twinroot" "$dir/state"
dir=$(cd "$dir" && pwd)
pubkey=$(cd "$(dirname "$pubkey")" && pwd)/$(basename "$pubkey")
[ -f "$dir/slots/A/etc/twinroot/version" ] || echo "$version" >"$dir/slots/A/etc/twinroot/version"
[ -f "$dir/slots/bootstate.json" ] || echo '{"booted":"A","committed":"A","next":null}' >"$dir/slots/bootstate.json"
# The reboot: the agent signals itself (its child's parent) to stop; the loop below boots it again.
node -e '
  const [dir, pubkey, compatible] = process.argv.slice(1);
  const config = {
    stateDir: `${dir}/state`, logFile: `${dir}/agent.log`,
    slots: { driver: "dir", root: `${dir}/slots` },
    rebootCommand: ["sh", "-c", "kill -TERM $PPID"],
    releasePublicKeyFile: pubkey, compatible,
  };
  require("node:fs").writeFileSync(`${dir}/agent.json`, JSON.stringify(config, null, 2) + "\n");
' "$dir" "$pubkey" "$compatible"

if [ ! -f "$dir/state/identity.json" ]; then
  [ -n "$backend" ] && [ -n "$token" ] || die "not registered yet: --backend URL and --token TOKEN are required"
  node "$repo/agent/dist/cli/twinroot.js" --config "$dir/agent.json" register --token "$token" --backend "$backend" ${hostname:+--hostname "$hostname"}
fi

stopping=no
trap 'stopping=yes' INT
while [ "$stopping" = no ]; do
  node "$repo/agent/dist/cli/twinroot-agent.js" run --config "$dir/agent.json" || true
  [ "$stopping" = no ] || break
  echo "sim-appliance: the agent stopped (a reboot); booting again" >&2
  sleep 1
done
