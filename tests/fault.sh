# fault.sh: helpers for the fault-injection scripts (tests/e2e/fault_*.sh).
# Source it after lib.sh and e2e_setup; then fault_files, start sshd and
# the region with the fault switches, and call fault_scp_both (the transfer
# must survive: equal SHA-256) or fault_scp_fails (the fault is fatal by
# design: a clear error, exit status 255 from ssh, no hang).
# Each script logs one "fault table" line: fault, size, result, time.

# 64 MiB each way; less under the sanitizers, whose build is much slower.
if [ "${SSMP_SANITIZED:-0}" = 1 ]; then
  FAULT_MIB=${FAULT_MIB:-8}
else
  FAULT_MIB=${FAULT_MIB:-64}
fi
FAULT_DEADLINE=${FAULT_DEADLINE:-600} # seconds for one scp, whatever happens
FAULT_ERR=""

# fault_files: random up.bin (local) and down.bin (remote) of FAULT_MIB.
fault_files() {
  FAULT_REMOTE=$E2E_DIR/remote
  FAULT_ERR=$E2E_DIR/ssh.err
  mkdir -p "$FAULT_REMOTE" "$E2E_DIR/local"
  head -c $(( FAULT_MIB * 1024 * 1024 )) /dev/urandom >"$E2E_DIR/local/up.bin"
  head -c $(( FAULT_MIB * 1024 * 1024 )) /dev/urandom >"$FAULT_REMOTE/down.bin"
  FAULT_UP_SHA=$(e2e_sha "$E2E_DIR/local/up.bin")
  FAULT_DOWN_SHA=$(e2e_sha "$FAULT_REMOTE/down.bin")
}

# fault_scp SRC DST: one scp under the deadline; returns its status.
fault_scp() {
  timeout -k 5 "$FAULT_DEADLINE" scp -q -F "${FAULT_SSH_CONFIG:-$E2E_SSH_CONFIG}" "$1" "$2" \
    2>>"$FAULT_ERR"
}

# fault_scp_both NAME: up and down through the fault; both must arrive intact.
fault_scp_both() {
  local name=$1 only=${2:-} t0 t1 rc got
  t0=$(e2e_now)
  if [ "$only" != down ]; then
    rc=0; fault_scp "$E2E_DIR/local/up.bin" "$E2E_INSTANCE:$FAULT_REMOTE/up.bin" || rc=$?
    [ "$rc" -eq 0 ] || e2e_fail "$name: scp up exited $rc"
    got=$(e2e_sha "$FAULT_REMOTE/up.bin")
    [ "$got" = "$FAULT_UP_SHA" ] || e2e_fail "$name: scp up: sha256 $got, want $FAULT_UP_SHA"
  fi
  rc=0; fault_scp "$E2E_INSTANCE:$FAULT_REMOTE/down.bin" "$E2E_DIR/local/down.bin" || rc=$?
  [ "$rc" -eq 0 ] || e2e_fail "$name: scp down exited $rc"
  got=$(e2e_sha "$E2E_DIR/local/down.bin")
  [ "$got" = "$FAULT_DOWN_SHA" ] || e2e_fail "$name: scp down: sha256 $got, want $FAULT_DOWN_SHA"
  t1=$(e2e_now)
  e2e_check_sanitizers "$FAULT_ERR"
  e2e_log "fault table: $name | ${FAULT_MIB} MiB ${only:-up +} down | sha256 equal |" \
    "$(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f s", e - s }')"
}

# fault_scp_fails NAME DIRECTION PATTERN: scp (up or down) must fail, with
# ssm-proxy's one-line reason matching PATTERN (grep -E) on stderr.
fault_scp_fails() {
  local name=$1 dir=$2 pat=$3 t0 t1 rc line
  : >"$FAULT_ERR"
  t0=$(e2e_now)
  rc=0
  if [ "$dir" = up ]; then
    fault_scp "$E2E_DIR/local/up.bin" "$E2E_INSTANCE:$FAULT_REMOTE/up.bin" || rc=$?
  else
    fault_scp "$E2E_INSTANCE:$FAULT_REMOTE/down.bin" "$E2E_DIR/local/down.bin" || rc=$?
  fi
  t1=$(e2e_now)
  [ "$rc" -ne 0 ] || e2e_fail "$name: scp $dir succeeded, want a failure"
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || e2e_fail "$name: scp $dir hung (killed after $FAULT_DEADLINE s)"
  line=$(grep -E "^ssm-proxy: .*($pat)" "$FAULT_ERR" | head -n 1 || true)
  [ -n "$line" ] || { cat "$FAULT_ERR" >&2; e2e_fail "$name: no ssm-proxy line matching '$pat'"; }
  e2e_check_sanitizers "$FAULT_ERR"
  e2e_log "fault table: $name | ${FAULT_MIB} MiB $dir | fails as designed: $line |" \
    "$(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f s", e - s }')"
}

# fault_proxy_args ARGS...: extra ssm-proxy options for the next scp calls.
fault_proxy_args() {
  E2E_PROXY_ARGS="$*"
  e2e_write_ssh_config
}
