# Shared by the bench scripts: a release build of ferry (or FERRY_BIN), a scratch
# directory, throwaway MariaDB servers (stopped and removed on exit), and the
# delaying proxy that puts them at a distance.
#   . bench/lib.sh; bench_init NAME; start_server NAME SERVER_ID PORT [mariadbd flags…]
#   start_proxies RTT_MS PORT…   then ${FAR[PORT]} is PORT seen RTT_MS away
#   RTT_MS="0 20 50" (default: "-", no proxy at all) lists the distances a script
#   runs its comparison at, every tool going through the same proxies.

bench_init() { # scratch-name
  if [ -n "${FERRY_BIN:-}" ]; then
    # A given build (e.g. main before a change, for a before/after comparison).
    FERRY=$FERRY_BIN
  else
    cargo build --release --bin ferry >/dev/null
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    FERRY="$target_dir/release/ferry"
  fi
  if [ "${RTT_MS:--}" != "-" ]; then
    cargo build --release --example delay_proxy >/dev/null
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    PROXY_BIN="$target_dir/release/examples/delay_proxy"
  fi
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  user_flag=""
  [ "$(id -u)" = 0 ] && user_flag="--user=root"
  pids=()
  trap cleanup EXIT
}

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # name server_id port extra...
  local name=$1 id=$2 port=$3; shift 3
  local dir="$work/$name"
  mkdir -p "$dir"
  mariadb-install-db --no-defaults --datadir="$dir/data" $user_flag --auth-root-authentication-method=normal --skip-test-db >/dev/null
  cat >"$dir/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
SQL
  # InnoDB flushed lazily on every server; each script adds its own flags. Each
  # server has its own tmpdir: a starting mariadbd deletes the `#sql*` files there.
  mariadbd --no-defaults $user_flag --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/sock" --pid-file="$dir/pid" --tmpdir="$dir" --log-error="$dir/error.log" --init-file="$dir/init.sql" \
    --server-id="$id" --skip-name-resolve --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=64M "$@" &
  pids+=($!)
  for _ in $(seq 1 300); do
    mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: $name did not start" >&2; cat "$dir/error.log" >&2; exit 1
}

declare -A FAR
proxy_pid=""
# Puts every PORT behind one proxy that adds RTT/2 ms each way ("-": no proxy, FAR
# maps each port to itself). Replaces the previous distance's proxy.
start_proxies() { # rtt_ms port...
  local rtt=$1; shift
  stop_proxies
  if [ "$rtt" = "-" ]; then
    for p in "$@"; do FAR[$p]=$p; done
    return 0
  fi
  local pairs=() p l
  for p in "$@"; do l=$(free_port); FAR[$p]=$l; pairs+=("$l:$p"); done
  "$PROXY_BIN" "$((rtt / 2))" "${pairs[@]}" >"$work/proxy.out" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 1 100); do grep -q ready "$work/proxy.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "bench: the delay proxy did not start" >&2; cat "$work/proxy.out" >&2; exit 1
}
stop_proxies() {
  [ -n "$proxy_pid" ] || return 0
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=""
}
# "at 20 ms" / "" for the no-proxy run, to label results.
at_rtt() { [ "$1" = "-" ] && echo "" || echo " @${1}ms"; }

# Waits (at most 20 s) until the machine is idle: a server still purging or
# flushing what the previous run wrote would take CPU from the next run on 2
# cores. Every timed sub-second run starts on the same quiet machine. Prints
# how long it waited when that was more than a second, to stderr.
settle() {
  python3 - <<'PY'
import sys, time
def sample():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
start = time.time()
while time.time() - start < 20:
    t0, i0 = sample(); time.sleep(0.25); t1, i1 = sample()
    if 1 - (i1 - i0) / max(1, t1 - t0) < 0.10:
        break
waited = time.time() - start
if waited > 1:
    print(f"bench: waited {waited:.1f} s for the machine to be idle", file=sys.stderr)
PY
}
