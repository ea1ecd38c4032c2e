#!/usr/bin/env bash
# creds_role.sh: assumed roles through ssm-proxy against the fake STS: a
# chain of three roles from static keys (each AssumeRole signed by the
# previous role, StartSession by the last), the on-disk cache skipping STS
# on the next connection, credential_source Environment, external_id and
# role_session_name, a loop in the chain, a denied role; precedence of
# environment keys over a role profile; nothing secret in any -vvv output.
set -euo pipefail
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/credslib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
creds_setup

cat >"$AWS_SHARED_CREDENTIALS_FILE" <<CFG
[base]
aws_access_key_id = $STATIC_AK
aws_secret_access_key = $STATIC_SK
CFG
cat >"$AWS_CONFIG_FILE" <<CFG
[profile one]
role_arn = arn:aws:iam::123456789012:role/one
source_profile = base

[profile two]
role_arn = arn:aws:iam::123456789012:role/two
source_profile = one
role_session_name = two-session

[profile three]
role_arn = arn:aws:iam::123456789012:role/three
source_profile = two
duration_seconds = 1800

[profile fromenv]
role_arn = arn:aws:iam::123456789012:role/fromenv-external
credential_source = Environment
external_id = fake-external-id

[profile loopa]
role_arn = arn:aws:iam::123456789012:role/a
source_profile = loopb

[profile loopb]
role_arn = arn:aws:iam::123456789012:role/b
source_profile = loopa

[profile denied]
role_arn = arn:aws:iam::123456789012:role/denied
source_profile = base
CFG

# A chain of three: base -> one -> two -> three.
AWS_PROFILE=three creds_ok chain3
[ "$(creds_count '^AssumeRole 200')" -eq 3 ] ||
  e2e_fail "a chain of three made $(creds_count '^AssumeRole 200') AssumeRole calls, not 3"
grep -q '^AssumeRole 200 arn:aws:iam::123456789012:role/two two-session ' "$E2E_REGION_DIR/api.log" ||
  e2e_fail "role_session_name not sent"
grep -q '^AssumeRole 200 arn:aws:iam::123456789012:role/three .* 1800$' "$E2E_REGION_DIR/api.log" ||
  e2e_fail "duration_seconds not sent"
# Each link is signed by the one before; StartSession by the last.
k1=$(awk '$1 == "AssumeRole" && $3 ~ /role\/one$/ {print $5}' "$E2E_REGION_DIR/api.log" | head -1)
k3=$(awk '$1 == "AssumeRole" && $3 ~ /role\/three$/ {print $5}' "$E2E_REGION_DIR/api.log" | head -1)
grep -q "^SignedBy $k1 AssumeRole" "$E2E_REGION_DIR/api.log" ||
  e2e_fail "role two was not assumed with role one's key"
[ "$(creds_signer)" = "$k3" ] || e2e_fail "StartSession signed by $(creds_signer), not role three's $k3"
grep -q 'credentials from assumed role (profile three)' "$CREDS_LAST" ||
  e2e_fail "-v does not name the source"
f=$(ls "$HOME/.aws/cli/cache/"*.json 2>/dev/null | head -1)
[ -n "$f" ] || e2e_fail "nothing cached"
[ "$(stat -c %a "$f")" = 600 ] || e2e_fail "cache file mode $(stat -c %a "$f"), not 600"

# The cache: the next connection does not call STS.
n=$(creds_count '^AssumeRole ')
AWS_PROFILE=three creds_ok cached
[ "$(creds_count '^AssumeRole ')" -eq "$n" ] || e2e_fail "the second connection called STS again"
grep -q 'assumed role (profile three), cached' "$CREDS_LAST" || e2e_fail "-v does not say cached"
[ "$(creds_signer)" = "$k3" ] || e2e_fail "the cached credentials did not sign StartSession"
# --no-cache ... is a resolve option; the credential cache is skipped by a fresh HOME.

# credential_source Environment with external_id: --profile skips the
# environment provider, and the role's source is the environment's keys.
AWS_ACCESS_KEY_ID=$STATIC_AK AWS_SECRET_ACCESS_KEY=$STATIC_SK \
  creds_ok fromenv -o "ProxyCommand=$E2E_PROXY -vvv --profile fromenv %h %p"
grep -q '^AssumeRole 200 arn:aws:iam::123456789012:role/fromenv-external ' "$E2E_REGION_DIR/api.log" ||
  e2e_fail "credential_source Environment with external_id failed"
case $(creds_signer) in ASIASTS*) ;; *) e2e_fail "fromenv: StartSession not signed by the role" ;; esac

# Precedence: environment keys beat AWS_PROFILE's role (botocore's order).
n=$(creds_count '^SignedBy .* StartSession$')
AWS_PROFILE=three AWS_ACCESS_KEY_ID=$STATIC_AK AWS_SECRET_ACCESS_KEY=$STATIC_SK creds_ok envfirst
[ "$(creds_count '^SignedBy .* StartSession$')" -eq "$n" ] ||
  e2e_fail "AWS_PROFILE's role was used although environment keys are set"
grep -q 'credentials from environment' "$CREDS_LAST" || e2e_fail "envfirst: source not environment"

# A loop, a denied role, a missing source profile.
AWS_PROFILE=loopa creds_fails loop 'role profiles form a loop: loopa -> loopb -> loopa'
AWS_PROFILE=denied creds_fails denied 'AccessDenied'

creds_check_leaks
e2e_check_violations
e2e_log "ok"
