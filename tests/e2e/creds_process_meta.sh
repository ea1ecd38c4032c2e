#!/usr/bin/env bash
# creds_process_meta.sh: credential_process (arguments split like the AWS
# CLI, no shell, stderr passed through, a failing process reported), the
# precedence of the credentials file over credential_process, container
# credentials (FULL_URI with an authorization token file) and IMDSv2 from a
# plain-HTTP fake on loopback, IMDS unreachable and disabled; each proven by
# the key that signed StartSession; nothing secret in any -vvv output.
set -euo pipefail
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/credslib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
creds_setup

read -r PAK PSK PTOK <"$E2E_REGION_DIR/process-creds"
# A credential process with arguments that need the CLI's splitting rules.
cat >"$E2E_DIR/cred proc.sh" <<SH
#!/bin/sh
[ "\$1" = "--label" ] && [ "\$2" = "two words" ] && [ "\$3" = "it's" ] || { echo "bad args: \$*" >&2; exit 9; }
echo "process says hello on stderr" >&2
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s", "Expiration": "%s"}\n' \
  "$PAK" "$PSK" "$PTOK" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
SH
cat >"$E2E_DIR/failing.sh" <<'SH'
#!/bin/sh
echo "token expired, log in again" >&2
exit 3
SH
chmod +x "$E2E_DIR/cred proc.sh" "$E2E_DIR/failing.sh"
cat >"$AWS_CONFIG_FILE" <<CFG
[profile proc]
credential_process = "$E2E_DIR/cred proc.sh" --label 'two words' "it's"

[profile procfail]
credential_process = $E2E_DIR/failing.sh --quiet

[profile both]
credential_process = $E2E_DIR/failing.sh

[profile roleproc]
role_arn = arn:aws:iam::123456789012:role/from-process
source_profile = proc
CFG
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<CFG
[both]
aws_access_key_id = $STATIC_AK
aws_secret_access_key = $STATIC_SK
CFG

AWS_PROFILE=proc creds_ok proc
[ "$(creds_signer)" = "$PAK" ] || e2e_fail "proc: StartSession signed by $(creds_signer), not $PAK"
grep -q 'process says hello on stderr' "$CREDS_LAST" || e2e_fail "the process's stderr was not passed on"
grep -q 'credentials from credential_process (profile proc)' "$CREDS_LAST" ||
  e2e_fail "-v does not name credential_process"
AWS_PROFILE=procfail creds_fails procfail "credential_process '.*failing.sh' exited with status 3"
grep -q 'token expired, log in again' "$CREDS_LAST" || e2e_fail "a failing process's stderr was lost"
# The credentials file comes before credential_process.
n=$(creds_count '^SignedBy .* StartSession$')
AWS_PROFILE=both creds_ok both
[ "$(creds_count '^SignedBy .* StartSession$')" -eq "$n" ] ||
  e2e_fail "credential_process used although the credentials file has keys"
# A role whose source profile uses credential_process.
AWS_PROFILE=roleproc creds_ok roleproc
grep -q "^SignedBy $PAK AssumeRole" "$E2E_REGION_DIR/api.log" ||
  e2e_fail "the role was not assumed with the process's keys"

# Credentials about to expire are renewed before each call needs them: a
# process whose keys live 200 s (inside the 5-minute margin) runs again
# before StartSession and before TerminateSession.
cat >"$E2E_DIR/short.sh" <<SH
#!/bin/sh
echo run >>"$E2E_DIR/short-runs"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s", "Expiration": "%s"}\n' \
  "$PAK" "$PSK" "$PTOK" "\$(date -u -d '+200 seconds' +%Y-%m-%dT%H:%M:%SZ)"
SH
chmod +x "$E2E_DIR/short.sh"
printf '[profile short]\ncredential_process = %s\n' "$E2E_DIR/short.sh" >>"$AWS_CONFIG_FILE"
# TerminateSession is skipped when the agent's channel_closed (the target hung
# up) beats our own end of input: expect the third run only if it was called.
t0=$(creds_count '^SignedBy .* TerminateSession$')
AWS_PROFILE=short creds_ok short
e2e_wait_proxies 30 || true
want=$(( 2 + $(creds_count '^SignedBy .* TerminateSession$') - t0 ))
runs=$(wc -l <"$E2E_DIR/short-runs")
[ "$runs" -ge "$want" ] ||
  e2e_fail "expiring credentials were resolved $runs times, not renewed before each call ($want)"
grep -q 'AWS credentials expire soon; refreshing' "$CREDS_LAST" || e2e_fail "-v does not say it refreshed"

# A plain-HTTP fake on loopback plays 169.254.169.254 and the ECS endpoint.
meta="$E2E_DIR/meta"
mkdir -p "$meta"
"$E2E_FAKE" --plain --state-dir "$meta" --target 127.0.0.1:9 2>>"$meta/log" &
e2e_track $!
e2e_wait_file "$meta/port" 10 || e2e_fail "the plain fake did not start"
mport=$(cat "$meta/port")

echo "fake-ecs-auth-token" >"$E2E_DIR/ecs-token"
AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$mport/v2/credentials/fake-task" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$E2E_DIR/ecs-token creds_ok ecs
[ "$(creds_signer)" = ASIAECS00000000001 ] || e2e_fail "ecs: StartSession signed by $(creds_signer)"
grep -q 'credentials from container credentials endpoint' "$CREDS_LAST" || e2e_fail "-v does not name ECS"
AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$mport/v2/credentials/fake-task" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong creds_fails ecs-badauth 'HTTP 401'

AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$mport" \
  creds_ok imds
[ "$(creds_signer)" = ASIAIMDS0000000001 ] || e2e_fail "imds: StartSession signed by $(creds_signer)"
grep -q 'credentials from instance metadata (IMDSv2)' "$CREDS_LAST" || e2e_fail "-v does not name IMDS"
grep -q '^ImdsToken 200' "$meta/api.log" || e2e_fail "no IMDSv2 token was requested"
# The region from instance metadata when nothing else names one.
AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$mport" \
  env -u AWS_REGION bash -c "$(declare -f creds_ssh); E2E_SSH='$E2E_SSH' E2E_INSTANCE=$E2E_INSTANCE \
  E2E_DIR='$E2E_DIR' creds_ssh imds-region" || e2e_fail "imds-region: ssh failed"
grep -q 'region us-east-1' "$E2E_DIR/out.imds-region" || e2e_fail "region not taken from IMDS"

# IMDS unreachable (nothing listens) and disabled: no credentials, quickly.
dead=$(e2e_free_port)
AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$dead" \
  creds_fails imds-dead 'no AWS credentials found'
grep -q "instance metadata at http://127.0.0.1:$dead not reachable within 1000 ms" "$CREDS_LAST" ||
  e2e_fail "-v does not say IMDS was unreachable"
creds_fails imds-disabled 'no AWS credentials found'
grep -q 'disabled by AWS_EC2_METADATA_DISABLED' "$CREDS_LAST" || e2e_fail "IMDS not disabled"

creds_check_leaks "$meta/secrets"
e2e_check_violations
e2e_log "ok"
