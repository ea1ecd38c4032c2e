#!/usr/bin/env bash
# forward.sh: port forwarding through ssm-proxy. One ssh -N holds a local
# forward (-L) and a remote forward (-R), both to the sshd port; the test
# reads the SSH banner through the local forward with bash /dev/tcp, then
# runs nested ssh sessions through each forward (several at once through
# -L), moving data both ways and comparing SHA-256.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
e2e_write_direct_ssh_config
err=$E2E_ERR
host=$E2E_INSTANCE

# start_forward: one ssh -N holding both forwards on fresh free ports; 1 if
# it did not come up (e.g. another program took a port in the meantime).
start_forward() {
  local i
  lp=$(e2e_free_port)
  rp=$(e2e_free_port)
  while [ "$rp" = "$lp" ]; do rp=$(e2e_free_port); done
  $E2E_SSH -N -o ExitOnForwardFailure=yes \
    -L "127.0.0.1:$lp:127.0.0.1:$E2E_SSHD_PORT" -R "127.0.0.1:$rp:127.0.0.1:$E2E_SSHD_PORT" \
    "$host" 2>>"$err" &
  fwd=$!
  e2e_track "$fwd"
  for i in $(seq 1 1200); do
    kill -0 "$fwd" 2>/dev/null || return 1
    # Each successful probe is one forwarded connection: probe rp until it
    # is up (the remote forward comes last), then lp once.
    if (exec 3<>"/dev/tcp/127.0.0.1/$rp") 2>/dev/null; then
      (exec 3<>"/dev/tcp/127.0.0.1/$lp") 2>/dev/null && return 0
    fi
    sleep 0.05
  done
  return 1
}
ok=
for try in 1 2 3; do
  start_forward && { ok=1; break; }
  kill "$fwd" 2>/dev/null || true
  wait "$fwd" 2>/dev/null || true
  e2e_log "forwarding ssh did not come up (try $try)"
done
[ -n "$ok" ] || e2e_fail "ssh -N -L/-R never opened its ports"

# The server's banner arrives through the forward.
exec 3<>"/dev/tcp/127.0.0.1/$lp"
banner=
IFS= read -r -t 60 banner <&3 || true
exec 3<&- 3>&-
case $banner in
  SSH-2.0-*) ;;
  *) e2e_fail "banner through -L was '$banner'" ;;
esac

# nested PORT TAG: a second ssh over the forward on PORT sends 8 MiB up,
# has the server hash it, and reads it back; both hashes must match.
nested() {
  local port=$1 tag=$2 f="$E2E_DIR/$2" want got
  head -c 8388608 /dev/urandom >"$f.in"
  want=$(e2e_sha "$f.in")
  got=$(ssh -F "$E2E_SSH_DIRECT_CONFIG" -o Port="$port" "$host" \
        "cat > '$f.remote' && sha256sum < '$f.remote'" <"$f.in" 2>>"$err" | cut -d' ' -f1) ||
    { echo "ssh exited $?" >"$f.fail"; return 0; }
  [ "$got" = "$want" ] || { echo "upload sha256 $got, want $want" >"$f.fail"; return 0; }
  ssh -F "$E2E_SSH_DIRECT_CONFIG" -o Port="$port" "$host" "cat '$f.remote'" >"$f.back" 2>>"$err" ||
    { echo "download ssh exited $?" >"$f.fail"; return 0; }
  cmp -s "$f.in" "$f.back" || echo "downloaded copy differs" >"$f.fail"
}

pids=()
for i in 1 2 3; do
  nested "$lp" "L$i" &
  pids+=("$!")
done
e2e_track "${pids[@]}"
for p in "${pids[@]}"; do wait "$p"; done
nested "$rp" R1
for f in L1 L2 L3 R1; do
  [ ! -e "$E2E_DIR/$f.fail" ] || e2e_fail "nested ssh $f: $(cat "$E2E_DIR/$f.fail")"
done

kill -0 "$fwd" 2>/dev/null || e2e_fail "the forwarding ssh died"
kill "$fwd"
wait "$fwd" 2>/dev/null || true

e2e_check_violations
e2e_log "ok"
