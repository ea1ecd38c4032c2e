#!/usr/bin/env bash
# fault_slow_path.sh: a slow, lossy path between ssm-proxy and the region,
# through the project's shaping relay (tests/relay): 50 ms each way, random
# stalls of up to 1 s, a bandwidth cap, and the data-channel connection
# reset twice. API calls and the websocket both go through the relay.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
# shellcheck source=tests/fault.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/fault.sh"
e2e_setup
e2e_start_sshd
fault_files
relay_bin=${E2E_RELAY:-"$SSMP_BUILD_DIR/tests/relay"}
[ -x "$relay_bin" ] || e2e_fail "no relay program at $relay_bin"
rate=${FAULT_RATE:-8M}
drop_at=$(( FAULT_MIB * 1024 * 1024 * 6 / 10 ))

region_port=$(e2e_free_port)
"$relay_bin" --target "127.0.0.1:$region_port" --port-file "$E2E_DIR/relay.port" \
  --delay 50 --stall-max 1000 --stall-every 3000 --rate "$rate" --drop-after "$drop_at:2" \
  --time-limit 1200 -v 2>>"$E2E_DIR/relay.log" &
relay_pid=$!
e2e_track "$relay_pid"
e2e_wait_file "$E2E_DIR/relay.port" 10 || e2e_fail "the relay did not start"
relay_port=$(cat "$E2E_DIR/relay.port")
e2e_start_region --port "$region_port" --public-port "$relay_port"
export AWS_ENDPOINT_URL_SSM="https://127.0.0.1:$relay_port"
fault_proxy_args -v
fault_scp_both "slow lossy path: 50 ms each way, stalls <= 1 s, $rate/s, 2 resets"
kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true
tail -n 1 "$E2E_DIR/relay.log" >&2
grep -q 'resetting connection' "$E2E_DIR/relay.log" || e2e_fail "the relay never reset a connection"
grep -q 'data channel resumed' "$FAULT_ERR" || e2e_fail "ssm-proxy never resumed"
e2e_check_violations
e2e_log "ok"
