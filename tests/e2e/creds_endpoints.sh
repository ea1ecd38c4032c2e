#!/usr/bin/env bash
# creds_endpoints.sh: endpoints and trust from the profile, clock skew and
# the PrivateLink data-channel override, through ssm-proxy:
#  - the fake's clock runs an hour ahead (--clock-skew): the first signed
#    call is refused as expired, corrected from the Date header and retried;
#  - its StreamUrl names a dead port (--public-port): the data channel only
#    works through AWS_ENDPOINT_URL_SSMMESSAGES / --ssmmessages-endpoint;
#  - the SSM endpoint from the profile's services section and the CA bundle
#    from its ca_bundle (no AWS_CA_BUNDLE) serve the API and the websocket;
#  - nothing secret in any -vvv output.
set -euo pipefail
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/credslib.sh"
e2e_setup
e2e_start_sshd
dead=$(e2e_free_port)
e2e_start_region --clock-skew 3600 --public-port "$dead"
creds_setup
real="https://127.0.0.1:$E2E_REGION_PORT"

cat >"$AWS_SHARED_CREDENTIALS_FILE" <<CFG
[default]
aws_access_key_id = $STATIC_AK
aws_secret_access_key = $STATIC_SK
CFG

# The StreamUrl's own host is dead: without the override the channel fails.
creds_fails no-override 'cannot|failed|refused' \
  -o "ProxyCommand=$E2E_PROXY -vvv --resume-timeout 0 %h %p"
AWS_ENDPOINT_URL_SSMMESSAGES=$real creds_ok env-override
grep -q "websocket: connecting to wss://127.0.0.1:$E2E_REGION_PORT/" "$CREDS_LAST" ||
  e2e_fail "the data channel did not go to AWS_ENDPOINT_URL_SSMMESSAGES"
creds_ok opt-override -o "ProxyCommand=$E2E_PROXY -vvv --ssmmessages-endpoint $real %h %p"

# Clock skew: refused once, corrected from Date, retried (every run above too).
grep -Eq 'the local clock is -?[0-9]+ s off' "$CREDS_LAST" || e2e_fail "no clock-skew correction"
[ "$(creds_count '^StartSession 400 InvalidSignatureException')" -ge 1 ] ||
  e2e_fail "the fake did not refuse the skewed signature"
[ "$(creds_count '^StartSession 200')" -ge 2 ] || e2e_fail "StartSession did not succeed after the retry"

# The services section and ca_bundle of the profile, no environment.
cat >"$AWS_CONFIG_FILE" <<CFG
[default]
services = fake-endpoints
ca_bundle = $E2E_REGION_DIR/ca.pem

[services fake-endpoints]
ssm =
  endpoint_url = $real
ssmmessages =
  endpoint_url = $real
CFG
env -u AWS_ENDPOINT_URL_SSM -u AWS_CA_BUNDLE bash -c "$(declare -f creds_ssh); E2E_SSH='$E2E_SSH' \
  E2E_INSTANCE=$E2E_INSTANCE E2E_DIR='$E2E_DIR' creds_ssh profile-endpoints" ||
  { cat "$E2E_DIR/out.profile-endpoints" >&2; e2e_fail "profile services section / ca_bundle failed"; }

creds_check_leaks
# The no-override session never got its data channel, so the agents'
# violation count would wait for it: check the proxies' outputs instead.
e2e_wait_proxies 30 || e2e_log "note: some ssm-proxy processes are still running"
for f in "$E2E_DIR"/out.*; do e2e_check_sanitizers "$f"; done
e2e_check_sanitizers "$E2E_REGION_DIR/log"
e2e_log "ok"
