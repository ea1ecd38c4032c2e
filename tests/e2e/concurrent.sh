#!/usr/bin/env bash
# concurrent.sh: 10 ssh sessions at once, each through its own ssm-proxy
# (so its own SSM session and data channel), with different instance ids.
# Each sends its own 2 MiB and must get back its own id and hash only.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
count=10

ids=()
for i in $(seq 0 $((count - 1))); do
  case $((i % 3)) in
    0) ids+=("i-0123456789abcdef$i") ;;
    1) ids+=("mi-$(printf '%017x' $((i * 7919)))") ;;
    2) ids+=("i-$(printf '%08x' $((i * 104729)))") ;;
  esac
done

pids=()
for i in $(seq 0 $((count - 1))); do
  head -c 2097152 /dev/urandom >"$E2E_DIR/in$i"
  $E2E_SSH "${ids[$i]}" "echo session $i; sha256sum" <"$E2E_DIR/in$i" >"$E2E_DIR/out$i" 2>>"$err" &
  pids+=("$!")
done
e2e_track "${pids[@]}"

failed=0
for i in $(seq 0 $((count - 1))); do
  rc=0; wait "${pids[$i]}" || rc=$?
  want=$(printf 'session %d\n%s  -' "$i" "$(e2e_sha "$E2E_DIR/in$i")")
  if [ "$rc" -ne 0 ]; then
    e2e_log "session $i (${ids[$i]}): ssh exited $rc"; failed=$((failed + 1))
  elif [ "$(cat "$E2E_DIR/out$i")" != "$want" ]; then
    e2e_log "session $i (${ids[$i]}): printed '$(cat "$E2E_DIR/out$i")', want '$want'"
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ] || e2e_fail "$failed of $count concurrent sessions failed"

if [ -z "${E2E_DIRECT:-}" ]; then
  # Each ssh really went through its own proxy: one StartSession per id.
  for id in "${ids[@]}"; do
    grep -q "^StartSession 200 $id " "$E2E_REGION_DIR/api.log" ||
      e2e_fail "no successful StartSession for $id in the region's log"
  done
fi

e2e_check_violations
e2e_log "ok"
