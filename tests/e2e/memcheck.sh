#!/usr/bin/env bash
# memcheck.sh: the end-to-end ssh test with ssm-proxy under valgrind
# memcheck: commands, stdin/stdout both ways, an scp, and a failing start
# (TargetNotConnected), each with no memory errors and no definite or
# indirect leaks. Skipped in the sanitizer build (valgrind cannot run
# AddressSanitizer binaries) and when valgrind is not installed.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
if [ "${SSMP_SANITIZED:-0}" = 1 ]; then
  echo "memcheck: skipped in the sanitizer build" >&2; exit 0
fi
if ! command -v valgrind >/dev/null; then
  echo "memcheck: skipped: valgrind is not installed (tests/install-deps)" >&2; exit 0
fi
e2e_setup
real_proxy=$E2E_PROXY
vgdir="$E2E_DIR/valgrind"
mkdir -p "$vgdir"
# ssh runs this wrapper as the ProxyCommand: each run gets its own log and
# leaves its exit status next to it.
E2E_PROXY="$E2E_DIR/proxy-under-valgrind"
cat >"$E2E_PROXY" <<SH
#!/bin/sh
n=\$\$
valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \\
  --track-origins=yes --num-callers=30 --log-file="$vgdir/run.\$n.log" \\
  "$real_proxy" "\$@"
rc=\$?
echo \$rc >"$vgdir/run.\$n.rc"
exit \$rc
SH
chmod +x "$E2E_PROXY"
e2e_start_sshd
e2e_start_region --offline i-0fedcba9876543210
err="$E2E_DIR/ssh.err"
host=$E2E_INSTANCE

$E2E_SSH "$host" true 2>>"$err" || e2e_fail "ssh $host true exited $?"
out=$($E2E_SSH "$host" echo hello 2>>"$err") || e2e_fail "ssh echo exited $?"
[ "$out" = hello ] || e2e_fail "echo gave '$out'"
head -c 1048576 /dev/urandom >"$E2E_DIR/in.bin"
$E2E_SSH "$host" cat <"$E2E_DIR/in.bin" >"$E2E_DIR/echo.bin" 2>>"$err" || e2e_fail "ssh cat exited $?"
cmp -s "$E2E_DIR/in.bin" "$E2E_DIR/echo.bin" || e2e_fail "1 MiB echoed through cat differs"
head -c 4194304 /dev/urandom >"$E2E_DIR/up.bin"
scp -q -F "$E2E_SSH_CONFIG" "$E2E_DIR/up.bin" "$host:$E2E_DIR/up.copy" 2>>"$err" ||
  e2e_fail "scp upload exited $?"
[ "$(e2e_sha "$E2E_DIR/up.bin")" = "$(e2e_sha "$E2E_DIR/up.copy")" ] || e2e_fail "scp copy differs"

# A failing start must free everything too, and still exit 255.
rc=0
$E2E_SSH i-0fedcba9876543210 true 2>"$E2E_DIR/offline.err" || rc=$?
[ "$rc" -eq 255 ] || e2e_fail "ssh to an offline instance exited $rc, not 255"
grep -q TargetNotConnected "$E2E_DIR/offline.err" || e2e_fail "no TargetNotConnected message"

# Every run: valgrind's own verdict, then its summary lines.
runs=0
for log in "$vgdir"/run.*.log; do
  [ -e "$log" ] || continue
  runs=$((runs + 1))
  rcf="${log%.log}.rc"
  rc=$(cat "$rcf" 2>/dev/null || echo missing)
  if [ "$rc" = 99 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$log" ||
     grep -Eq '(definitely|indirectly) lost: [1-9]' "$log"; then
    sed -n '/Invalid\|uninitialised\|definitely lost\|indirectly lost\|ERROR SUMMARY/,+12p' "$log" | head -80 >&2
    e2e_fail "valgrind found errors or leaks in $(basename "$log") (exit status $rc)"
  fi
done
[ "$runs" -ge 5 ] || e2e_fail "expected at least 5 ssm-proxy runs under valgrind, saw $runs"
e2e_check_violations
e2e_log "ok: $runs ssm-proxy runs under valgrind memcheck, no errors, no leaks"
