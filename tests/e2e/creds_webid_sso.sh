#!/usr/bin/env bash
# creds_webid_sso.sh: web identity (environment and profile forms) and SSO
# (sso-session and legacy forms) through ssm-proxy against the fake STS and
# SSO portal: the right provider signs StartSession, the cache skips the
# second call, a bad web identity token and an expired or missing SSO token
# fail with the message to act on; nothing secret in any -vvv output.
set -euo pipefail
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/credslib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
creds_setup

echo "fake-oidc-token-for-tests" >"$E2E_DIR/oidc-token"
echo "not-a-valid-token" >"$E2E_DIR/bad-token"
cat >"$AWS_CONFIG_FILE" <<CFG
[profile webid]
role_arn = arn:aws:iam::123456789012:role/webid-profile
web_identity_token_file = $E2E_DIR/oidc-token

[profile sso-new]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[profile sso-legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 210987654321
sso_role_name = ReadOnly

[profile sso-expired]
sso_session = expired
sso_account_id = 123456789012
sso_role_name = Admin

[sso-session expired]
sso_start_url = https://expired.awsapps.com/start
sso_region = us-east-1

[profile sso-missing]
sso_start_url = https://never-logged-in.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Admin
CFG

# Web identity from the environment (unsigned AssumeRoleWithWebIdentity).
AWS_WEB_IDENTITY_TOKEN_FILE=$E2E_DIR/oidc-token AWS_ROLE_ARN=arn:aws:iam::123456789012:role/webid-env \
  AWS_ROLE_SESSION_NAME=envsession creds_ok webid-env
grep -q '^AssumeRoleWithWebIdentity 200 arn:aws:iam::123456789012:role/webid-env envsession ASIAWEB' \
  "$E2E_REGION_DIR/api.log" || e2e_fail "no AssumeRoleWithWebIdentity for the environment's role"
case $(creds_signer) in ASIAWEB*) ;; *) e2e_fail "webid-env: StartSession signed by $(creds_signer)" ;; esac
grep -q 'credentials from web identity (AWS_WEB_IDENTITY_TOKEN_FILE)' "$CREDS_LAST" ||
  e2e_fail "-v does not name web identity"
n=$(creds_count '^AssumeRoleWithWebIdentity ')
AWS_WEB_IDENTITY_TOKEN_FILE=$E2E_DIR/oidc-token AWS_ROLE_ARN=arn:aws:iam::123456789012:role/webid-env \
  AWS_ROLE_SESSION_NAME=envsession creds_ok webid-cached
[ "$(creds_count '^AssumeRoleWithWebIdentity ')" -eq "$n" ] || e2e_fail "web identity not cached"

# Web identity from the profile; a token STS refuses.
AWS_PROFILE=webid creds_ok webid-profile
grep -q '^AssumeRoleWithWebIdentity 200 arn:aws:iam::123456789012:role/webid-profile ' \
  "$E2E_REGION_DIR/api.log" || e2e_fail "no AssumeRoleWithWebIdentity for the profile's role"
AWS_WEB_IDENTITY_TOKEN_FILE=$E2E_DIR/bad-token AWS_ROLE_ARN=arn:aws:iam::123456789012:role/webid-bad \
  creds_fails webid-bad 'InvalidIdentityToken'

# SSO: tokens as "aws sso login" caches them (file named by SHA-1 of the
# session name, or of the start URL in the legacy form).
mkdir -p "$HOME/.aws/sso/cache"
later=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
earlier=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
sso_token() { # key accessToken expiresAt
  local f
  f="$HOME/.aws/sso/cache/$(printf '%s' "$1" | sha1sum | cut -d' ' -f1).json"
  printf '{"startUrl": "x", "region": "us-east-1", "accessToken": "%s", "expiresAt": "%s"}\n' \
    "$2" "$3" >"$f"
  echo "$2" >>"$E2E_DIR/sso-secrets"
}
sso_token corp fake-sso-token-corp-0001 "$later"
sso_token https://legacy.awsapps.com/start fake-sso-token-legacy-0002 "$later"
sso_token expired fake-sso-token-expired-0003 "$earlier"

AWS_PROFILE=sso-new creds_ok sso-new
grep -q '^GetRoleCredentials 200 123456789012/Admin ASIASSO' "$E2E_REGION_DIR/api.log" ||
  e2e_fail "no GetRoleCredentials for the sso-session profile"
case $(creds_signer) in ASIASSO*) ;; *) e2e_fail "sso-new: StartSession signed by $(creds_signer)" ;; esac
grep -q 'credentials from SSO (profile sso-new)' "$CREDS_LAST" || e2e_fail "-v does not name SSO"
n=$(creds_count '^GetRoleCredentials ')
AWS_PROFILE=sso-new creds_ok sso-cached
[ "$(creds_count '^GetRoleCredentials ')" -eq "$n" ] || e2e_fail "SSO credentials not cached"

AWS_PROFILE=sso-legacy creds_ok sso-legacy
grep -q '^GetRoleCredentials 200 210987654321/ReadOnly ASIASSO' "$E2E_REGION_DIR/api.log" ||
  e2e_fail "no GetRoleCredentials for the legacy SSO profile"

AWS_PROFILE=sso-expired creds_fails sso-expired \
  "SSO session has expired: run 'aws sso login --profile sso-expired'"
AWS_PROFILE=sso-missing creds_fails sso-missing "run 'aws sso login --profile sso-missing'"

creds_check_leaks "$E2E_DIR/sso-secrets"
e2e_check_violations
e2e_log "ok"
