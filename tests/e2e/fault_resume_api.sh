#!/usr/bin/env bash
# fault_resume_api.sh: the websocket drops while the API misbehaves.
# ResumeSession throttled (5 times) then succeeding, and the API endpoint
# down for a while: the session is resumed and the transfer finishes
# intact. ResumeSession without a token (the session timed out) and the
# API endpoint down for good: a clear error, exit 255, no hang.
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
every=$(( FAULT_MIB * 1024 * 1024 * 4 / 10 ))

stop_region() { kill "$E2E_REGION_PID"; wait "$E2E_REGION_PID" 2>/dev/null || true; }

e2e_start_region --drop-after "$every:1" --throttle-resume 5
fault_proxy_args -v
fault_scp_both "ResumeSession throttled 5 times, then succeeding"
n=$(grep -c '^ResumeSession 400 ThrottlingException' "$E2E_REGION_DIR/api.log" || true)
[ "$n" -eq 5 ] || e2e_fail "ResumeSession was throttled $n times, want 5"
grep -q '^ResumeSession 200' "$E2E_REGION_DIR/api.log" || e2e_fail "ResumeSession never succeeded"
e2e_check_violations
stop_region

# StartSession is call 1; the next 6 calls find the endpoint down. Only a
# download: an upload session's own TerminateSession would use up the
# outage before any resume happens.
e2e_start_region --drop-after "$every:1" --api-down-after 1:6
fault_scp_both "API endpoint down for 6 calls during the resume" down
[ "$(e2e_region_stat fault_api_down)" -eq 6 ] || e2e_fail "the endpoint was down for $(e2e_region_stat fault_api_down) calls, want 6"
e2e_check_violations
stop_region

FAULT_DEADLINE=120
e2e_start_region --drop-after "$every:1" --resume-no-token
fault_proxy_args
fault_scp_fails "ResumeSession returns no token" down "timed out \(ResumeSession returned no token\)"
stop_region

e2e_start_region --drop-after "$every:1" --api-down-after 1
fault_proxy_args --resume-timeout 8
fault_scp_fails "API endpoint down for good (--resume-timeout 8)" down "not resumed within 8 s"
stop_region
e2e_log "ok"
