#!/usr/bin/env bash
# fault_slow_consumer.sh: ssm-proxy's stdout is blocked for seconds: the ssh
# client of a download is stopped (SIGSTOP) for 5 s, three times. The proxy
# holds back (bounded memory, websocket reads paused) without mistaking the
# pause for a dead path, even with --keepalive 1, and the file arrives intact.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
# shellcheck source=tests/fault.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/fault.sh"
e2e_setup
e2e_start_sshd
fault_files
e2e_start_region
fault_proxy_args -v --keepalive 1
# stalled NAME SRC DST WANT: one scp whose ssh client is stopped 5 s, 3 times.
stalled() {
  local name=$1 src=$2 dst=$3 want=$4 t0 t1 rc pid ssh_pid stops=0 i
  t0=$(e2e_now)
  fault_scp "$src" "$dst" &
  pid=$!
  e2e_track "$pid"
  # The first stop comes once bytes arrive (a fast machine moves the file
  # in a second or two), the others half a second after each resume.
  for i in $(seq 1 200); do
    [ -s "${dst#*:}" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  for i in 1 2 3; do
    ssh_pid=$(pgrep -n -f "^(/usr/bin/)?ssh .*$E2E_DIR/ssh_config" || true)
    [ -n "$ssh_pid" ] || break
    kill -STOP "$ssh_pid" 2>/dev/null || break
    sleep 5
    kill -CONT "$ssh_pid" 2>/dev/null || true
    stops=$((stops + 1))
    sleep 0.5
  done
  rc=0; wait "$pid" || rc=$?
  t1=$(e2e_now)
  [ "$rc" -eq 0 ] || e2e_fail "$name: scp with a stalled ssh client exited $rc"
  [ "$(e2e_sha "${dst#*:}")" = "$want" ] || e2e_fail "$name: sha256 differs"
  [ "$stops" -ge 1 ] || e2e_fail "$name: the ssh client was never stopped (transfer too quick?)"
  e2e_log "fault table: ssh client stopped 5 s x $stops (proxy stdout blocked), $name |" \
    "${FAULT_MIB} MiB | sha256 equal | $(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f s", e - s }')"
}
stalled down "$E2E_INSTANCE:$FAULT_REMOTE/down.bin" "$E2E_DIR/local/down.bin" "$FAULT_DOWN_SHA"
stalled up "$E2E_DIR/local/up.bin" "$E2E_INSTANCE:$FAULT_REMOTE/up.bin" "$FAULT_UP_SHA"
if grep -q 'connection lost' "$FAULT_ERR"; then
  e2e_fail "a blocked stdout was taken for a dead path: $(grep 'connection lost' "$FAULT_ERR")"
fi
e2e_check_violations
e2e_log "ok"
