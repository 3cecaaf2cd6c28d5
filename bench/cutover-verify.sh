#!/usr/bin/env bash
# The cutover's verification with and without the continuous verification:
# Ferry copies TABLES x ROWS sysbench rows (mode all), syncs until the
# continuous verification says every range is verified (or, with it off, for
# as long), then completes; the verification's share of the copy time is
# printed for both, from the run's own phase events. Every copy is checked with
# CHECKSUM TABLE.
#
#   bench/cutover-verify.sh [TABLES] [ROWS_PER_TABLE]     (default 4 2000000: 8 M rows)
#
# Needs: mariadb-server, sysbench (Debian packages). Builds ferry --release.
set -euo pipefail
cd "$(dirname "$0")/.."

TABLES=${1:-4}
ROWS=${2:-2000000}
DB=sbtest

. bench/lib.sh
bench_init ferry-cutover-bench
SERVER_FLAGS=(--innodb-buffer-pool-size=2G --innodb-log-file-size=512M --local-infile=1)
SP=$(free_port); TP=$(free_port)
start_server source 1 "$SP" "${SERVER_FLAGS[@]}" --log-bin="$work/source/data/binlog" --binlog-format=ROW --binlog-row-image=FULL
start_server target 2 "$TP" "${SERVER_FLAGS[@]}"
src() { mariadb --no-defaults -h127.0.0.1 -P"$SP" -uroot "$@"; }
tgt() { mariadb --no-defaults -h127.0.0.1 -P"$TP" -uroot "$@"; }

echo "bench: preparing $TABLES tables x $ROWS rows with sysbench"
src -e "CREATE DATABASE $DB"
sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
  --mysql-db=$DB --tables="$TABLES" --table-size="$ROWS" --threads=2 prepare >/dev/null
src -e "ANALYZE TABLE $(seq -s, -f "$DB.sbtest%g" 1 "$TABLES")" >/dev/null
tables_list=$(seq -s, -f "$DB.sbtest%g" 1 "$TABLES")
expected=$(src -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')

declare -A R
one() { # label verify_share
  local label=$1 share=$2
  tgt -e "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ferry_meta"
  cat >"$work/job-$label.toml" <<TOML
name = "bench-cut-$label"
mode = "all"
[source]
host = "127.0.0.1"
port = $SP
user = "root"
[target]
host = "127.0.0.1"
port = $TP
user = "root"
[objects]
include = ["$DB.*"]
[incremental]
verify_share = $share
TOML
  local job="$work/job-$label.toml"
  "$FERRY" run "$job" --json >"$work/out-$label" 2>"$work/events-$label" &
  local fpid=$!
  local status
  until grep -q '"phase":"sync"' "$work/events-$label" 2>/dev/null; do
    kill -0 $fpid 2>/dev/null || { echo "bench: ferry stopped" >&2; tail -5 "$work/events-$label" >&2; exit 1; }
    sleep 0.2
  done
  local synced_at; synced_at=$(date +%s.%N)
  if [ "$share" != 0 ]; then
    until "$FERRY" status --json "$job" 2>/dev/null |
      python3 -c 'import json,sys; v=(json.load(sys.stdin).get("live") or {}).get("verification") or {}; sys.exit(0 if v.get("state") == "verified" else 1)'; do
      sleep 0.5
    done
  fi
  R[wait-$label]=$(python3 -c "import time; print(f'{time.time() - $synced_at:.1f}')")
  "$FERRY" complete "$job" >"$work/complete-$label" 2>&1
  wait $fpid || true
  got=$(tgt -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
  [ "$got" = "$expected" ] || { echo "bench: $label produced a different copy" >&2; exit 1; }
  # Copy: from the start to the sync; verification: its phase to the next one.
  read -r R[copy-$label] R[verify-$label] < <(python3 - "$work/events-$label" <<'PY'
import json, sys
phases = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "phase":
        phases.append((e["phase"], e["t"]))
at = {}
for i, (p, t) in enumerate(phases):
    at.setdefault(p, (t, phases[i + 1][1] if i + 1 < len(phases) else t))
sync = at["sync"][0]
verify = at["verify"][1] - at["verify"][0]
print(f"{sync:.2f} {verify:.2f}")
PY
)
  R[ranges-$label]=$(grep -o '"ranges_[a-z]*": *[0-9]*' "$work/out-$label" | tr -d ' "' | tr '\n' ' ' || true)
}

one off 0
one on 20
echo
echo "cutover verification, $((TABLES * ROWS)) rows (one run each; the sides checked with CHECKSUM TABLE):"
for label in off on; do
  python3 - <<PY
copy, verify = float("${R[copy-$label]}"), float("${R[verify-$label]}")
print(f"  continuous verification $label: copy {copy:.1f} s, cutover verification {verify:.2f} s = {verify / copy * 100:.1f} % of the copy (target <= 10 %); waited {float('${R[wait-$label]}'):.1f} s after the sync began   ${R[ranges-$label]}")
PY
done
