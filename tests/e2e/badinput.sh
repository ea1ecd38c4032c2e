#!/usr/bin/env bash
# badinput.sh: runs ssm-proxy against every bad situation listed in
# tests/data/badinput/cases.txt (format described there) and checks each
# ends the way a failing ProxyCommand must: exit status 255, exactly one
# line on stderr starting "ssm-proxy: " and naming the cause, nothing on
# stdout, no core dump, and no hang (a generous deadline, not a timing test).
# BADINPUT_ONLY=REGEX runs the matching cases only.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup
e2e_start_sshd

CASES="$SSMP_TESTS_DIR/data/badinput/cases.txt"
DEADLINE=120
[ "${SSMP_SANITIZED:-0}" = 1 ] && DEADLINE=240

# stdin of every run: a FIFO we hold open, so ssm-proxy never sees EOF.
fifo="$E2E_DIR/stdin"
mkfifo "$fifo"
exec 7<>"$fifo"

export PROXY="$E2E_PROXY" ID="$E2E_INSTANCE"
failed=0 count=0
printf '%-22s %4s %6s  %s\n' CASE EXIT SEC "STDERR" >&2

run_case() { # name setup cmd pattern
  local name=$1 setup=$2 cmd=$3 pat=$4 dir rc start end lines line why=""
  dir="$E2E_DIR/case-$name"
  mkdir -p "$dir"
  (
    export DIR="$dir" FREE REGION_PORT=""
    FREE=$(e2e_free_port)
    unset AWS_CA_BUNDLE AWS_ENDPOINT_URL_SSM
    case "$setup" in
      none) export AWS_ENDPOINT_URL_SSM="https://127.0.0.1:$FREE" ;;
      sshd) export AWS_ENDPOINT_URL_SSM="https://127.0.0.1:$E2E_SSHD_PORT" ;;
      region*)
        # shellcheck disable=SC2086 # the switches are words on purpose
        e2e_start_region ${setup#region} >/dev/null
        REGION_PORT=$E2E_REGION_PORT ;;
      *) echo "unknown setup '$setup'" >"$dir/stderr"; exit 2 ;;
    esac
    cd "$dir" || exit 2
    ulimit -c unlimited 2>/dev/null || true
    start=$(e2e_now)
    timeout -k 5 "$DEADLINE" bash -c "$cmd" <&7 7<&- >"$dir/stdout" 2>"$dir/stderr"
    rc=$?
    end=$(e2e_now)
    echo "$rc $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')" >"$dir/result"
    [ -n "${E2E_REGION_PID:-}" ] && { kill "$E2E_REGION_PID" 2>/dev/null; wait "$E2E_REGION_PID" 2>/dev/null; }
    exit 0
  )
  read -r rc secs <"$dir/result" 2>/dev/null || { rc=x; secs=0; }
  lines=$(wc -l <"$dir/stderr")
  line=$(head -n 1 "$dir/stderr")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then why="hung (killed after ${DEADLINE}s)"
  elif [ "$rc" != 255 ]; then why="exit status $rc, not 255"
  elif [ "$lines" -ne 1 ]; then why="$lines stderr lines, not 1"
  elif [ "${line#ssm-proxy: }" = "$line" ]; then why="stderr line lacks the 'ssm-proxy: ' prefix"
  elif ! printf '%s\n' "${line#ssm-proxy: }" | grep -Eq -- "$pat"; then why="message does not match /$pat/"
  elif [ -s "$dir/stdout" ]; then why="wrote to stdout"
  elif compgen -G "$dir/core*" >/dev/null; then why="dumped core"
  fi
  printf '%-22s %4s %6s  %s\n' "$name" "$rc" "$secs" "$line" >&2
  if [ -n "$why" ]; then
    e2e_log "FAIL $name: $why"
    sed 's/^/    | /' "$dir/stderr" | head -n 20 >&2
    failed=$((failed + 1))
  fi
  count=$((count + 1))
}

while IFS= read -r raw; do
  case "$raw" in ''|'#'*) continue ;; esac
  IFS=$'\t' read -r name setup cmd pat < <(sed -E 's/[[:space:]]+\|[[:space:]]+/\t/; s/[[:space:]]+\|[[:space:]]+/\t/; s/[[:space:]]+\|[[:space:]]+/\t/' <<<"$raw")
  [ -n "${BADINPUT_ONLY:-}" ] && ! [[ $name =~ $BADINPUT_ONLY ]] && continue
  run_case "$name" "$setup" "$cmd" "$pat"
done <"$CASES"

exec 7>&-
[ "$count" -gt 0 ] || e2e_fail "no cases ran"
[ "$failed" -eq 0 ] || e2e_fail "$failed of $count bad-input cases failed"
e2e_log "all $count bad-input cases ended with one clear line and exit status 255"
