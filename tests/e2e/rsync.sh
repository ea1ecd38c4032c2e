#!/usr/bin/env bash
# rsync.sh: rsync -e "ssh -F config" of a tree (a few hundred files, text
# and binary, nested folders, odd names) through ssm-proxy; then an
# incremental run that sends only the one changed file, a run that sends
# nothing, and --delete.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
e2e_start_sshd
e2e_start_region
err=$E2E_ERR
host=$E2E_INSTANCE
src=$E2E_DIR/src
dst=$E2E_DIR/dst
rsh="ssh -F $E2E_SSH_CONFIG"

# 8 top folders x 4 subfolders x 10 files, every fifth file binary (up to
# 256 KiB), plus empty files, names with spaces and a symlink.
n=0
for a in $(seq 1 8); do
  for b in $(seq 1 4); do
    d="$src/dir$a/sub $b/deep"
    mkdir -p "$d"
    for f in $(seq 1 10); do
      n=$((n + 1))
      if [ $((n % 5)) -eq 0 ]; then
        head -c $(( (n * 2731) % 262144 )) /dev/urandom >"$d/blob$f.bin"
      else
        printf 'file %d in %s\nline two\n' "$n" "$d" >"$d/text $f.txt"
      fi
    done
  done
done
: >"$src/empty"
ln -s "dir1/sub 1/deep/text 1.txt" "$src/link"
total=$(find "$src" -type f | wc -l)
[ "$total" -ge 300 ] || e2e_fail "test tree has only $total files"

# sync [rsync options...]: copies src/ to the remote dst/, stats to $E2E_DIR/stats.
sync() {
  rsync -a -i --stats -e "$rsh" "$@" "$src/" "$host:$dst/" >"$E2E_DIR/stats" 2>>"$err" ||
    e2e_fail "rsync $* exited $?"
}
# stat_num LABEL: the number rsync --stats printed after "LABEL: ".
stat_num() { sed -n "s/^$1: \([0-9,]*\).*/\1/p" "$E2E_DIR/stats" | tr -d , ; }
same_tree() { diff -r --no-dereference "$src" "$dst" >/dev/null || e2e_fail "trees differ after $1"; }

sync
same_tree "the first rsync"
got=$(stat_num "Number of regular files transferred")
[ "$got" -eq "$total" ] || e2e_fail "first rsync sent $got files, want $total"
[ -L "$dst/link" ] || e2e_fail "symlink not kept"

# Only the changed file travels (its size changes, so the quick check sees it).
echo "one more line" >>"$src/dir3/sub 2/deep/text 7.txt"
sync
same_tree "the incremental rsync"
got=$(stat_num "Number of regular files transferred")
[ "$got" -eq 1 ] || e2e_fail "incremental rsync sent $got files, want 1"
grep -q '^<f.* dir3/sub 2/deep/text 7.txt$' "$E2E_DIR/stats" ||
  e2e_fail "incremental rsync did not list the changed file: $(grep '^<f' "$E2E_DIR/stats")"
[ "$(grep -c '^<f' "$E2E_DIR/stats")" -eq 1 ] || e2e_fail "incremental rsync listed other files"

sync
got=$(stat_num "Number of regular files transferred")
[ "$got" -eq 0 ] || e2e_fail "rsync without changes sent $got files"

# --delete removes what is gone from the source.
rm "$src/dir5/sub 3/deep/text 1.txt"
rm -r "$src/dir8"
sync --delete
same_tree "rsync --delete"
[ ! -e "$dst/dir8" ] || e2e_fail "--delete left dir8"
got=$(stat_num "Number of deleted files")
[ "${got:-0}" -gt 0 ] || e2e_fail "--delete reported no deleted files"

e2e_check_violations
e2e_log "ok"
