# lib.sh: shared helpers for the end-to-end scripts and the demo.
# Source it; then call e2e_setup, e2e_start_sshd, e2e_start_region [fault
# switches], and use "$E2E_SSH" (ssh -F <generated config>). Every service
# binds 127.0.0.1 on a free port and is stopped by PID on exit.
# E2E_PROXY / E2E_FAKE name other ssm-proxy / fakeregion binaries; E2E_DIRECT=1
# runs a script against sshd alone (no proxy) to check the script itself.
# E2E_SSHD_EXTRA holds more sshd_config lines for e2e_start_sshd.

: "${SSMP_BUILD_DIR:?set SSMP_BUILD_DIR to the CMake build directory}"
E2E_PROXY=${E2E_PROXY:-"$SSMP_BUILD_DIR/ssm-proxy"}
E2E_FAKE=${E2E_FAKE:-"$SSMP_BUILD_DIR/tests/fakeregion"}
E2E_PIDS=()
E2E_INSTANCE=i-0123456789abcdef0

e2e_log() { printf '%s: %s\n' "${E2E_NAME:-e2e}" "$*" >&2; }
e2e_fail() { e2e_log "FAIL: $*"; e2e_dump_logs; exit 1; }

# Shows the end of every log the test collected, for a failure's context.
e2e_dump_logs() {
  local f
  [ -n "${E2E_DIR:-}" ] || return 0
  for f in "$E2E_DIR/ssh.err" "${E2E_REGION_DIR:-$E2E_DIR/region}/log" "$E2E_DIR/sshd/log"; do
    [ -s "$f" ] || continue
    printf '%s: --- last lines of %s\n' "${E2E_NAME:-e2e}" "${f#"$E2E_DIR"/}" >&2
    tail -n 30 "$f" >&2
  done
  return 0
}

e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A session process the region forked may still be writing its last
  # lines as its parent goes: try again after it has had a moment.
  if [ -n "${E2E_DIR:-}" ] && [ -z "${E2E_KEEP:-}" ]; then
    rm -rf "$E2E_DIR" 2>/dev/null || { sleep 0.5; rm -rf "$E2E_DIR"; }
  fi
  return 0
}

e2e_setup() {
  E2E_NAME=${E2E_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
  E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ssm-proxy-e2e.XXXXXX")
  E2E_ERR="$E2E_DIR/ssh.err" # where scripts collect ssh's (and so the proxy's) stderr
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
  # Keep the user's own AWS and ssh configuration out of the tests.
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL HTTPS_PROXY https_proxy
  unset SSL_CERT_FILE SSL_CERT_DIR
  # The credential chain ends with instance metadata (169.254.169.254): stay on loopback.
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ACCESS_KEY_ID=AKIDFAKEREGION
  export AWS_SECRET_ACCESS_KEY=fakeregion/secret/key/for/tests/only0000
  export AWS_REGION=us-east-1
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now, outside
# the kernel's ephemeral range: a port from that range can be handed to some
# outgoing connection (or to a server binding port 0) between this probe and
# the caller's bind, which then fails with "Address already in use".
e2e_free_port() {
  local p i lo=32768 hi=60999 base=20000 span=40000
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ "$lo" -ge 12024 ]; then
    base=10000 span=$(( lo - 10000 ))
  elif [ "$hi" -le 63535 ]; then
    base=$(( hi + 1 )) span=$(( 65535 - hi ))
  fi
  for i in $(seq 1 200); do
    p=$(( base + (RANDOM * 32768 + RANDOM) % span ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

e2e_wait_port() { # port, seconds
  local i
  for i in $(seq 1 $(( $2 * 20 ))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

e2e_start_sshd() {
  local d="$E2E_DIR/sshd" try
  mkdir -p "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" </dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$E2E_DIR/id_ed25519" </dev/null
  cp "$E2E_DIR/id_ed25519.pub" "$d/authorized_keys"
  [ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
  for try in 1 2 3 4 5; do
    E2E_SSHD_PORT=$(e2e_free_port)
    cat >"$d/sshd_config" <<CFG
Port $E2E_SSHD_PORT
ListenAddress 127.0.0.1
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel ERROR
${E2E_SSHD_EXTRA:-}
CFG
    /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/log" &
    E2E_SSHD_PID=$!
    E2E_PIDS+=("$E2E_SSHD_PID")
    if e2e_wait_port "$E2E_SSHD_PORT" 5 && kill -0 "$E2E_SSHD_PID" 2>/dev/null; then
      return 0
    fi
    kill "$E2E_SSHD_PID" 2>/dev/null || true
  done
  cat "$d/log" >&2
  e2e_fail "sshd did not start"
}

# e2e_start_region [fault switches...]: the fake region, targeting sshd.
e2e_start_region() {
  local d="$E2E_DIR/region" i
  if [ -n "${E2E_DIRECT:-}" ]; then
    # Checks a script's own logic against sshd alone: no region, no proxy.
    e2e_write_direct_ssh_config
    E2E_SSH_CONFIG=$E2E_SSH_DIRECT_CONFIG E2E_SSH=$E2E_SSH_DIRECT
    return 0
  fi
  # A region started before (same state directory) goes first; its session
  # processes may still be writing their last lines there for a moment.
  if [ -n "${E2E_REGION_PID:-}" ] && kill -0 "$E2E_REGION_PID" 2>/dev/null; then
    kill "$E2E_REGION_PID" 2>/dev/null || true
    wait "$E2E_REGION_PID" 2>/dev/null || true
  fi
  rm -rf "$d" 2>/dev/null || { sleep 0.5; rm -rf "$d"; }
  mkdir -p "$d"
  "$E2E_FAKE" --state-dir "$d" --target "127.0.0.1:${E2E_TARGET_PORT:-$E2E_SSHD_PORT}" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$@" 2>>"$d/log" &
  E2E_REGION_PID=$!
  E2E_PIDS+=("$E2E_REGION_PID")
  for i in $(seq 1 200); do
    [ -s "$d/port" ] && break
    kill -0 "$E2E_REGION_PID" 2>/dev/null || { cat "$d/log" >&2; e2e_fail "fake region exited"; }
    sleep 0.05
  done
  [ -s "$d/port" ] || e2e_fail "fake region did not start"
  E2E_REGION_PORT=$(cat "$d/port")
  E2E_REGION_DIR=$d
  export AWS_ENDPOINT_URL_SSM="https://127.0.0.1:$E2E_REGION_PORT"
  export AWS_CA_BUNDLE="$d/ca.pem"
  e2e_write_ssh_config
}

e2e_write_ssh_config() {
  E2E_SSH_CONFIG="$E2E_DIR/ssh_config"
  cat >"$E2E_SSH_CONFIG" <<CFG
Host i-* mi-*
    ProxyCommand $E2E_PROXY ${E2E_PROXY_ARGS:-} %h %p
    User $(id -un)
    IdentityFile $E2E_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $E2E_DIR/known_hosts
    StrictHostKeyChecking accept-new
    BatchMode yes
    LogLevel ERROR
    ServerAliveInterval 30
CFG
  E2E_SSH="ssh -F $E2E_SSH_CONFIG"
}

# Fails unless the fake agent saw zero protocol violations.
# First waits for this test's proxies to exit and the sessions' agents to
# end (they count their violations when they end, a moment after the client
# went away), and fails on sanitizer reports in $E2E_ERR or the region's log.
e2e_check_violations() {
  local f="${E2E_REGION_DIR:-}/violations" bad
  [ -n "${E2E_REGION_DIR:-}" ] || { e2e_check_sanitizers "$E2E_ERR"; return 0; }
  e2e_wait_proxies 30 || e2e_log "note: some ssm-proxy processes are still running"
  e2e_wait_sessions_ended 60 ||
    e2e_log "note: not every session had ended; checking the violations counted so far"
  e2e_check_sanitizers "$E2E_ERR"
  e2e_check_sanitizers "$E2E_REGION_DIR/log"
  # A clean run leaves the proxy silent at its default level; show it if not.
  if [ -f "$E2E_ERR" ] && grep -q '^ssm-proxy:' "$E2E_ERR"; then
    grep '^ssm-proxy:' "$E2E_ERR" | sort | uniq -c | sort -rn | head -5 |
      while read -r n line; do e2e_log "note: ${n}x $line"; done
  fi
  [ -f "$f" ] || return 0
  bad=$(awk '$2 != 0' "$f")
  [ -z "$bad" ] || e2e_fail "fake region counted protocol violations: $bad"
}

e2e_sha() { sha256sum "$1" | cut -d' ' -f1; }

# e2e_track PID...: these background processes are stopped on exit too.
e2e_track() { E2E_PIDS+=("$@"); }

# The same ssh settings as e2e_write_ssh_config but straight to sshd over
# TCP (HostName/Port, no ProxyCommand): the baseline a test compares the
# proxied path with. Sets E2E_SSH_DIRECT_CONFIG and E2E_SSH_DIRECT.
e2e_write_direct_ssh_config() {
  E2E_SSH_DIRECT_CONFIG="$E2E_DIR/ssh_config_direct"
  cat >"$E2E_SSH_DIRECT_CONFIG" <<CFG
Host i-* mi-*
    HostName 127.0.0.1
    Port $E2E_SSHD_PORT
    User $(id -un)
    IdentityFile $E2E_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $E2E_DIR/known_hosts_direct
    StrictHostKeyChecking accept-new
    BatchMode yes
    LogLevel ERROR
CFG
  E2E_SSH_DIRECT="ssh -F $E2E_SSH_DIRECT_CONFIG"
}

# Fails if file (a captured stderr or log) holds a sanitizer report.
e2e_check_sanitizers() {
  local f=$1
  [ -f "$f" ] || return 0
  if grep -Eq 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f"; then
    grep -E -A20 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f" | head -60 >&2
    e2e_fail "sanitizer report in $(basename "$f")"
  fi
  return 0
}

# e2e_wait_file FILE SECONDS: waits until FILE exists and is not empty.
e2e_wait_file() {
  local i
  for i in $(seq 1 $(( $2 * 20 ))); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

# Seconds since the epoch with fractions, for throughput reports only.
e2e_now() { date +%s.%N; }

# e2e_rate BYTES START END: prints "N.N MB/s" (decimal megabytes).
e2e_rate() {
  awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN {
    d = e - s; if (d <= 0) d = 0.001; printf "%.1f MB/s (%.2f s)", b / 1e6 / d, d }'
}

# e2e_harness NAME: prints the path of test program NAME (tests/harness/NAME.c),
# built by CMake, or else compiled here into the test directory.
e2e_harness() {
  local name=$1 src bin
  bin="$SSMP_BUILD_DIR/tests/$name"
  if [ -x "$bin" ]; then echo "$bin"; return 0; fi
  src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/harness/$name.c"
  bin="$E2E_DIR/$name"
  # shellcheck disable=SC2046 # pkg-config prints several words on purpose
  cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$bin" "$src" \
    $(pkg-config --cflags --libs libssh libcrypto) >&2 || e2e_fail "cannot build $name"
  echo "$bin"
}

# e2e_region_stat NAME: a counter from the fake region's stats file (0 if absent).
e2e_region_stat() {
  [ -f "$E2E_REGION_DIR/stats" ] || { echo 0; return 0; }
  awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }' "$E2E_REGION_DIR/stats"
}

# e2e_wait_sessions_ended SECONDS: waits until every started session's agent
# has ended (agents count the data-channel violations as they end), then
# briefly for the gateways' counts of websockets that ended with them (a
# websocket cut without a close, as in the blackhole faults, never reports).
# Returns 1 if an agent was still running after SECONDS.
e2e_wait_sessions_ended() {
  local i lines
  for i in $(seq 1 $(( $1 * 10 ))); do
    [ "$(e2e_region_stat agent_sessions)" -ge "$(e2e_region_stat sessions_started)" ] && break
    [ "$i" -eq $(( $1 * 10 )) ] && return 1
    sleep 0.1
  done
  for i in $(seq 1 50); do
    lines=0
    [ -f "$E2E_REGION_DIR/violations" ] && lines=$(wc -l <"$E2E_REGION_DIR/violations")
    [ "$lines" -ge $(( $(e2e_region_stat agent_sessions) + $(e2e_region_stat data_channels) )) ] &&
      return 0
    sleep 0.1
  done
  return 0
}

# e2e_wait_proxies SECONDS: waits until no ssm-proxy talking to this test's
# region runs any more (ssh does not wait for its ProxyCommand to exit, and
# a sanitizer build reports leaks only at exit). Returns 1 on timeout.
e2e_wait_proxies() {
  local i pid busy want="AWS_ENDPOINT_URL_SSM=${AWS_ENDPOINT_URL_SSM:-}"
  for i in $(seq 1 $(( $1 * 10 ))); do
    busy=
    for pid in $(pidof "$E2E_PROXY" 2>/dev/null); do
      tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "$want" && busy=1 && break
    done
    [ -z "$busy" ] && return 0
    sleep 0.1
  done
  return 1
}
