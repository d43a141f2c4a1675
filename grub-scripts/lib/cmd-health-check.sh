# shellcheck shell=bash
# health-check [--json]: runs every executable check in the library's health.d and in
# /etc/twinroot/health.d (a file there with the same name replaces the default), in name
# order, each with HEALTH_TIMEOUT seconds. Exit 0 only if all pass.

cmd_health_check() {
  local json=no dirs=("$TWINROOT_LIB_DIR/health.d" /etc/twinroot/health.d)
  while [ $# -gt 0 ]; do
    case $1 in
      --json) json=yes ;;
      --dir) dirs+=("$(need_value "$@")"); shift ;;
      *) usage_error "health-check: unknown option $1" ;;
    esac
    shift
  done
  detect_booted
  declare -A checks
  local d f name
  for d in "${dirs[@]}"; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      name=${f##*/}
      [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] && [[ $name != *.dpkg-* && $name != *.rpm* ]] || continue
      checks[$name]=$f
    done
  done
  local names=() ok=true results=() rc out start took
  mapfile -t names < <(printf '%s\n' "${!checks[@]}" | sort)
  for name in "${names[@]}"; do
    [ -n "$name" ] || continue
    start=$(now_ms)
    rc=0
    out=$(TWINROOT_BOOTED_SLOT="$BOOTED" TWINROOT_BOOTED_DEVICE="$( [ -n "$BOOTED" ] && slot_device "$BOOTED")" \
      TWINROOT_STATE_DIR="$STATE_DIR" TWINROOT_VG="$VG" timeout "$HEALTH_TIMEOUT" "${checks[$name]}" 2>&1) || rc=$?
    took=$(( $(now_ms) - start ))
    out=${out:0:2000}
    [ "$rc" -eq 124 ] && out="timed out after $HEALTH_TIMEOUT s${out:+: $out}"
    [ "$rc" -eq 0 ] || ok=false
    results+=("$(printf '{"name":%s,"ok":%s,"exitCode":%d,"output":%s,"durationMs":%d}' "$(json_str "$name")" \
      "$( [ "$rc" -eq 0 ] && echo true || echo false)" "$rc" "$(json_str "$out")" "$took")")
    if [ "$json" = no ]; then
      if [ "$rc" -eq 0 ]; then echo "ok   $name"; else echo "FAIL $name: $(printf '%s' "$out" | head -n1)"; fi
    fi
  done
  [ "${#names[@]}" -gt 0 ] && [ -n "${names[0]}" ] || { ok=false; [ "$json" = yes ] || echo "FAIL no health checks found"; }
  if [ "$json" = yes ]; then
    local IFS=,
    printf '{"ok":%s,"slot":%s,"checks":[%s]}\n' "$ok" "$(json_str_or_null "$BOOTED")" "${results[*]}"
  fi
  [ "$ok" = true ]
}
