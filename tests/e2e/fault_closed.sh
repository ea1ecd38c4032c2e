#!/usr/bin/env bash
# fault_closed.sh: faults that end a session by design, each during a
# transfer: channel_closed in the middle, and the agent-side TCP target
# refusing the connection. ssm-proxy says why in one line, ssh fails, and
# nothing hangs.
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
FAULT_DEADLINE=120

e2e_start_region --close-after $(( FAULT_MIB * 1024 * 1024 / 2 ))
fault_scp_fails "channel_closed in the middle" down "session was closed by the service"
[ "$(e2e_region_stat fault_closed)" -ge 1 ] || e2e_fail "the channel was never closed by the fault"
fault_scp_fails "channel_closed in the middle" up "session was closed by the service"
e2e_check_violations
kill "$E2E_REGION_PID"; wait "$E2E_REGION_PID" 2>/dev/null || true

e2e_start_region --refuse-target
fault_scp_fails "target refuses the connection" down "Unable to connect to specified port"
e2e_check_violations
e2e_log "ok"
