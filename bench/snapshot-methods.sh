#!/usr/bin/env bash
# Snapshot methods side by side, on one local MariaDB pair, in ONE run, while a
# write load runs on the source: `flush` (FLUSH TABLES WITH READ LOCK, one long
# snapshot transaction per reader) against `chunked` (an account without RELOAD,
# as on managed MySQL: no lock, each chunk read on its own). For each: the time
# from start until the job reaches its sync, the oldest source transaction and the
# peak InnoDB history list length sampled during that time, and after the load
# stops both sides compared with CHECKSUM TABLE.
#
#   bench/snapshot-methods.sh [TABLES] [ROWS_PER_TABLE] [THREADS] [LOAD_TPS]
#                                                   (default 8 250000 4 200)
#
# Needs: mariadb-server, sysbench (Debian packages); builds ferry --release (or
# uses FERRY_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."

TABLES=${1:-8}
ROWS=${2:-250000}
THREADS=${3:-4}
TPS=${4:-200}
DB=sbtest

for bin in mariadbd mariadb-install-db mariadb sysbench; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || {
    echo "bench: $bin is missing: apt-get install mariadb-server sysbench" >&2
    exit 1
  }
done

. bench/lib.sh
bench_init ferry-snapshot-bench
SERVER_FLAGS=(--innodb-buffer-pool-size=1G --innodb-log-file-size=512M)
SP=$(free_port); TP=$(free_port)
start_server source 1 "$SP" "${SERVER_FLAGS[@]}" --log-bin="$work/source/data/binlog" --binlog-format=ROW --binlog-row-image=FULL
start_server target 2 "$TP" "${SERVER_FLAGS[@]}"
src() { mariadb --no-defaults -h127.0.0.1 -P"$SP" -uroot "$@"; }
tgt() { mariadb --no-defaults -h127.0.0.1 -P"$TP" -uroot "$@"; }

echo "bench: preparing $TABLES tables x $ROWS rows with sysbench"
src -e "CREATE DATABASE $DB"
sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
  --mysql-db=$DB --tables="$TABLES" --table-size="$ROWS" --threads=2 prepare >/dev/null
src -e "ANALYZE TABLE $(seq -s, -f "$DB.sbtest%g" 1 "$TABLES")" >/dev/null
# What a managed service's admin has, without RELOAD.
src -e "CREATE USER 'managed'@'%'; GRANT SELECT, LOCK TABLES, SHOW VIEW, PROCESS ON *.* TO 'managed'@'%';
        GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'managed'@'%'"
tables_list=$(seq -s, -f "$DB.sbtest%g" 1 "$TABLES")
now() { date +%s.%N; }

job() { # name user
  cat >"$work/$1.toml" <<TOML
name = "$1"
mode = "all"
[source]
host = "127.0.0.1"
port = $SP
user = "$2"
tls = "disabled"
[target]
host = "127.0.0.1"
port = $TP
user = "root"
tls = "disabled"
[objects]
include = ["$DB.*"]
[options]
export_threads = $THREADS
import_threads = $THREADS
TOML
}

declare -A T AGE HLL
measure() { # label name user
  local label=$1 name=$2 user=$3
  tgt -e "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ferry_meta"
  job "$name" "$user"
  sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
    --mysql-db=$DB --tables="$TABLES" --table-size="$ROWS" --threads=2 --rate="$TPS" --time=0 run >/dev/null 2>&1 &
  local load=$!
  local t0 max_age=0 max_hll=0 phase=""
  t0=$(now)
  "$FERRY" run "$work/$name.toml" >"$work/$name.out" 2>&1 &
  local run=$!
  while [ "$phase" != "sync" ]; do
    kill -0 "$run" 2>/dev/null || { echo "bench: ferry ($name) ended early:" >&2; tail -5 "$work/$name.out" >&2; exit 1; }
    local age hll
    age=$(src -N -e "SELECT COALESCE(MAX(TIMESTAMPDIFF(SECOND, trx_started, NOW())), 0) FROM information_schema.innodb_trx")
    hll=$(src -N -e "SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'")
    [ "$age" -gt "$max_age" ] && max_age=$age
    [ "$hll" -gt "$max_hll" ] && max_hll=$hll
    phase=$(tgt -N -e "SELECT phase FROM ferry_meta.jobs WHERE job = '$name'" 2>/dev/null || true)
    sleep 0.5
  done
  T[$name]=$(python3 -c "print(f'{$(now)-$t0:.2f}')")
  AGE[$name]=$max_age
  HLL[$name]=$max_hll
  kill "$load"; wait "$load" 2>/dev/null || true
  # The sync catches up with the stopped load, then both sides must agree.
  local want got
  want=$(src -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
  for _ in $(seq 1 600); do
    got=$(tgt -N -e "CHECKSUM TABLE $tables_list" 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
    [ "$got" = "$want" ] && break
    sleep 0.5
  done
  kill "$run"; wait "$run" 2>/dev/null || true
  if [ "$got" != "$want" ]; then echo "bench: $name: source and target differ after the catch-up" >&2; exit 1; fi
  printf '%-34s %8s s to the sync   oldest source transaction %4s s   history list peak %8s\n' \
    "$label" "${T[$name]}" "${AGE[$name]}" "${HLL[$name]}"
}

echo "bench: $((TABLES * ROWS)) rows, $THREADS threads, load $TPS txn/s (sysbench oltp_write_only)"
echo
measure "flush (FTWRL, root)" flush root
measure "chunked (no RELOAD, as managed)" chunked managed
python3 - <<PY
f, c = float("${T[flush]}"), float("${T[chunked]}")
print()
print(f"chunked vs flush, time to the sync   {c / f:5.2f}x   (target <= 1.10x)")
print(f"oldest source transaction            flush ${AGE[flush]} s, chunked ${AGE[chunked]} s")
print(f"history list length peak             flush ${HLL[flush]}, chunked ${HLL[chunked]}")
PY
