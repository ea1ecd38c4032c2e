#!/usr/bin/env bash
# scp.sh: 64 MiB up and down with scp (OpenSSH's default SFTP protocol)
# through ssm-proxy, compared by SHA-256; a smaller copy with the legacy
# scp protocol (-O) too. Logs the throughput next to direct TCP to the same
# sshd for comparison (informational only).
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
e2e_write_direct_ssh_config
err=$E2E_ERR
host=$E2E_INSTANCE
size=$(( 64 * 1024 * 1024 ))
remote=$E2E_DIR/remote
mkdir -p "$remote" "$E2E_DIR/local"

head -c "$size" /dev/urandom >"$E2E_DIR/local/up.bin"
head -c "$size" /dev/urandom >"$remote/down.bin"
up_sha=$(e2e_sha "$E2E_DIR/local/up.bin")
down_sha=$(e2e_sha "$remote/down.bin")

# copy LABEL CONFIG SRC DST WANT_SHA [scp options]: one timed scp, checked.
copy() {
  local label=$1 cfg=$2 src=$3 dst=$4 want=$5 t0 t1 got
  shift 5
  rm -f "${dst#*:}"
  t0=$(e2e_now)
  scp -q -F "$cfg" "$@" "$src" "$dst" 2>>"$err" || e2e_fail "scp $label exited $?"
  t1=$(e2e_now)
  got=$(e2e_sha "${dst#*:}")
  [ "$got" = "$want" ] || e2e_fail "scp $label: sha256 $got, want $want"
  e2e_log "scp $label: $(e2e_rate "$(stat -c %s "${dst#*:}")" "$t0" "$t1")"
}

copy "up via proxy" "$E2E_SSH_CONFIG" "$E2E_DIR/local/up.bin" "$host:$remote/up.bin" "$up_sha"
copy "down via proxy" "$E2E_SSH_CONFIG" "$host:$remote/down.bin" "$E2E_DIR/local/down.bin" "$down_sha"

head -c $(( 4 * 1024 * 1024 )) /dev/urandom >"$E2E_DIR/local/small.bin"
small_sha=$(e2e_sha "$E2E_DIR/local/small.bin")
copy "-O up via proxy" "$E2E_SSH_CONFIG" "$E2E_DIR/local/small.bin" "$host:$remote/small.bin" "$small_sha" -O
copy "-O down via proxy" "$E2E_SSH_CONFIG" "$host:$remote/small.bin" "$E2E_DIR/local/small2.bin" "$small_sha" -O

if [ -z "${E2E_DIRECT:-}" ]; then
  copy "up direct tcp" "$E2E_SSH_DIRECT_CONFIG" "$E2E_DIR/local/up.bin" "$host:$remote/up.bin" "$up_sha"
  copy "down direct tcp" "$E2E_SSH_DIRECT_CONFIG" "$host:$remote/down.bin" "$E2E_DIR/local/down.bin" "$down_sha"
fi

e2e_check_violations
e2e_log "ok"
