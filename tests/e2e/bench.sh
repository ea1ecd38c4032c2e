#!/usr/bin/env bash
# bench.sh: `bench/run --quick` on the programs of this build runs to the
# end, prints its table and writes JSON with every key the benchmark
# promises, each a number. It checks the benchmark still works, not what it
# measures: no figure is compared with anything.
set -euo pipefail
# shellcheck source=tests/lib.sh
. "${SSMP_TESTS_DIR:-$(dirname "$0")/..}/lib.sh"
e2e_setup
top=$(cd "$SSMP_TESTS_DIR/.." && pwd)
out=$E2E_DIR/bench.json
rc=0
"$top/bench/run" --quick --no-build --build "$SSMP_BUILD_DIR" --out "$out" \
  >"$E2E_DIR/bench.out" 2>"$E2E_DIR/bench.err" </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
  tail -20 "$E2E_DIR/bench.err" >&2
  e2e_fail "bench/run --quick exited $rc"
fi
grep -q "ssm-proxy *direct ssh" "$E2E_DIR/bench.out" || e2e_fail "bench/run printed no table"
[ -s "$out" ] || e2e_fail "bench/run wrote no $out"

keys="connect_ms_proxy connect_ms_direct up_MBps_proxy up_MBps_direct down_MBps_proxy
  down_MBps_direct paced_down_fraction rss_kib_proxy cpu_s_per_gib_proxy msgs_per_s_codec
  first_byte_ms_proxy first_byte_ms_direct up_MBps_proxy_delay25 up_MBps_proxy_delay100
  connect_ms_proxy_no_early_delay100 rss_anon_kib_proxy pss_kib_proxy rss_kib_floor
  rss_anon_kib_floor rss_kib_floor_openssl rss_anon_kib_floor_openssl cpu_s_per_gib_proxy_up
  cpu_s_per_gib_region_up cpu_s_per_gib_sshd_up_direct idle_cpu_ms_per_min_proxy binary_bytes_proxy"
for k in $keys; do
  grep -Eq "\"$k\": -?[0-9]+(\.[0-9]+)?[,}]?( |$)" "$out" ||
    e2e_fail "$out: no number for $k ($(grep -o "\"$k\": [^,]*" "$out" || echo missing))"
done
# Whole-file shape: an object, every line a "key": number pair (or the braces).
awk 'NR == 1 && $0 != "{" { exit 1 } /^}$/ { end = 1; next }
  NR > 1 && !/^  "[A-Za-z0-9_]+": -?[0-9.]+(, "[A-Za-z0-9_]+": -?[0-9.]+)*,?$/ { exit 1 }
  END { exit !end }' "$out" || e2e_fail "$out is not the flat JSON object expected"
e2e_log "ok"
