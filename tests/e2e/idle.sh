#!/usr/bin/env bash
# idle.sh: a session survives 30 s without traffic. Two sessions run side
# by side: one whose remote command sleeps 30 s before it answers, one that
# sends its second command after 30 s of silence on the same connection.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
host=$E2E_INSTANCE
idle=30
# No ssh keepalives either: the path itself must stay up through the silence.
quiet_ssh="$E2E_SSH -o ServerAliveInterval=0"

$quiet_ssh "$host" "sleep $idle; echo done" >"$E2E_DIR/a.out" 2>>"$err" &
a=$!
e2e_track "$a"
{ echo 'echo first'; sleep "$idle"; echo 'echo second'; } |
  $quiet_ssh "$host" sh >"$E2E_DIR/b.out" 2>>"$err" &
b=$!
e2e_track "$b"

rc=0; wait "$a" || rc=$?
[ "$rc" -eq 0 ] || e2e_fail "ssh 'sleep $idle; echo done' exited $rc"
[ "$(cat "$E2E_DIR/a.out")" = "done" ] || e2e_fail "after the remote idle got '$(cat "$E2E_DIR/a.out")'"
rc=0; wait "$b" || rc=$?
[ "$rc" -eq 0 ] || e2e_fail "session with a $idle s pause between commands exited $rc"
[ "$(cat "$E2E_DIR/b.out")" = "$(printf 'first\nsecond')" ] ||
  e2e_fail "session with a pause printed '$(cat "$E2E_DIR/b.out")'"

# A new session works right after.
out=$($E2E_SSH "$host" echo after 2>>"$err") || e2e_fail "ssh after the idle sessions exited $?"
[ "$out" = after ] || e2e_fail "echo after idle gave '$out'"

e2e_check_violations
e2e_log "ok"
