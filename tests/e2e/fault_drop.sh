#!/usr/bin/env bash
# fault_drop.sh: the websocket is cut abruptly (TCP reset, no close frame)
# 3 times in the middle of scp up and down; ssm-proxy resumes the session
# (ResumeSession, new connection, unacked data sent again) and both files
# arrive intact. Then the same with a 1001 "going away" close frame.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
# shellcheck source=tests/fault.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/fault.sh"
e2e_setup
e2e_start_sshd
fault_files
# Each websocket carries at least 40 % of a file: two drops on the way up
# (input counts too), the third on the way down.
every=$(( FAULT_MIB * 1024 * 1024 * 4 / 10 ))

for mode in rst close1001; do
  e2e_start_region --drop-after "$every:3" --drop-input --drop-mode "$mode"
  fault_proxy_args -v
  fault_scp_both "websocket dropped 3 times ($mode)"
  drops=$(e2e_region_stat fault_drops)
  [ "$drops" -eq 3 ] || e2e_fail "$mode: $drops drops applied, want 3"
  resumes=$(grep -c '^ResumeSession 200' "$E2E_REGION_DIR/api.log" || true)
  [ "$resumes" -ge 3 ] || e2e_fail "$mode: $resumes ResumeSession calls, want 3 or more"
  grep -q 'data channel resumed' "$FAULT_ERR" || e2e_fail "$mode: ssm-proxy never said it resumed"
  e2e_check_violations
  kill "$E2E_REGION_PID"; wait "$E2E_REGION_PID" 2>/dev/null || true
done
e2e_log "ok"
