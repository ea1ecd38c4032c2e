#!/usr/bin/env bash
# resolve.sh: instances reached by name, tag, address and qualifiers through
# real ssh, with the shipped ssh_config snippet (ssm-proxy on PATH): "ssh -G"
# shows which hosts the Match exec block and the Host block claim, real
# connections prove both, scp splits "Role=bastion:path" right, the cache
# saves the lookup on the second run, and errors name what was searched.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
[ -z "${E2E_DIRECT:-}" ] || { echo "resolve.sh: needs the proxy; skipped with E2E_DIRECT"; exit 0; }
e2e_setup
e2e_start_sshd
e2e_start_region --inventory "$SSMP_TESTS_DIR/data/resolve/inventory.json"
err=$E2E_DIR/ssh.err
top=$(cd "$SSMP_TESTS_DIR/.." && pwd)
export AWS_ENDPOINT_URL_EC2=$AWS_ENDPOINT_URL_SSM
export XDG_CACHE_HOME=$E2E_DIR/cache
export PATH="$(dirname "$E2E_PROXY"):$PATH"
api_count() { cat "$E2E_REGION_DIR/api.log" 2>/dev/null | grep -c "^$1" || true; }

# A profile for the PROFILE qualifier (same keys: the fake knows one pair).
cat >"$E2E_DIR/aws_config" <<CFG
[profile other]
region = us-east-1
CFG
cat >"$E2E_DIR/aws_credentials" <<CFG
[other]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
CFG
export AWS_CONFIG_FILE=$E2E_DIR/aws_config AWS_SHARED_CREDENTIALS_FILE=$E2E_DIR/aws_credentials

# The user's config: test-only settings first (first value wins), then the snippet.
test_settings() {
  cat <<CFG
Host *
    User $(id -un)
    IdentityFile $E2E_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $E2E_DIR/known_hosts_user
    StrictHostKeyChecking no
    BatchMode yes
    LogLevel ERROR
CFG
}
{ test_settings; echo "Include $top/ssh_config.d/ssm-proxy.conf"; } >"$E2E_DIR/match_config"
# The alternative: the snippet's Host block alone.
{ test_settings; sed '/^Match exec/,$d' "$top/ssh_config.d/ssm-proxy.conf"; } >"$E2E_DIR/ids_config"
grep -q '^Host i-\* mi-\*' "$E2E_DIR/ids_config" || e2e_fail "no Host block in the snippet"

proxied() { # config host: 0 if ssh -G gives host a ProxyCommand through ssm-proxy
  ssh -G -F "$1" "$2" 2>/dev/null | grep -qx 'proxycommand ssm-proxy %h %p'
}
for h in i-0123456789abcdef0 mi-0123456789abcdef0 web-1 Role=bastion 10.0.9.9 \
         web-1.eu-west-1 10.1.3.7.eu-west-1 web-1.ap-southeast-2.other app.prod.us-east-1; do
  proxied "$E2E_DIR/match_config" "$h" || e2e_fail "Match exec snippet: ssh -G $h has no ProxyCommand"
done
for h in github.com localhost 8.8.8.8 127.0.0.1 www.eu-west-1.example x.eu-west-1.nosuch; do
  ! proxied "$E2E_DIR/match_config" "$h" || e2e_fail "Match exec snippet claims $h"
done
proxied "$E2E_DIR/ids_config" i-0123456789abcdef0 || e2e_fail "Host snippet: no ProxyCommand for an id"
! proxied "$E2E_DIR/ids_config" web-1 || e2e_fail "Host snippet claims web-1"
ssh -G -F "$E2E_DIR/match_config" web-1 | grep -qx 'serveraliveinterval 20' ||
  e2e_fail "snippet does not set ServerAliveInterval"

SSH="ssh -F $E2E_DIR/match_config"
started() { api_count "StartSession 200 $1"; }

# Every host form, through real ssh; each must reach its own instance id.
check_form() { # host instance-id
  local before after
  before=$(started "$2")
  out=$($SSH "$1" echo via-ssm 2>>"$err") || e2e_fail "ssh $1 exited $?: $(tail -3 "$err")"
  [ "$out" = via-ssm ] || e2e_fail "ssh $1 printed '$out'"
  after=$(started "$2")
  [ "$after" -gt "$before" ] || e2e_fail "ssh $1 did not start a session on $2"
}
check_form web-1 i-0123456789abcdef0
check_form 10.0.3.7 i-0123456789abcdef0
check_form Role=bastion i-0aaaaaaaaaaaaaaa9
check_form web-1.eu-west-1 i-0bbbbbbbbbbbbbbb1
check_form 10.1.3.7.eu-west-1 i-0bbbbbbbbbbbbbbb1
check_form web-1.ap-southeast-2.other i-0ccccccccccccccc1
check_form web-caps i-0aaaaaaaaaaaaaaa7
check_form api i-0aaaaaaaaaaaaaaa2
check_form i-0123456789abcdef0 i-0123456789abcdef0
$E2E_SSH i-0123456789abcdef0 true 2>>"$err" || e2e_fail "the generated config stopped working"

# The Host-only alternative reaches ids.
ssh -F "$E2E_DIR/ids_config" i-0123456789abcdef0 true 2>>"$err" ||
  e2e_fail "Host snippet: ssh to an id exited $?"

# scp and rsync split "TAG=VALUE:path" at the colon.
echo "resolve-scp" >"$E2E_DIR/local.txt"
scp -q -F "$E2E_DIR/match_config" "$E2E_DIR/local.txt" "Role=bastion:$E2E_DIR/remote.txt" 2>>"$err" ||
  e2e_fail "scp to Role=bastion: exited $?"
cmp -s "$E2E_DIR/local.txt" "$E2E_DIR/remote.txt" || e2e_fail "scp copy differs"
if command -v rsync >/dev/null; then
  rsync -q -e "ssh -F $E2E_DIR/match_config" "web-2:$E2E_DIR/remote.txt" "$E2E_DIR/back.txt" 2>>"$err" ||
    e2e_fail "rsync from web-2: exited $?"
  cmp -s "$E2E_DIR/local.txt" "$E2E_DIR/back.txt" || e2e_fail "rsync copy differs"
fi

# The cache: a name looked up once costs no lookup the next time.
rm -rf "$XDG_CACHE_HOME"
n0=$(api_count DescribeInstances)
$SSH bastion true 2>>"$err" || e2e_fail "ssh bastion exited $?"
n1=$(api_count DescribeInstances)
[ "$n1" -gt "$n0" ] || e2e_fail "first ssh bastion made no lookup"
$SSH bastion true 2>>"$err" || e2e_fail "second ssh bastion exited $?"
n2=$(api_count DescribeInstances)
[ "$n2" -eq "$n1" ] || e2e_fail "second ssh bastion looked up again ($n1 -> $n2 calls)"
[ "$(stat -c %a "$XDG_CACHE_HOME/ssm-proxy")" = 700 ] || e2e_fail "cache directory not 0700"
for f in "$XDG_CACHE_HOME"/ssm-proxy/*; do
  [ "$(stat -c %a "$f")" = 600 ] || e2e_fail "cache file $f not 0600"
done
[ "$(ssm-proxy --no-cache --resolve bastion)" = i-0aaaaaaaaaaaaaaa9 ] || e2e_fail "--resolve bastion"
n3=$(api_count DescribeInstances)
[ "$n3" -gt "$n2" ] || e2e_fail "--no-cache still used the cache"

# --resolve: the id first, details with -v, no session.
s0=$(api_count StartSession)
out=$(ssm-proxy -v --resolve web-1.eu-west-1 2>/dev/null) || e2e_fail "--resolve -v exited $?"
[ "$(head -1 <<<"$out")" = i-0bbbbbbbbbbbbbbb1 ] || e2e_fail "--resolve -v first line: $out"
for want in "region eu-west-1" "profile default" "name web-1" "private-ip 10.1.3.7" "ping Online"; do
  grep -qx "$want" <<<"$out" || e2e_fail "--resolve -v lacks '$want': $out"
done
[ "$(api_count StartSession)" -eq "$s0" ] || e2e_fail "--resolve started a session"

# Failures say what was searched where, and why.
expect_fail() { # host needle
  local rc=0
  $SSH "$1" true 2>"$E2E_DIR/fail.err" || rc=$?
  [ "$rc" -eq 255 ] || e2e_fail "ssh $1 exited $rc, want 255"
  grep -qF "$2" "$E2E_DIR/fail.err" || e2e_fail "ssh $1: no '$2' in: $(cat "$E2E_DIR/fail.err")"
  cat "$E2E_DIR/fail.err" >>"$err"
}
expect_fail db "i-0aaaaaaaaaaaaaaa4 (db, 10.0.5.1, running, Online)"
expect_fail old-box "i-0aaaaaaaaaaaaaaa6 (old-box) is stopped"
expect_fail nothere "no running instance has tag Name=nothere in us-east-1 (profile default)"
expect_fail web-9.eu-west-1 "i-0bbbbbbbbbbbbbbb2 (web-9) is stopped"

# --match is a pure function of the name: time it (reported, not asserted).
runs=200; [ "${SSMP_SANITIZED:-0}" = 1 ] && runs=20
t0=$(e2e_now)
for _ in $(seq "$runs"); do ssm-proxy --match web-1; done
t1=$(e2e_now)
e2e_log "$(awk -v n="$runs" -v s="$t0" -v e="$t1" 'BEGIN { printf "--match: %d runs, %.2f ms each", n, (e - s) * 1000 / n }')"

e2e_check_sanitizers "$err"
e2e_check_violations
e2e_log "ok"
