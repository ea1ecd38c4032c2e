#!/usr/bin/env bash
# libssh.sh: a libssh client (tests/harness/libssh_check.c) reaches sshd
# with SSH_OPTIONS_PROXYCOMMAND "ssm-proxy %h %p": host key, key auth, exec
# channels with output and exit status, 16 MiB each way by SHA-256, two
# channels at once. The proxy runs under a small shell that records its
# exit status, which must be 0 once the client has disconnected.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
check=$(e2e_harness libssh_check)
status=$E2E_DIR/proxy.status
mkdir -p "$E2E_DIR/work"

if [ -n "${E2E_DIRECT:-}" ]; then
  # A plain TCP relay in place of the proxy, to check the harness itself.
  proxy="$E2E_DIR/tcp-relay"
  cat >"$proxy" <<SH
#!/usr/bin/env bash
exec 3<>/dev/tcp/127.0.0.1/$E2E_SSHD_PORT
cat <&3 &
down=\$!
exec 4<&0
cat >&3 <&4 4<&- &
up=\$!
trap 'kill \$up \$down 2>/dev/null; exit 0' TERM HUP INT
wait \$up
wait \$down
SH
  chmod +x "$proxy"
else
  proxy=$E2E_PROXY
fi

# libssh ends its proxy command with SIGTERM when it disconnects (the
# proxy's stdin may never see end of input: the child keeps a copy of the
# client's socket). This shell passes the signal on and records the proxy's
# own exit status, which must be 0: a signal is a normal end for it.
cat >"$E2E_DIR/proxy-wrap" <<SH
#!/bin/sh
# An asynchronous command's stdin is /dev/null unless given: keep ours on 3.
exec 3<&0
"$proxy" ${E2E_PROXY_ARGS:-} "\$@" <&3 3<&- 2>>"$err" &
child=\$!
trap 'kill -TERM \$child 2>/dev/null' TERM HUP INT
wait \$child
rc=\$?
# wait returns early when a trapped signal arrives; the second one reaps.
while kill -0 \$child 2>/dev/null; do wait \$child; rc=\$?; done
echo \$rc >"$status"
SH
chmod +x "$E2E_DIR/proxy-wrap"

rc=0
timeout -k 10 600 "$check" --host "$E2E_INSTANCE" --port 22 --user "$(id -un)" --identity "$E2E_DIR/id_ed25519" \
  --host-key "$E2E_DIR/sshd/host_key.pub" --workdir "$E2E_DIR/work" \
  --proxy-command "$E2E_DIR/proxy-wrap %h %p" 2>>"$err" || rc=$?
[ "$rc" -eq 0 ] || e2e_fail "libssh checks failed (exit status $rc)"

e2e_wait_file "$status" 60 || e2e_fail "the proxy did not exit after the client disconnected"
[ "$(cat "$status")" = 0 ] || e2e_fail "the proxy exited with status $(cat "$status")"

e2e_check_violations
e2e_log "ok"
