#!/usr/bin/env bash
# Shard-merge benchmark: two sources, each holding one shard of a sysbench-shaped
# table (disjoint key ranges), merged into one target table — Ferry's job with
# [[shards]] (both sources copied at once, verified against the union) against
# mydumper/myloader (DM's dump-and-load way: both dumps at once, then both loads
# into the one table) and against Ferry copying one source of the same size, in
# ONE run on servers this script starts; every result checked against the union.
# RTT_MS="0 20 50" repeats it at each round trip through a delaying proxy.
#
#   bench/shard-merge.sh [ROWS_PER_SHARD] [THREADS]     (default 1000000 4)
#
# Needs: mariadb-server, mydumper (Debian packages), a release build of ferry
# (built here). Prints each time, then the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-1000000}
THREADS=${2:-4}
OFFSET=1000000000

for bin in mariadbd mariadb-install-db mariadb mydumper myloader; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || {
    echo "bench: $bin is missing: apt-get install mariadb-server mydumper" >&2
    exit 1
  }
done

. bench/lib.sh
bench_init ferry-shard-bench
FLAGS=(--innodb-buffer-pool-size=1G --innodb-log-file-size=512M --local-infile=1)
BINLOG=(--binlog-format=ROW --binlog-row-image=FULL)
AP=$(free_port); BP=$(free_port); TP=$(free_port)
start_server shard-a 1 "$AP" "${FLAGS[@]}" --log-bin="$work/shard-a/data/binlog" "${BINLOG[@]}"
start_server shard-b 3 "$BP" "${FLAGS[@]}" --log-bin="$work/shard-b/data/binlog" "${BINLOG[@]}"
start_server target 2 "$TP" "${FLAGS[@]}"
on() { local port=$1; shift; mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot "$@"; }

echo "bench: preparing 2 shards x $ROWS rows (sysbench's table shape, disjoint ids)"
make_shard() { # port db first-id
  on "$1" -e "CREATE DATABASE $2; USE $2;
    CREATE TABLE $2.sbtest1 (id INT UNSIGNED NOT NULL PRIMARY KEY, k INT UNSIGNED NOT NULL DEFAULT 0,
      c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB;
    INSERT INTO $2.sbtest1 SELECT $3 + seq, FLOOR(RAND(seq) * $ROWS),
      CONCAT_WS('-', MD5(seq), MD5(seq + 1), MD5(seq + 2)), MD5(seq * 7) FROM seq_1_to_$ROWS;
    ANALYZE TABLE $2.sbtest1;" >/dev/null
}
make_shard "$AP" shard_1 0 & pa=$!
make_shard "$BP" shard_2 "$OFFSET" & pb=$!
wait "$pa" && wait "$pb" || { echo "bench: preparing the shards failed" >&2; exit 1; }
size=$(on "$AP" -N -e "SELECT ROUND((DATA_LENGTH+INDEX_LENGTH)/1048576) FROM information_schema.TABLES WHERE TABLE_SCHEMA='shard_1'")
echo "bench: $((2 * ROWS)) rows, 2 x ${size} MiB on disk, $THREADS threads per source"

# The union, summed without depending on where a row is: count and CRC32 sum.
sums() { on "$1" -N -e "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('#', id, k, c, pad))) FROM $2.sbtest1"; }
read -r ca sa <<<"$(sums "$AP" shard_1)"
read -r cb sb <<<"$(sums "$BP" shard_2)"
expected="$((ca + cb)) $((sa + sb))"

reset_target() { on "$TP" -e "DROP DATABASE IF EXISTS merged; DROP DATABASE IF EXISTS shard_1; DROP DATABASE IF EXISTS ferry_meta"; }
check() { # name db
  local got
  got=$(sums "$TP" "$2" | tr '\t' ' ')
  if [ "$got" != "$expected" ]; then echo "bench: $1 produced $got, the union is $expected" >&2; exit 1; fi
}
now() { date +%s.%N; }
declare -A T
run() { # name db command...
  local name=$1 db=$2; shift 2
  reset_target
  sync
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  [ "$db" = "-" ] || check "$name" "$db"
  T[$name]=$(python3 -c "print(f'{$t1-$t0:.2f}')")
  printf '%-36s %8s s\n' "$name" "${T[$name]}"
}

dump_load_merge() {
  rm -rf "$work/dump-a" "$work/dump-b"
  mydumper -h 127.0.0.1 -P "$XA" -u root -B shard_1 -t "$THREADS" --rows=100000 -o "$work/dump-a" >/dev/null 2>&1 & local da=$!
  mydumper -h 127.0.0.1 -P "$XB" -u root -B shard_2 -t "$THREADS" --rows=100000 -o "$work/dump-b" >/dev/null 2>&1 & local db=$!
  wait "$da" && wait "$db"
  # The second shard's rows go into the table the first one's load created.
  rm -f "$work"/dump-b/*schema*
  myloader -h 127.0.0.1 -P "$XT" -u root -d "$work/dump-a" -B merged -t "$THREADS" >/dev/null 2>&1
  myloader -h 127.0.0.1 -P "$XT" -u root -d "$work/dump-b" -B merged -s shard_2 -t "$THREADS" >/dev/null 2>&1
}

ferry_job() { # name with-shard
  cat >"$work/$1.toml" <<TOML
name = "$1"
mode = "full"
[source]
host = "127.0.0.1"
port = $XA
user = "root"
tls = "disabled"
TOML
  if [ "$2" = yes ]; then
    cat >>"$work/$1.toml" <<TOML
[[shards]]
name = "b"
host = "127.0.0.1"
port = $XB
user = "root"
tls = "disabled"
TOML
  fi
  cat >>"$work/$1.toml" <<TOML
[target]
host = "127.0.0.1"
port = $XT
user = "root"
tls = "disabled"
[objects]
include = ["shard_*.sbtest1"]
TOML
  if [ "$2" = yes ]; then
    printf '[[objects.route]]\nfrom = "shard_*.sbtest1"\nto = "merged.sbtest1"\n' >>"$work/$1.toml"
  fi
  cat >>"$work/$1.toml" <<TOML
[options]
export_threads = $THREADS
import_threads = $THREADS
TOML
  "$FERRY" run "$work/$1.toml" --json >"$work/$1.json" 2>"$work/$1.events" || {
    echo "bench: ferry $1 failed:" >&2; tail -5 "$work/$1.events" >&2; cat "$work/$1.json" >&2; exit 1; }
}

phases() { # job: when each phase began, seconds from the first event
  grep -E '"type":"(phase|copy_done)"' "$work/$1.events" | python3 -c "
import json, sys
ev = [json.loads(l) for l in sys.stdin]
t0 = ev[0]['t'] if ev else 0
print('  ' + ' '.join(f\"{e.get('phase', 'copy_done')}@{e['t'] - t0:.2f}\" for e in ev))"
}
# RTT_MS="0 20 50": the same runs once per round trip, every tool reaching the
# three servers through the same delaying proxy (default: no proxy).
RTTS=${RTT_MS:--}
for rtt in $RTTS; do
  start_proxies "$rtt" "$AP" "$BP" "$TP"
  XA=${FAR[$AP]}; XB=${FAR[$BP]}; XT=${FAR[$TP]}
  at=$(at_rtt "$rtt")
  echo
  run "mydumper x2 + myloader x2 (merged)$at" merged dump_load_merge
  run "ferry, 2 sources merged (verified)$at" merged ferry_job merge yes
  phases merge
  run "ferry, 1 source (verified)$at" - ferry_job one no
  phases one
done
stop_proxies
for rtt in $RTTS; do
  at=$(at_rtt "$rtt")
  python3 - <<PY
merged = float("${T[ferry, 2 sources merged (verified)$at]}")
dump = float("${T[mydumper x2 + myloader x2 (merged)$at]}")
one = float("${T[ferry, 1 source (verified)$at]}")
rows = 2 * $ROWS
print()
print("no proxy:" if "$rtt" == "-" else "$rtt ms round trip:")
print(f"  ferry merge vs mydumper/myloader   {dump / merged:8.2f}x faster   (target >= 1.2x)")
print(f"  ferry merge rows/s                 {rows / merged:8.0f}")
print(f"  ferry merge vs one source of half  {merged / one:8.2f}x the time (2x the rows)")
PY
done
