# PostgreSQL and Redis for the test suite, sourced by scripts/test.
#
# For each service, in this order:
#   1. the URL given in SIGIL_TEST_POSTGRES_URL / SIGIL_TEST_REDIS_URL;
#   2. a server answering on the default address (127.0.0.1:5432 / 127.0.0.1:6379; override the
#      probed address with SIGIL_TEST_POSTGRES_PROBE / SIGIL_TEST_REDIS_PROBE, e.g. to force
#      step 3); for PostgreSQL, only if it lets `postgres` in to database `test` (else step 3);
#   3. a throwaway server of our own on a free port, in a temporary directory: PostgreSQL from
#      Debian's packages (initdb, trust authentication, no fsync, run as the `postgres` user when
#      we are root), Redis without persistence. Missing programs are installed with apt-get.
#      `stop_services` stops them and removes their directory; scripts/test calls it on exit,
#      also after a failure or Ctrl-C.
# Either way the URLs are exported for the tests, with SIGIL_TEST_REQUIRE_SERVICES=1 so that a
# test never skips for want of a service. Nothing here touches a server we did not start.

services_dir=""
pg_data=""
pg_user=""
pg_bin=""
redis_pidfile=""

say() { printf '    %s\n' "$*"; }
die() {
  printf 'scripts/test: %s\n' "$*" >&2
  exit 1
}

# Does something accept TCP connections on host:port? (bash's /dev/tcp: no other tool needed)
answers() {
  local host="${1%:*}" port="${1##*:}"
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

apt_updated=""
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  command -v apt-get >/dev/null || die "$* missing and no apt-get to install it: install it, or set the SIGIL_TEST_*_URL variables"
  say "installing $* with apt-get"
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_services_dir() {
  if [ -z "$services_dir" ]; then
    # Under /tmp even when TMPDIR is private: the postgres user must reach it.
    services_dir="$(mktemp -d /tmp/sigil-test-services.XXXXXX)"
    chmod 755 "$services_dir"
  fi
}

# Runs a PostgreSQL program as the server's OS user (initdb and postgres refuse root).
as_pg_user() {
  if [ -n "$pg_user" ]; then
    (cd / && runuser -u "$pg_user" -- "$@")
  else
    "$@"
  fi
}

find_pg_bin() {
  local dir
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return
  fi
  # Debian keeps them out of PATH, per major version.
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

start_throwaway_postgres() {
  pg_bin="$(find_pg_bin || true)"
  if [ -z "$pg_bin" ]; then
    apt_install postgresql
    pg_bin="$(find_pg_bin || true)"
    [ -n "$pg_bin" ] || die "apt-get installed postgresql but no initdb was found"
  fi
  ensure_services_dir
  local dir="$services_dir/postgres" port
  mkdir -p "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
    chown -R "$pg_user" "$dir"
  fi
  pg_data="$dir/data"
  port="$(free_port)"
  as_pg_user "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/postgres.log" -w -t 60 -o \
    "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; die "the throwaway PostgreSQL did not start"; }
  export SIGIL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  say "PostgreSQL: a throwaway server ($("$pg_bin/postgres" --version | awk '{print $3}')) on 127.0.0.1:$port, in $dir${pg_user:+, as user $pg_user}"
}

start_throwaway_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-server >/dev/null || die "apt-get installed redis-server but it is not on PATH"
  ensure_services_dir
  local dir="$services_dir/redis" port
  mkdir -p "$dir"
  port="$(free_port)"
  redis_pidfile="$dir/redis.pid"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$redis_pidfile" --logfile "$dir/redis.log" >/dev/null ||
    die "the throwaway Redis did not start (see $dir/redis.log)"
  for _ in $(seq 100); do
    answers "127.0.0.1:$port" && break
    sleep 0.1
  done
  answers "127.0.0.1:$port" || { cat "$dir/redis.log" >&2; die "the throwaway Redis does not answer"; }
  export SIGIL_TEST_REDIS_URL="redis://127.0.0.1:$port"
  say "Redis: a throwaway server ($(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)) on 127.0.0.1:$port, no persistence"
}

# Does the default PostgreSQL let the tests in? Without psql we cannot tell: assume it does.
postgres_lets_us_in() {
  command -v psql >/dev/null || return 0
  PGCONNECT_TIMEOUT=5 psql --no-password "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

start_services() {
  local probe url
  if [ -n "${SIGIL_TEST_POSTGRES_URL:-}" ]; then
    say "PostgreSQL: SIGIL_TEST_POSTGRES_URL (${SIGIL_TEST_POSTGRES_URL%%\?*})"
  else
    probe="${SIGIL_TEST_POSTGRES_PROBE:-127.0.0.1:5432}"
    url="postgres://postgres@$probe/test"
    if answers "$probe" && postgres_lets_us_in "$url"; then
      export SIGIL_TEST_POSTGRES_URL="$url"
      say "PostgreSQL: the server on $probe ($url; set SIGIL_TEST_POSTGRES_URL to use another)"
    else
      if answers "$probe"; then
        say "PostgreSQL on $probe does not let postgres into database test: starting our own"
      fi
      start_throwaway_postgres
    fi
  fi
  if [ -n "${SIGIL_TEST_REDIS_URL:-}" ]; then
    say "Redis: SIGIL_TEST_REDIS_URL (${SIGIL_TEST_REDIS_URL})"
  else
    probe="${SIGIL_TEST_REDIS_PROBE:-127.0.0.1:6379}"
    if answers "$probe"; then
      export SIGIL_TEST_REDIS_URL="redis://$probe"
      say "Redis: the server on $probe (set SIGIL_TEST_REDIS_URL to use another)"
    else
      start_throwaway_redis
    fi
  fi
  export SIGIL_TEST_REQUIRE_SERVICES=1
}

# Stops what start_services started (only that) and removes its directory.
stop_services() {
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 ||
      echo "scripts/test: could not stop the throwaway PostgreSQL in $pg_data" >&2
  fi
  if [ -n "$redis_pidfile" ] && [ -f "$redis_pidfile" ]; then
    kill "$(cat "$redis_pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do
      [ -f "$redis_pidfile" ] || break
      sleep 0.1
    done
  fi
  if [ -n "$services_dir" ]; then
    rm -rf "$services_dir"
  fi
  pg_data=""
  redis_pidfile=""
  services_dir=""
}
