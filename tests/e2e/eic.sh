#!/usr/bin/env bash
# eic.sh: EC2 Instance Connect key push (--push-key). An Ed25519 key that
# exists only in a test ssh-agent is refused by sshd until ssm-proxy pushes
# it with SendSSHPublicKey; then ssh logs in with it (the target sshd's
# AuthorizedKeysCommand prints the keys the fake region recorded, valid
# 60 s). Also --key FILE.pub, --push-key with --via eice, and one clean
# error line each for: no agent, an agent with only ECDSA, no --user,
# AccessDenied, an instance without Instance Connect, an unknown instance.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_SSHD_EXTRA="AuthorizedKeysCommand /bin/sh $tests_dir/fake/eic-authorized-keys $E2E_DIR/region %u
AuthorizedKeysCommandUser $(id -un)"
e2e_start_sshd
e2e_start_region --eic --no-eic i-0aaaaaaaaaaaaaaaa
export AWS_ENDPOINT_URL_EC2="https://127.0.0.1:$E2E_REGION_PORT"
export AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT="https://127.0.0.1:$E2E_REGION_PORT"
err=$E2E_ERR
host=$E2E_INSTANCE
user=$(id -un)

# A test agent holding a key whose private half is then deleted from disk.
eval "$(ssh-agent -s -a "$E2E_DIR/agent.sock")" >/dev/null
e2e_track "$SSH_AGENT_PID"
ssh-keygen -q -t ed25519 -N '' -C eic-agent-key -f "$E2E_DIR/agentkey" </dev/null
ssh-add -q "$E2E_DIR/agentkey" 2>/dev/null
rm -f "$E2E_DIR/agentkey"

# ssh_config for one proxy command; the identity is the agent's key (its
# .pub names it, IdentitiesOnly keeps every other key out).
write_cfg() { # FILE PROXY-ARGS IDENTITY
  cat >"$1" <<CFG
Host i-* mi-*
    ProxyCommand $E2E_PROXY $2 %h %p
    User $user
    IdentityFile $3
    IdentitiesOnly yes
    IdentityAgent $SSH_AUTH_SOCK
    UserKnownHostsFile $E2E_DIR/known_hosts
    StrictHostKeyChecking accept-new
    BatchMode yes
    LogLevel ERROR
CFG
}
write_cfg "$E2E_DIR/cfg_nopush" "" "$E2E_DIR/agentkey.pub"
write_cfg "$E2E_DIR/cfg_push" "--push-key --user %r" "$E2E_DIR/agentkey.pub"
write_cfg "$E2E_DIR/cfg_eice" "--push-key --user %r --via eice" "$E2E_DIR/agentkey.pub"

# Without a push the agent's key is not authorized anywhere.
if ssh -F "$E2E_DIR/cfg_nopush" "$host" true 2>>"$err"; then
  e2e_fail "the agent key logged in without a push"
fi

out=$(ssh -F "$E2E_DIR/cfg_push" "$host" echo pushed-ok 2>>"$err") || e2e_fail "ssh --push-key exited $?"
[ "$out" = "pushed-ok" ] || e2e_fail "ssh --push-key printed '$out'"
grep -q "^SendSSHPublicKey 200 $host $user ssh-ed25519" "$E2E_REGION_DIR/api.log" ||
  e2e_fail "no SendSSHPublicKey for $user in api.log"
grep -q "ssh-ed25519 .* eic-agent-key\$" "$E2E_REGION_DIR/eic-keys" ||
  e2e_fail "the pushed key is not the agent's"
e2e_log "push from ssh-agent: ok"

# --key FILE.pub: a key on disk instead of the agent's.
ssh-keygen -q -t rsa -b 3072 -N '' -C eic-file-key -f "$E2E_DIR/filekey" </dev/null
write_cfg "$E2E_DIR/cfg_file" "--push-key --user %r --key $E2E_DIR/filekey.pub" "$E2E_DIR/filekey"
out=$(SSH_AUTH_SOCK='' ssh -F "$E2E_DIR/cfg_file" -o IdentityAgent=none "$host" echo file-ok 2>>"$err") ||
  e2e_fail "ssh --key exited $?"
[ "$out" = "file-ok" ] || e2e_fail "ssh --key printed '$out'"
grep -q "eic-file-key\$" "$E2E_REGION_DIR/eic-keys" || e2e_fail "the rsa file key was not pushed"
e2e_log "push from --key FILE.pub (rsa 3072): ok"

# Push, then connect through the EIC Endpoint instead of Session Manager.
out=$(ssh -F "$E2E_DIR/cfg_eice" "$host" echo eice-push-ok 2>>"$err") || e2e_fail "ssh --push-key --via eice exited $?"
[ "$out" = "eice-push-ok" ] || e2e_fail "ssh --push-key --via eice printed '$out'"
e2e_log "push + --via eice: ok"

# expect_error NAME PATTERN COMMAND...: the proxy fails at once (exit 255)
# with one line on stderr matching PATTERN.
expect_error() {
  local name=$1 pat=$2 rc=0
  shift 2
  "$@" </dev/null >"$E2E_DIR/out" 2>"$E2E_DIR/stderr" || rc=$?
  cat "$E2E_DIR/stderr" >>"$err"
  [ "$rc" -eq 255 ] || e2e_fail "$name: exit $rc, want 255 ($(cat "$E2E_DIR/stderr"))"
  [ ! -s "$E2E_DIR/out" ] || e2e_fail "$name: wrote to stdout"
  [ "$(wc -l <"$E2E_DIR/stderr")" -eq 1 ] || e2e_fail "$name: not one line: $(cat "$E2E_DIR/stderr")"
  grep -Eq -- "$pat" "$E2E_DIR/stderr" || e2e_fail "$name: '$(cat "$E2E_DIR/stderr")' does not match '$pat'"
  e2e_log "$name: $(cat "$E2E_DIR/stderr")"
}

expect_error "no agent" "no ssh-agent \(SSH_AUTH_SOCK is not set\)" \
  env -u SSH_AUTH_SOCK "$E2E_PROXY" --push-key --user "$user" "$host" 22
expect_error "agent gone" "cannot reach ssh-agent" \
  env SSH_AUTH_SOCK="$E2E_DIR/no-such.sock" "$E2E_PROXY" --push-key --user "$user" "$host" 22

# An agent with only an ECDSA key: EC2 refuses those, so nothing is sent.
ssh-keygen -q -t ecdsa -N '' -f "$E2E_DIR/ecdsakey" </dev/null
ecdsa_agent=$(ssh-agent -s -a "$E2E_DIR/ecdsa.sock")
ecdsa_pid=$(printf '%s\n' "$ecdsa_agent" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
e2e_track "$ecdsa_pid"
SSH_AUTH_SOCK="$E2E_DIR/ecdsa.sock" ssh-add -q "$E2E_DIR/ecdsakey" 2>/dev/null
pushes=$(grep -c '^SendSSHPublicKey' "$E2E_REGION_DIR/api.log")
expect_error "ecdsa only" "no key EC2 Instance Connect accepts \(it has ecdsa-sha2-nistp256" \
  env SSH_AUTH_SOCK="$E2E_DIR/ecdsa.sock" "$E2E_PROXY" --push-key --user "$user" "$host" 22
expect_error "ecdsa file" "ecdsa-sha2-nistp256 keys are not accepted" \
  "$E2E_PROXY" --push-key --user "$user" --key "$E2E_DIR/ecdsakey.pub" "$host" 22
expect_error "private key file" "is a private key" \
  "$E2E_PROXY" --push-key --user "$user" --key "$E2E_DIR/ecdsakey" "$host" 22
[ "$(grep -c '^SendSSHPublicKey' "$E2E_REGION_DIR/api.log")" -eq "$pushes" ] ||
  e2e_fail "an unusable key was sent to the service"

expect_error "no user" "--push-key needs --user" "$E2E_PROXY" --push-key "$host" 22
expect_error "no instance connect" "EC2InstanceUnavailableException.*cannot use EC2 Instance Connect" \
  "$E2E_PROXY" --push-key --user "$user" i-0aaaaaaaaaaaaaaaa 22
expect_error "unknown instance" "EC2InstanceNotFoundException" \
  "$E2E_PROXY" --push-key --user "$user" i-00000000000000000 22

e2e_check_sanitizers "$E2E_REGION_DIR/log" # before the next region replaces it
# AccessDenied needs a region that denies the call.
e2e_start_region --eic --deny SendSSHPublicKey
export AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT="https://127.0.0.1:$E2E_REGION_PORT"
expect_error "access denied" "AccessDeniedException.*ec2-instance-connect:SendSSHPublicKey" \
  "$E2E_PROXY" --push-key --user "$user" "$host" 22

e2e_check_violations
e2e_log "ok"
