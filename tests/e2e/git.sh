#!/usr/bin/env bash
# git.sh: git push to, clone from, and pull from a bare repository over
# ssh through ssm-proxy (GIT_SSH_COMMAND="ssh -F config").
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
host=$E2E_INSTANCE

# Only the settings given here: no user or system git configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.com
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.com
export GIT_SSH_COMMAND="ssh -F $E2E_SSH_CONFIG"
bare=$E2E_DIR/server/repo.git
url="$host:$bare"
# g ARGS: runs git quietly; on failure shows its output and fails.
g() {
  local rc=0
  git "$@" >"$E2E_DIR/git.out" 2>&1 || rc=$?
  cat "$E2E_DIR/git.out" >>"$err"
  [ "$rc" -eq 0 ] || { cat "$E2E_DIR/git.out" >&2; e2e_fail "git $* exited $rc"; }
}

g init -q --bare -b main "$bare"
g init -q -b main "$E2E_DIR/w1"
cd "$E2E_DIR/w1"
mkdir -p src/deep
for i in $(seq 1 50); do printf 'line %d\n' "$i" >"src/f$i.txt"; done
head -c 2097152 /dev/urandom >src/deep/blob.bin
g add -A
g commit -q -m first
g remote add origin "$url"
g push -q -u origin main
[ "$(git ls-remote "$url" refs/heads/main 2>>"$err" | cut -f1)" = "$(git rev-parse HEAD)" ] ||
  e2e_fail "ls-remote does not show the pushed commit"

g clone -q "$url" "$E2E_DIR/w2"
[ "$(git -C "$E2E_DIR/w2" rev-parse HEAD)" = "$(git rev-parse HEAD)" ] || e2e_fail "clone has another HEAD"
diff -r --exclude=.git "$E2E_DIR/w1" "$E2E_DIR/w2" >/dev/null || e2e_fail "clone differs from the pushed tree"

# A second clone pushes a change; the first pulls it.
cd "$E2E_DIR/w2"
echo changed >>src/f7.txt
head -c 524288 /dev/urandom >src/deep/blob2.bin
g add -A
g commit -q -m second
g push -q
cd "$E2E_DIR/w1"
g pull -q --ff-only
[ "$(git rev-parse HEAD)" = "$(git -C "$E2E_DIR/w2" rev-parse HEAD)" ] || e2e_fail "pull did not bring the pushed commit"
diff -r --exclude=.git "$E2E_DIR/w1" "$E2E_DIR/w2" >/dev/null || e2e_fail "trees differ after pull"
g -C "$bare" fsck --strict
cd "$E2E_DIR"

e2e_check_violations
e2e_log "ok"
