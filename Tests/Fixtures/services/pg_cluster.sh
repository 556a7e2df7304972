#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests and the bench, never the machine's own: its own data directory,
# a free port on 127.0.0.1 only, its socket in that directory, password (SCRAM) login for the user "patchbay".
# Run as root, the server runs as the postgres user (PostgreSQL refuses to run as root).
#   pg_cluster.sh start DIR PASSWORD   prints the port on stdout once the server accepts connections
#   pg_cluster.sh stop DIR             stops it at once and deletes DIR
#   pg_cluster.sh bin                  prints the directory of the newest server's programs (psql, pg_ctl, ...)
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "no PostgreSQL server (Debian: apt-get install postgresql)" >&2; exit 2; }
# The server must not keep a descriptor its starter inherited (a caller waiting for EOF on it would wait forever).
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-}" in
bin)
  echo "$bin"
  ;;
start)
  dir=$2 password=$3
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  printf '%s\n' "$password" > "$dir/password"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/password"
  as_owner "$bin/initdb" -D "$dir/data" -U patchbay --pwfile="$dir/password" -A scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/password"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "$port"
  ;;
stop)
  dir=$2
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*) echo "usage: pg_cluster.sh start DIR PASSWORD | stop DIR | bin" >&2; exit 2 ;;
esac
