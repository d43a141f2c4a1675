# shellcheck shell=bash
# Sourced by VM test steps: runs the real twinroot agent (the checkout's agent/dist, over a
# read-only 9p share, with the Node.js the image ships) against the harness's device API.
# Expects SHARE and OUT from the step preamble.

AGENT_STATE=/data/twinroot
AGENT_SRC=/opt/twinroot-src

mount_agent_source() {
  mkdir -p "$AGENT_SRC"
  mountpoint -q "$AGENT_SRC" || mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro twinroot-repo "$AGENT_SRC"
}

# The appliance is registered (identity from the harness) and configured for lvm-grub slots.
setup_agent() {
  mkdir -p "$AGENT_STATE" /etc/twinroot
  install -m 0600 "$SHARE/agent/identity.json" "$AGENT_STATE/identity.json"
  cat >/etc/twinroot/agent.json <<JSON
{"stateDir":"$AGENT_STATE","logFile":"$AGENT_STATE/agent.log","logLevel":"debug",
 "slots":{"driver":"lvm-grub","command":["/usr/lib/twinroot/twinroot-slot"]},
 "rebootCommand":["systemctl","reboot"],"stopGraceMs":5000}
JSON
}

# What the upgrade handler records before its reboot: the trial belongs to this task.
arrange_trial() {
  local task_id=$1 version=$2
  printf '{"taskId":"%s","slot":"B","version":"%s","bootId":"%s","arrangedAt":"%s"}\n' \
    "$task_id" "$version" "$(cat /proc/sys/kernel/random/boot_id)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$AGENT_STATE/pending-boot.json"
}

start_agent() {
  mount_agent_source
  /usr/local/bin/node "$AGENT_SRC/agent/dist/cli/twinroot-agent.js" run --config /etc/twinroot/agent.json >"$OUT/agent.stdout" 2>&1 &
  AGENT_PID=$!
}

# Starts the agent and waits until its boot check has settled the trial and the result left
# the outbox (or the agent reboots the machine, which ends this step). "Settled" is this run's
# own `agent started` line (logged after the boot check queued its result; the log keeps the
# lines of earlier boots), then an empty outbox.
agent_starts() {
  local n
  n=$(grep -c 'agent started' "$AGENT_STATE/agent.log" 2>/dev/null)
  echo "${n:-0}"
}
run_agent_until_settled() {
  local i before
  before=$(agent_starts)
  start_agent
  for i in $(seq 1 600); do
    if [ "$(agent_starts)" -gt "$before" ] \
      && [ -z "$(ls -A "$AGENT_STATE/outbox" 2>/dev/null)" ]; then
      break
    fi
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "agent exited"; break; }
    sleep 0.5
  done
  echo "settled after $((i / 2)) s"
  kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" || true
  cp "$AGENT_STATE/agent.log" "$OUT/agent.log" 2>/dev/null || true
}
