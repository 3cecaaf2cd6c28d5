#!/usr/bin/env bash
# Full-copy benchmark: Ferry against mysqldump, mydumper/myloader (with and without
# --rows) and an INTO OUTFILE + LOAD DATA INFILE bound, on one local MariaDB pair that
# this script starts, in ONE run, each copy checked with CHECKSUM TABLE afterwards.
#
#   bench/full-copy.sh [TABLES] [ROWS_PER_TABLE] [THREADS]     (default 8 250000 4)
#   RTT_MS="0 20 50" runs the comparison once per round trip, every tool reaching
#   both servers through the same delaying proxy (default: no proxy).
#
# Needs: mariadb-server, sysbench, mydumper (Debian packages), a release build of
# ferry (built here). Prints each time, then Ferry's ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

TABLES=${1:-8}
ROWS=${2:-250000}
THREADS=${3:-4}
DB=sbtest

for bin in mariadbd mariadb-install-db mariadb mysqldump sysbench mydumper myloader; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || {
    echo "bench: $bin is missing: apt-get install mariadb-server sysbench mydumper" >&2
    exit 1
  }
done

. bench/lib.sh
bench_init ferry-bench
SERVER_FLAGS=(--innodb-buffer-pool-size=1G --innodb-log-file-size=512M --local-infile=1 --secure-file-priv="$work")

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
size=$(src -N -e "SELECT ROUND(SUM(DATA_LENGTH+INDEX_LENGTH)/1048576) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$DB'")
echo "bench: $((TABLES * ROWS)) rows, ${size} MiB on disk, $THREADS threads"

tables_list=$(seq -s, -f "%g" 1 "$TABLES" | sed "s/\([0-9]\+\)/$DB.sbtest\1/g")
expected=$(src -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')

reset_target() { tgt -e "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ferry_meta"; }
check_target() { # name
  local got
  got=$(tgt -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
  if [ "$got" != "$expected" ]; then echo "bench: $1 produced a different copy" >&2; exit 1; fi
}
now() { date +%s.%N; }
declare -A T

run() { # name command...
  local name=$1; shift
  reset_target
  sync
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  check_target "$name"
  T[$name]=$(python3 -c "print(f'{$t1-$t0:.2f}')")
  printf '%-28s %8s s\n' "$name" "${T[$name]}"
}

# The tools reach the servers at XS / XT: through the delay proxy when RTT_MS is set.
XS=$SP; XT=$TP
mysqldump_copy() {
  tgt -e "CREATE DATABASE $DB"
  mysqldump --no-defaults -h127.0.0.1 -P"$XS" -uroot --single-transaction --quick $DB |
    mariadb --no-defaults -h127.0.0.1 -P"$XT" -uroot $DB
}
mydumper_copy() { # extra mydumper args
  rm -rf "$work/dump"
  mydumper -h 127.0.0.1 -P "$XS" -u root -B $DB -t "$THREADS" -o "$work/dump" "$@" >/dev/null 2>&1
  myloader -h 127.0.0.1 -P "$XT" -u root -d "$work/dump" -t "$THREADS" >/dev/null 2>&1
}
outfile_copy() {
  rm -rf "$work/out"; mkdir -p "$work/out"; chmod 777 "$work/out"
  tgt -e "CREATE DATABASE $DB"
  for i in $(seq 1 "$TABLES"); do
    src -N -e "SHOW CREATE TABLE $DB.sbtest$i" | cut -f2- | sed 's/\\n/\n/g' | tgt $DB
  done
  local t0 t1
  t0=$(now)
  seq 1 "$TABLES" | xargs -P "$THREADS" -I{} mariadb --no-defaults -h127.0.0.1 -P"$SP" -uroot -e \
    "SELECT * INTO OUTFILE '$work/out/t{}.tsv' FROM $DB.sbtest{}"
  t1=$(now)
  seq 1 "$TABLES" | xargs -P "$THREADS" -I{} mariadb --no-defaults -h127.0.0.1 -P"$TP" -uroot -e \
    "SET foreign_key_checks=0, unique_checks=0; LOAD DATA INFILE '$work/out/t{}.tsv' INTO TABLE $DB.sbtest{}"
  T[load_only]=$(python3 -c "print(f'{$(now)-$t1:.2f}')")
}
ferry_copy() {
  cat >"$work/job.toml" <<TOML
name = "bench"
mode = "full"
[source]
host = "127.0.0.1"
port = $XS
user = "root"
tls = "disabled"
[target]
host = "127.0.0.1"
port = $XT
user = "root"
tls = "disabled"
[objects]
include = ["$DB.*"]
[options]
export_threads = $THREADS
import_threads = $THREADS
${FERRY_OPTIONS:-}
TOML
  /usr/bin/time -f "%M %U %S" -o "$work/ferry.rss" "$FERRY" run "$work/job.toml" --json ${FERRY_ARGS:-} >"$work/ferry.json" 2>"$work/ferry.events" || {
    echo "bench: ferry failed:" >&2; tail -5 "$work/ferry.events" >&2; cat "$work/ferry.json" >&2; exit 1; }
}

cpu_of() { # pid -> CPU seconds used so far
  awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"
}
if [ -n "${FERRY_ONLY:-}" ]; then # quick loop while tuning: ferry alone (at the first RTT_MS)
  first=${RTT_MS:--}; start_proxies "${first%% *}" "$SP" "$TP"
  XS=${FAR[$SP]}; XT=${FAR[$TP]}
  s0=$(cpu_of "${pids[0]}"); t0=$(cpu_of "${pids[1]}")
  run "ferry run (verified)" ferry_copy
  echo "server CPU s: source $(python3 -c "print(round($(cpu_of "${pids[0]}") - $s0, 2))"), target $(python3 -c "print(round($(cpu_of "${pids[1]}") - $t0, 2))")"
  echo "ferry: peak RSS KiB, user s, sys s: $(cat "$work/ferry.rss")"
  grep -E '"type":"(phase|copy_done)"' "$work/ferry.events" | python3 -c "import json,sys; print(' '.join(f\"{e.get('phase','copy_done')}@{e['t']}\" for e in map(json.loads, sys.stdin)))"
  python3 -c "import json; d=json.load(open('$work/ferry.json')); print(); print({k: d[k] for k in ('rows','bytes','seconds','lock_ms','peak_rss_bytes')})"
  exit 0
fi

RTTS=${RTT_MS:--}
if [ "$RTTS" != "-" ]; then
  # The bound reads and writes files on the servers: distance does not apply.
  echo
  run "INTO OUTFILE + LOAD DATA" outfile_copy
fi
for rtt in $RTTS; do
  start_proxies "$rtt" "$SP" "$TP"
  XS=${FAR[$SP]}; XT=${FAR[$TP]}
  at=$(at_rtt "$rtt")
  echo
  [ "$rtt" = "-" ] || echo "bench: $rtt ms round trip to each server"
  run "mysqldump | mysql$at" mysqldump_copy
  run "mydumper + myloader$at" mydumper_copy
  run "mydumper --rows=50000$at" mydumper_copy --rows=50000
  [ "$rtt" != "-" ] || run "INTO OUTFILE + LOAD DATA" outfile_copy
  run "ferry run (verified)$at" ferry_copy
  cp "$work/ferry.rss" "$work/ferry.rss$at"
done
stop_proxies

echo
printf 'LOAD DATA alone               %8.2f s\n' "${T[load_only]}"
for rtt in $RTTS; do
  at=$(at_rtt "$rtt")
  python3 - <<PY
t = float("${T[ferry run (verified)$at]}")
best = min(float("${T[mydumper + myloader$at]}"), float("${T[mydumper --rows=50000$at]}"))
outfile = float("${T[INTO OUTFILE + LOAD DATA]}")
dump = float("${T[mysqldump | mysql$at]}")
rss = int(open("$work/ferry.rss$at").read().split()[0]) / 1024
label = "no proxy" if "$rtt" == "-" else f"$rtt ms round trip"
print(f"{label}:")
print(f"  ferry peak RSS                {rss:8.1f} MiB")
print(f"  ferry vs mysqldump|mysql      {dump / t:8.2f}x faster")
print(f"  ferry vs best mydumper        {best / t:8.2f}x faster   (target >= 1.5x; >= 1.2x at 20 ms)")
print(f"  ferry vs OUTFILE+LOAD DATA    {outfile / t * 100:7.0f} % of its throughput   (target >= 100 % without delay)")
PY
done
