#!/usr/bin/env bash
# basic.sh: ssh through ssm-proxy runs commands: true, echo, stdin and
# stderr passing, exit status propagation; the ssh_config snippet a user
# writes (ssm-proxy found on PATH) works for i- and mi- ids; a malformed
# instance id fails with the proxy's message.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
host=$E2E_INSTANCE

$E2E_SSH "$host" true 2>>"$err" || e2e_fail "ssh $host true exited $?"

out=$($E2E_SSH "$host" echo hello world 2>>"$err") || e2e_fail "ssh echo exited $?"
[ "$out" = "hello world" ] || e2e_fail "echo gave '$out'"

rc=0; $E2E_SSH "$host" 'exit 7' 2>>"$err" || rc=$?
[ "$rc" -eq 7 ] || e2e_fail "remote 'exit 7' gave ssh exit status $rc"
rc=0; $E2E_SSH "$host" false 2>>"$err" || rc=$?
[ "$rc" -eq 1 ] || e2e_fail "remote false gave ssh exit status $rc"

# stdout and stderr stay apart.
out=$($E2E_SSH "$host" 'echo to-out; echo to-err >&2' 2>"$E2E_DIR/stderr1") ||
  e2e_fail "ssh with stderr exited $?"
[ "$out" = "to-out" ] || e2e_fail "stdout was '$out'"
grep -qx 'to-err' "$E2E_DIR/stderr1" || e2e_fail "remote stderr line missing"
cat "$E2E_DIR/stderr1" >>"$err"

# stdin reaches the remote command, binary-safe, and EOF is passed on.
head -c 1048576 /dev/urandom >"$E2E_DIR/in.bin"
want=$(e2e_sha "$E2E_DIR/in.bin")
got=$($E2E_SSH "$host" sha256sum <"$E2E_DIR/in.bin" 2>>"$err" | cut -d' ' -f1) ||
  e2e_fail "ssh sha256sum exited $?"
[ "$got" = "$want" ] || e2e_fail "stdin sha256 $got, sent $want"
$E2E_SSH "$host" cat <"$E2E_DIR/in.bin" >"$E2E_DIR/echo.bin" 2>>"$err" || e2e_fail "ssh cat exited $?"
cmp -s "$E2E_DIR/in.bin" "$E2E_DIR/echo.bin" || e2e_fail "1 MiB echoed through cat differs"

# The snippet from the documentation, with ssm-proxy looked up on PATH; the
# rest of the file only keeps the test away from the user's own keys.
if [ -z "${E2E_DIRECT:-}" ]; then
  cat >"$E2E_DIR/user_config" <<CFG
Host i-* mi-*
    ProxyCommand ssm-proxy %h %p

Host *
    User $(id -un)
    IdentityFile $E2E_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $E2E_DIR/known_hosts_user
    StrictHostKeyChecking accept-new
    BatchMode yes
    LogLevel ERROR
CFG
  for id in i-0123456789abcdef0 mi-0123456789abcdef0 i-0abc1234; do
    PATH="$(dirname "$E2E_PROXY"):$PATH" ssh -F "$E2E_DIR/user_config" "$id" true 2>>"$err" ||
      e2e_fail "user snippet: ssh -F config $id true exited $?"
  done

  # The snippet file shipped for Include; its known-hosts file is redirected
  # on the command line, which takes precedence, to keep the test's keys apart.
  shipped="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/ssh_config.d/ssm-proxy.conf"
  if [ -f "$shipped" ]; then
    { echo "Include $shipped"; sed -n '/^Host \*$/,$p' "$E2E_DIR/user_config"; } >"$E2E_DIR/include_config"
    PATH="$(dirname "$E2E_PROXY"):$PATH" ssh -F "$E2E_DIR/include_config" \
      -o UserKnownHostsFile="$E2E_DIR/known_hosts_include" "$host" true 2>>"$err" ||
      e2e_fail "shipped snippet: ssh with 'Include ssm-proxy.conf' exited $?"
  fi

  rc=0
  ssh -F "$E2E_SSH_CONFIG" i-notanid true 2>"$E2E_DIR/bad.err" || rc=$?
  [ "$rc" -ne 0 ] || e2e_fail "ssh to a malformed instance id succeeded"
  grep -q 'not an instance id' "$E2E_DIR/bad.err" ||
    e2e_fail "no 'not an instance id' message for i-notanid: $(cat "$E2E_DIR/bad.err")"
fi

e2e_check_violations
e2e_log "ok"
