#!/usr/bin/env bash
# fault_absorbed.sh: faults the data channel absorbs without a reconnect,
# each during scp up and down: duplicated messages, reordered messages,
# withheld acknowledgements, and publication paused then started again.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
# Several runs here: 16 MiB each (8 under the sanitizers) keeps the time sane.
[ "${SSMP_SANITIZED:-0}" = 1 ] || FAULT_MIB=${FAULT_MIB:-16}
# shellcheck source=tests/fault.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/fault.sh"
e2e_setup
e2e_start_sshd
fault_files

# run NAME STAT FAKEREGION-SWITCHES...: one region per fault; STAT is the
# region counter proving the fault was applied.
run() {
  local name=$1 stat=$2 n
  shift 2
  e2e_start_region "$@"
  fault_proxy_args -v
  fault_scp_both "$name"
  n=$(e2e_region_stat "$stat")
  [ "$n" -gt 0 ] || e2e_fail "$name: the fault was never applied ($stat = $n)"
  grep -q 'connection lost' "$FAULT_ERR" && e2e_fail "$name: the websocket was lost"
  e2e_check_violations
  kill "$E2E_REGION_PID"; wait "$E2E_REGION_PID" 2>/dev/null || true
  : >"$FAULT_ERR"
}

run "duplicated messages (every 7th)" fault_duplicated --duplicate 7
run "reordered messages (every 5th)" fault_reordered --reorder 5
run "withheld acks (every 50th)" fault_acks_withheld --withhold-ack 50
run "publication paused 2 s" fault_pauses --pause 2000
e2e_log "ok"
