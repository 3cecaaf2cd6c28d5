# Shared by the bench scripts: a release build of ferry (or FERRY_BIN), a scratch
# directory, and throwaway MariaDB servers (stopped and removed on exit).
#   . bench/lib.sh; bench_init NAME; start_server NAME SERVER_ID PORT [mariadbd flags…]

bench_init() { # scratch-name
  if [ -n "${FERRY_BIN:-}" ]; then
    # A given build (e.g. main before a change, for a before/after comparison).
    FERRY=$FERRY_BIN
  else
    cargo build --release --bin ferry >/dev/null
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    FERRY="$target_dir/release/ferry"
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
