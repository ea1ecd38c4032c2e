# credslib.sh: helpers for the credential provider scripts (tests/e2e/creds_*.sh).
# Source after lib.sh and call creds_setup after e2e_start_region: HOME and the
# AWS files move into the test directory, the region's static keys leave the
# environment (they stay in STATIC_AK / STATIC_SK for profiles), STS and the SSO
# portal point at the fake region, and the proxy runs at -vvv so every path can
# be checked for leaked secrets with creds_check_leaks.

creds_setup() {
  export HOME="$E2E_DIR/home"
  mkdir -p "$HOME/.aws"
  export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
  : >"$AWS_CONFIG_FILE"
  : >"$AWS_SHARED_CREDENTIALS_FILE"
  STATIC_AK=$AWS_ACCESS_KEY_ID
  STATIC_SK=$AWS_SECRET_ACCESS_KEY
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE \
    AWS_ROLE_ARN AWS_ROLE_SESSION_NAME AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
    AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT
  # Only the metadata script turns the instance metadata provider back on.
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ENDPOINT_URL_STS="$AWS_ENDPOINT_URL_SSM" AWS_ENDPOINT_URL_SSO="$AWS_ENDPOINT_URL_SSM"
  E2E_PROXY_ARGS="-vvv ${E2E_PROXY_ARGS:-}"
  e2e_write_ssh_config
  CREDS_N=0
}

# creds_ssh NAME [ssh options...]: ssh to the instance, running true; the
# proxy's and ssh's output go to $E2E_DIR/out.NAME. Returns ssh's status.
creds_ssh() {
  local name=$1 rc=0
  shift
  CREDS_N=$((CREDS_N + 1))
  $E2E_SSH "$@" "$E2E_INSTANCE" true >"$E2E_DIR/out.$name" 2>&1 || rc=$?
  CREDS_LAST="$E2E_DIR/out.$name"
  return $rc
}

# creds_ok NAME [ssh options...]: creds_ssh that must succeed.
creds_ok() {
  creds_ssh "$@" || { cat "$CREDS_LAST" >&2; e2e_fail "$1: ssh failed"; }
}

# creds_fails NAME PATTERN [ssh options...]: ssh must fail and the output
# must hold PATTERN (grep -E).
creds_fails() {
  local name=$1 pat=$2
  shift 2
  if creds_ssh "$name" "$@"; then e2e_fail "$name: ssh succeeded"; fi
  grep -Eq -- "$pat" "$CREDS_LAST" || { cat "$CREDS_LAST" >&2; e2e_fail "$name: no '$pat'"; }
}

# creds_signer: the access key that signed the last StartSession.
creds_signer() {
  grep '^SignedBy .* StartSession$' "$E2E_REGION_DIR/api.log" | tail -n 1 | awk '{print $2}'
}

# creds_count PATTERN: api.log lines matching PATTERN (grep -E).
creds_count() {
  grep -Ec -- "$1" "$E2E_REGION_DIR/api.log" || true
}

# creds_check_leaks [more secret files...]: fails if any output of this test
# holds a secret key, session token or stream token the fake regions issued,
# or the static secret key.
creds_check_leaks() {
  local pats="$E2E_DIR/secret-patterns" f
  { cat "$E2E_REGION_DIR/secrets" "$@" 2>/dev/null; echo "$STATIC_SK"; } | grep -v '^$' | sort -u >"$pats"
  [ "$(wc -l <"$pats")" -ge 2 ] || e2e_fail "no secrets recorded by the fake region"
  for f in "$E2E_DIR"/out.*; do
    if grep -qF -f "$pats" "$f"; then
      e2e_fail "$(basename "$f") leaks a secret: $(grep -oF -f "$pats" "$f" | head -1 | cut -c1-8)..."
    fi
  done
  # The run was verbose enough to have anything to leak.
  grep -q 'credentials from' "$E2E_DIR"/out.* || e2e_fail "the proxy did not run at -vvv"
  e2e_log "no secret in $(ls "$E2E_DIR"/out.* | wc -l) outputs at -vvv ($(wc -l <"$pats") secrets checked)"
}
