#!/usr/bin/env bash
# Incremental-sync benchmark: how fast a backlog of sysbench oltp_write_only
# transactions is caught up by native MariaDB replication (serial, optimistic:2,
# optimistic:4, each on its own replica) and by Ferry, all on the same backlog in
# ONE run, every result checked with CHECKSUM TABLE; then Ferry's lag while
# sysbench writes at a fixed rate, measured with a heartbeat row.
#
#   bench/incremental.sh [TRANSACTIONS] [RATE] [RATE_SECONDS]   (default 100000 2000 30)
#   APPLY_WORKERS=N sets Ferry's [incremental] apply_workers (default: automatic).
#   The lag is measured twice per round trip: with the continuous verification
#   (its default share) and without it (verify_share = 0), and their p99 compared.
#   RTT_MS="0 20 50" runs the catch-up race and the lag measurement once per round
#   trip, the native replicas pulling the binlog and Ferry reaching both servers
#   through the same delaying proxy (default: no proxy).
#
# Needs: mariadb-server, sysbench (Debian packages). Builds ferry --release.
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${1:-100000}
RATE=${2:-2000}
RATE_SECS=${3:-30}
DB=sbtest
TABLES=4
ROWS=100000

for bin in mariadbd mariadb-install-db mariadb mysqldump sysbench; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || {
    echo "bench: $bin is missing: apt-get install mariadb-server sysbench" >&2
    exit 1
  }
done

. bench/lib.sh
bench_init ferry-bench-inc
SERVER_FLAGS=(--innodb-buffer-pool-size=512M --innodb-log-file-size=256M --sync-binlog=0)

declare -A PORT
PORT[source]=$(free_port)
# A small max_binlog_size spreads the backlog over several files, as a busy
# production source rotates: every reader must follow the rotations.
start_server source 1 "${PORT[source]}" "${SERVER_FLAGS[@]}" --log-bin="$work/source/data/binlog" --binlog-format=ROW --binlog-row-image=FULL \
  --max-binlog-size="${MAX_BINLOG_SIZE:-32M}"
replicas=(serial optimistic2 optimistic4 ferry)
id=2
for r in "${replicas[@]}"; do
  PORT[$r]=$(free_port)
  start_server "$r" "$id" "${PORT[$r]}" "${SERVER_FLAGS[@]}"
  id=$((id + 1))
done
sql() { local who=$1; shift; mariadb --no-defaults -h127.0.0.1 -P"${PORT[$who]}" -uroot "$@"; }
SP=${PORT[source]}

echo "bench: preparing $TABLES tables x $ROWS rows"
sql source -e "CREATE DATABASE $DB; CREATE TABLE $DB.heartbeat (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL)"
sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
  --mysql-db=$DB --tables=$TABLES --table-size=$ROWS --threads=2 prepare >/dev/null
read -r FILE0 POS0 < <(sql source -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
mysqldump --no-defaults -h127.0.0.1 -P"$SP" -uroot --single-transaction --databases $DB >"$work/base.sql"
for r in "${replicas[@]}"; do sql "$r" <"$work/base.sql"; done

echo "bench: writing a backlog of $TXNS oltp_write_only transactions"
sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
  --mysql-db=$DB --tables=$TABLES --table-size=$ROWS --threads=4 --events="$TXNS" --time=0 run >/dev/null
read -r FILE1 POS1 < <(sql source -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
tables_list=$(seq -s, -f "$DB.sbtest%g" 1 $TABLES)
expected=$(sql source -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
files=$(sql source -N -e "SHOW BINARY LOGS" | awk -v a="$FILE0" -v b="$FILE1" '$1 >= a && $1 <= b' | wc -l)
echo "bench: backlog $FILE0:$POS0 .. $FILE1:$POS1 ($files binlog files of at most ${MAX_BINLOG_SIZE:-32M})"

declare -A T
now() { date +%s.%N; }

native() { # replica parallel_threads mode
  local r=$1 threads=$2 mode=$3
  sql "$r" -e "SET GLOBAL slave_parallel_threads=$threads; SET GLOBAL slave_parallel_mode='$mode';
    CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${FAR[$SP]}, MASTER_USER='root',
      MASTER_LOG_FILE='$FILE0', MASTER_LOG_POS=$POS0, MASTER_USE_GTID=no"
  settle
  local t0; t0=$(now)
  sql "$r" -e "START SLAVE"
  while :; do
    read -r f p < <(sql "$r" -e "SHOW SLAVE STATUS\G" | awk '/Relay_Master_Log_File/{f=$2} /Exec_Master_Log_Pos/{p=$2} END{print f, p}')
    if [ "$f" = "$FILE1" ] && [ "$p" -ge "$POS1" ]; then break; fi
    if [ "$f" \> "$FILE1" ]; then break; fi
    sleep 0.05
  done
  T[$r$at]=$(python3 -c "print($(now) - $t0)")
  sql "$r" -e "STOP SLAVE"
  local got; got=$(sql "$r" -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
  [ "$got" = "$expected" ] || { echo "bench: $r differs from the source" >&2; exit 1; }
  printf "%-34s %8.2f s  %8.0f txn/s\n" "native $r$at" "${T[$r$at]}" "$(python3 -c "print($TXNS / ${T[$r$at]})")"
}

# Each round starts every replica from the base copy again.
reset_replica() { # name
  sql "$1" -e "STOP SLAVE; RESET SLAVE ALL; DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ferry_meta" 2>/dev/null || true
  sql "$1" <"$work/base.sql"
}
write_job() {
  cat >"$work/job.toml" <<TOML
name = "bench-inc"
mode = "incremental"
[source]
host = "127.0.0.1"
port = ${FAR[$SP]}
user = "root"
[target]
host = "127.0.0.1"
port = ${FAR[${PORT[ferry]}]}
user = "root"
[objects]
include = ["$DB.*"]
[incremental]
start = "binlog:$FILE0:$POS0"
${APPLY_WORKERS:+apply_workers = $APPLY_WORKERS}
${VSHARE:+verify_share = $VSHARE}
TOML
}
# Read as the native replicas' position is (one client, no interpreter): the
# polling costs both sides the same on a machine of two cores.
applied() {
  local row
  row=$(sql ferry -N -e "SELECT JSON_VALUE(sync_position, '\$.file'), JSON_VALUE(sync_position, '\$.pos') FROM ferry_meta.jobs WHERE job='bench-inc'" 2>/dev/null) || true
  read -r f p <<<"$row"
  echo "${f:--} ${p:-0}"
}
ferry_catchup() {
  write_job
  settle
  local t0; t0=$(now)
  /usr/bin/time -f "%M %U %S" -o "$work/ferry.rss" "$FERRY" run "$work/job.toml" --json >"$work/ferry.json" 2>"$work/ferry.events" &
  local fpid=$!
  while :; do
    read -r f p < <(applied)
    if [ "$f" = "$FILE1" ] && [ "$p" -ge "$POS1" ]; then break; fi
    if [ "$f" != "-" ] && [ "$f" \> "$FILE1" ]; then break; fi
    kill -0 $fpid 2>/dev/null || { echo "bench: ferry stopped:" >&2; tail -5 "$work/ferry.events" >&2; exit 1; }
    sleep 0.05
  done
  T[ferry$at]=$(python3 -c "print($(now) - $t0)")
  pkill -INT -P $fpid 2>/dev/null || kill -INT $fpid 2>/dev/null || true; wait $fpid || true
  local got; got=$(sql ferry -N -e "CHECKSUM TABLE $tables_list" | awk '{print $2}' | tr '\n' ' ')
  [ "$got" = "$expected" ] || { echo "bench: ferry's target differs from the source" >&2; exit 1; }
  printf "%-34s %8.2f s  %8.0f txn/s\n" "ferry (incremental)$at" "${T[ferry$at]}" "$(python3 -c "print($TXNS / ${T[ferry$at]})")"
}

RTTS=${RTT_MS:--}
first=1
for rtt in $RTTS; do
  start_proxies "$rtt" "$SP" "${PORT[ferry]}"
  at=$(at_rtt "$rtt")
  [ "$rtt" = "-" ] || echo "bench: $rtt ms round trip between each replica (and Ferry) and the servers"
  if [ $first = 0 ]; then for r in "${replicas[@]}"; do reset_replica "$r"; done; fi
  first=0
  native serial 0 conservative
  native optimistic2 2 optimistic
  native optimistic4 4 optimistic
  ferry_catchup
done

# Lag: Ferry follows the source (the job resumes where its catch-up ended) while
# sysbench writes at a fixed rate next to the source, once per distance.
lag_at() { # rtt [off]
  start_proxies "$1" "$SP" "${PORT[ferry]}"
  at=$(at_rtt "$1")${2:+-$2}
  VSHARE=${2:+0} write_job
  /usr/bin/time -f "%M %U %S" -o "$work/ferry.rss$at" "$FERRY" run "$work/job.toml" --json >"$work/ferry.json" 2>"$work/ferry.events" &
  local fpid=$!
  # The lag is measured once Ferry follows (its start-up at a distance is the
  # catch-up race's business): wait until a heartbeat written now arrives.
  sql source -e "REPLACE INTO $DB.heartbeat VALUES (1, NOW(6))"
  local want; want=$(sql source -N -e "SELECT ts FROM $DB.heartbeat WHERE id = 1")
  until [ "$(sql ferry -N -e "SELECT ts FROM $DB.heartbeat WHERE id = 1" 2>/dev/null)" = "$want" ]; do
    kill -0 $fpid 2>/dev/null || { echo "bench: ferry stopped:" >&2; tail -5 "$work/ferry.events" >&2; exit 1; }
    sleep 0.05
  done
  echo "bench: lag$at (verification ${2:-on}) while sysbench writes $RATE txn/s for $RATE_SECS s (heartbeat every 50 ms)"
  sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root \
    --mysql-db=$DB --tables=$TABLES --table-size=$ROWS --threads=4 --rate="$RATE" --time="$RATE_SECS" run >"$work/rate.txt" &
  local spid=$!
  python3 - "$SP" "${PORT[ferry]}" "$RATE_SECS" "$DB" <<'PY' >"$work/lag$at.txt"
import subprocess, sys, time
sp, tp, secs, db = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
def q(port, sql):
    return subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-e", sql],
                          capture_output=True, text=True).stdout.strip()
lags = []
end = time.time() + secs
first = None
while time.time() < end:
    written = q(sp, f"REPLACE INTO {db}.heartbeat VALUES (1, NOW(6)); SELECT ts FROM {db}.heartbeat WHERE id = 1")
    first = first or written
    time.sleep(0.05)
    # Lag: how old the newest heartbeat the target has is, minus our own sleep; one
    # older than this loop's first counts from that first (it was not applied yet).
    v = q(tp, f"SELECT TIMESTAMPDIFF(MICROSECOND, GREATEST(ts, '{first}'), NOW(6)) / 1e6 FROM {db}.heartbeat WHERE id = 1")
    if v:
        lags.append(max(0.0, float(v) - 0.05))
lags.sort()
p = lambda x: lags[min(len(lags) - 1, int(len(lags) * x))] if lags else float("nan")
print(f"{len(lags)} {p(0.5):.3f} {p(0.99):.3f} {lags[-1] if lags else float('nan'):.3f}")
PY
  wait $spid
  awk '/transactions:/{gsub(/[(]/,"",$3); print $3}' "$work/rate.txt" >"$work/rate$at.txt"
  pkill -INT -P $fpid 2>/dev/null || kill -INT $fpid 2>/dev/null || true; wait $fpid || true
  # What the continuous verification did meanwhile (its last status in the run's events).
  python3 - "$work/ferry.events" <<'PY' >"$work/verify$at.txt"
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "sync" and e.get("verification"):
        last = e["verification"]
print("off" if last is None else f"compared {last['compared']} ranges, {last['requeued']} again, verified {last['verified']} of {last['chunks']}")
PY
}
for rtt in $RTTS; do lag_at "$rtt" off; lag_at "$rtt"; done
stop_proxies

echo
echo "backlog: $TXNS txn (oltp_write_only, 4 row changes each)"
for rtt in $RTTS; do
  at=$(at_rtt "$rtt")
  read -r n p50 p99 pmax <"$work/lag$at.txt"
  read -r _ _ off99 _ <"$work/lag$at-off.txt"
  python3 - <<PY
serial, o2, o4, ferry = ${T[serial$at]}, ${T[optimistic2$at]}, ${T[optimistic4$at]}, ${T[ferry$at]}
best = min(serial, o2, o4)
label = "no proxy" if "$rtt" == "-" else "$rtt ms round trip"
print(f"{label}:")
print(f"  ferry vs best native          {best / ferry:8.2f}x faster   (target >= 2.5x without delay, 1.5x at 20 ms, 1.0x at 50 ms)")
print(f"  lag at $(cat "$work/rate$at.txt") txn/s         p50 {float('$p50'):.3f} s, p99 {float('$p99'):.3f} s, max {float('$pmax'):.3f} s over $n samples   (target p99 < 150 ms at 20 ms)")
print(f"  the verification during the lag run: $(cat "$work/verify$at.txt")")
print(f"  lag p99 with the verification {float('$p99') / max(float('$off99'), 0.001):8.2f}x the p99 without it ({float('$off99'):.3f} s)   (target <= 1.25x)")
print(f"  ferry peak RSS                {int(open('$work/ferry.rss$at').read().split()[0]) / 1024:8.1f} MiB")
PY
done
