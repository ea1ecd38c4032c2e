#!/usr/bin/env bash
# eice.sh: the EC2 Instance Connect Endpoint transport (--via eice): ssh and
# scp through the fake region's openTunnel websocket (SigV4 query-signed,
# raw binary frames), the endpoint choice (same VPC, same subnet first,
# paged answers, --eice-id, FIPS names), and one clean error line each
# for: an instance without an endpoint, a wrong or unusable --eice-id,
# AccessDenied on DescribeInstances and on the tunnel, an unknown instance.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
E2E_PROXY_ARGS="--via eice"
e2e_start_region --eic --no-eic i-0aaaaaaaaaaaaaaaa
export AWS_ENDPOINT_URL_EC2="https://127.0.0.1:$E2E_REGION_PORT"
err=$E2E_ERR
host=$E2E_INSTANCE
size=$(( 16 * 1024 * 1024 ))
[ "${SSMP_SANITIZED:-0}" = 1 ] && size=$(( 4 * 1024 * 1024 ))

out=$($E2E_SSH "$host" echo eice-ok 2>>"$err") || e2e_fail "ssh --via eice exited $?"
[ "$out" = "eice-ok" ] || e2e_fail "ssh --via eice printed '$out'"
# The endpoint in the instance's own subnet wins; the answers came in pages.
grep -q "^OpenTunnel 101 eice-0eic0000000000002\$" "$E2E_REGION_DIR/api.log" ||
  e2e_fail "the tunnel did not go through eice-0eic0000000000002"
[ "$(grep -c '^DescribeInstanceConnectEndpoints 200' "$E2E_REGION_DIR/api.log")" -ge 2 ] ||
  e2e_fail "the endpoint list was not paged through"
grep -q '^StartSession' "$E2E_REGION_DIR/api.log" && e2e_fail "--via eice called StartSession"
e2e_log "ssh via eice: ok"

# scp both ways, compared by SHA-256.
mkdir -p "$E2E_DIR/remote" "$E2E_DIR/local"
head -c "$size" /dev/urandom >"$E2E_DIR/local/up.bin"
want=$(e2e_sha "$E2E_DIR/local/up.bin")
t0=$(e2e_now)
scp -q -F "$E2E_SSH_CONFIG" "$E2E_DIR/local/up.bin" "$host:$E2E_DIR/remote/up.bin" 2>>"$err" ||
  e2e_fail "scp up exited $?"
t1=$(e2e_now)
[ "$(e2e_sha "$E2E_DIR/remote/up.bin")" = "$want" ] || e2e_fail "scp up: sha256 differs"
e2e_log "scp up via eice: $(e2e_rate "$size" "$t0" "$t1")"
t0=$(e2e_now)
scp -q -F "$E2E_SSH_CONFIG" "$host:$E2E_DIR/remote/up.bin" "$E2E_DIR/local/down.bin" 2>>"$err" ||
  e2e_fail "scp down exited $?"
t1=$(e2e_now)
[ "$(e2e_sha "$E2E_DIR/local/down.bin")" = "$want" ] || e2e_fail "scp down: sha256 differs"
e2e_log "scp down via eice: $(e2e_rate "$size" "$t0" "$t1")"

# --eice-id picks another usable endpoint of the VPC.
out=$(ssh -F "$E2E_SSH_CONFIG" -o "ProxyCommand=$E2E_PROXY --via eice --eice-id eice-0eic0000000000001 %h %p" \
  "$host" echo id-ok 2>>"$err") || e2e_fail "ssh --eice-id exited $?"
[ "$out" = "id-ok" ] || e2e_fail "ssh --eice-id printed '$out'"
grep -q "^OpenTunnel 101 eice-0eic0000000000001\$" "$E2E_REGION_DIR/api.log" ||
  e2e_fail "--eice-id was not used"
# FIPS: the endpoint's fipsDnsName (localhost:<port> in the fake).
out=$(AWS_USE_FIPS_ENDPOINT=true $E2E_SSH "$host" echo fips-ok 2>>"$err") || e2e_fail "ssh with FIPS exited $?"
[ "$out" = "fips-ok" ] || e2e_fail "ssh with FIPS printed '$out'"
AWS_USE_FIPS_ENDPOINT=true "$E2E_PROXY" -vv --via eice "$host" 22 </dev/null 2>"$E2E_DIR/fips.err" >/dev/null || true
grep -q "(subnet-0eic00000000000a1, localhost:$E2E_REGION_PORT)" "$E2E_DIR/fips.err" ||
  e2e_fail "FIPS did not use fipsDnsName: $(cat "$E2E_DIR/fips.err")"
e2e_log "--eice-id and FIPS: ok"

[ "$(e2e_region_stat eice_violations)" -eq 0 ] || e2e_fail "the fake endpoint counted violations"
[ "$(e2e_region_stat eice_tunnels)" -ge 6 ] || e2e_fail "fewer tunnels than connections"

# expect_error NAME PATTERN ARGS...: the proxy fails (exit 255) with one
# line on stderr matching PATTERN and nothing on stdout.
expect_error() {
  local name=$1 pat=$2 rc=0
  shift 2
  "$E2E_PROXY" "$@" </dev/null >"$E2E_DIR/out" 2>"$E2E_DIR/stderr" || rc=$?
  cat "$E2E_DIR/stderr" >>"$err"
  [ "$rc" -eq 255 ] || e2e_fail "$name: exit $rc, want 255 ($(cat "$E2E_DIR/stderr"))"
  [ ! -s "$E2E_DIR/out" ] || e2e_fail "$name: wrote to stdout"
  [ "$(wc -l <"$E2E_DIR/stderr")" -eq 1 ] || e2e_fail "$name: not one line: $(cat "$E2E_DIR/stderr")"
  grep -Eq -- "$pat" "$E2E_DIR/stderr" || e2e_fail "$name: '$(cat "$E2E_DIR/stderr")' does not match '$pat'"
  e2e_log "$name: $(cat "$E2E_DIR/stderr")"
}

expect_error "no endpoint" "no usable EC2 Instance Connect Endpoint in vpc-0eic0000000000009" \
  --via eice i-0aaaaaaaaaaaaaaaa 22
expect_error "endpoint in another vpc" "eice-0eic0000000000004 is in vpc-0eic0000000000002" \
  --via eice --eice-id eice-0eic0000000000004 "$host" 22
expect_error "endpoint not ready" "eice-0eic0000000000003 is delete-in-progress" \
  --via eice --eice-id eice-0eic0000000000003 "$host" 22
expect_error "no such endpoint" "no EC2 Instance Connect Endpoint eice-0eic00000000000ff" \
  --via eice --eice-id eice-0eic00000000000ff "$host" 22
expect_error "unknown instance" "InvalidInstanceID.NotFound" --via eice i-00000000000000000 22
expect_error "eice-id without via" "--eice-id goes with --via eice" --eice-id eice-1 "$host" 22
expect_error "managed node" "EC2 instances \(i-...\) only" --via eice mi-0123456789abcdef0 22

e2e_check_sanitizers "$E2E_REGION_DIR/log" # before the next region replaces it
e2e_start_region --eic --deny DescribeInstances
export AWS_ENDPOINT_URL_EC2="https://127.0.0.1:$E2E_REGION_PORT"
expect_error "describe denied" "UnauthorizedOperation.*ec2:DescribeInstances" --via eice "$host" 22
e2e_start_region --eic --deny OpenTunnel
export AWS_ENDPOINT_URL_EC2="https://127.0.0.1:$E2E_REGION_PORT"
expect_error "tunnel denied" "access denied.*ec2-instance-connect:OpenTunnel.*403" --via eice "$host" 22

e2e_check_sanitizers "$err"
e2e_check_sanitizers "$E2E_REGION_DIR/log"
e2e_log "ok"
