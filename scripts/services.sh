#!/usr/bin/env bash
# Starts the services the system and its tests need, on loopback, with data
# directories under .local/ (never the distribution's own):
#   scripts/services.sh rabbitmq     RabbitMQ on 127.0.0.1:5672
#   scripts/services.sh postgres     PostgreSQL on 127.0.0.1:5432
#   scripts/services.sh stop         stop both (only the ones this script started)
#   scripts/services.sh postgres-stop  stop PostgreSQL only (the fault suite)
#   scripts/services.sh browser      install Chromium and ChromeDriver (the console's browser tests)
# Installs Debian's packages when they are missing (needs root and apt-get).
# Idempotent: a service this script started and that still answers is left
# alone. With --own (what scripts/test.sh asks, because its tests stop and
# restart the broker and PostgreSQL), a port held by anything this checkout
# did not start is refused, naming the process; without it, such a service
# is used as it is (scripts/run-local.sh only sends it messages).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="$root/.local"
mkdir -p "$local_dir"

# Everything RabbitMQ needs to find its own node again (server and rabbitmqctl).
rabbitmq_env() {
  export HOME="$local_dir/rabbitmq/home"
  export RABBITMQ_NODENAME=leadpipe@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="${RABBITMQ_NODE_PORT:-5672}"
  export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$local_dir/rabbitmq/mnesia"
  export RABBITMQ_LOG_BASE="$local_dir/rabbitmq/log"
  export RABBITMQ_CONFIG_FILE="$local_dir/rabbitmq/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$local_dir/rabbitmq/enabled_plugins"
  export RABBITMQ_PID_FILE="$local_dir/rabbitmq/rabbitmq.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --own: refuse a service on our port that this checkout did not start.
must_own=""
for arg in "$@"; do [ "$arg" = --own ] && must_own=1; done

# True when the server listening on port $2 is the process in pid file $1
# (one this script started). Without ss to ask, a live process in the pid
# file is taken as the listener.
ours_on_port() { # pid-file port
  local pid listener
  [ -f "$1" ] && pid=$(head -n 1 "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  command -v ss >/dev/null 2>&1 || return 0
  listener=$(ss -ltnpH "sport = :$2" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2)
  grep -qx "$pid" <<<"$listener"
}

# A service this checkout did not start holds the port: with --own, stop
# here and say what holds it and what to do; otherwise use it.
foreign_service() { # name port which-tests-stop-it how-to-stop
  local holder
  holder=$(ss -ltnpH "sport = :$2" 2>/dev/null \
    | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1 || true)
  if [ -n "$must_own" ]; then
    {
      echo "services.sh: 127.0.0.1:$2 is taken by ${holder:-a process ss cannot name}, which this checkout did not start."
      echo "  The tests stop and restart their $1 ($3), so they need one of their own on that port."
      echo "  Stop that process ($4) and run the tests again."
    } >&2
    exit 1
  fi
  echo "$1: already listening on 127.0.0.1:$2 (${holder:-not started by this script}); used as it is"
}

need_packages() {
  local missing=()
  for pkg in "$@"; do
    # "install ok installed" only: a removed package keeps a dpkg record
    # (status "deinstall ok config-files") that `dpkg -s` still accepts.
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian's packages" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    # Keep the packages from starting their own system-wide services (on all
    # interfaces, with the distribution's data directories): we start our own.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod +x "$policy"
      made_policy=1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$made_policy" ] || $sudo rm -f "$policy"
  fi
}

start_rabbitmq() {
  rabbitmq_env
  if port_open "$RABBITMQ_NODE_PORT"; then
    if ours_on_port "$RABBITMQ_PID_FILE" "$RABBITMQ_NODE_PORT"; then
      echo "rabbitmq: already running on 127.0.0.1:$RABBITMQ_NODE_PORT (started by this script)"
    else
      foreign_service rabbitmq "$RABBITMQ_NODE_PORT" "the broker outage, the fault suite" \
        "Debian's own: systemctl stop rabbitmq-server; another checkout's: its scripts/services.sh stop"
    fi
    return
  fi
  need_packages rabbitmq-server
  mkdir -p "$HOME" "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
  cat > "$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_NODE_PORT
loopback_users = none
# A lower watermark than the default keeps a busy test machine from blocking publishers.
disk_free_limit.absolute = 200MB
CONF
  echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  /usr/lib/rabbitmq/bin/rabbitmq-server -detached
  /usr/lib/rabbitmq/bin/rabbitmqctl wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null
  echo "rabbitmq: started on 127.0.0.1:$RABBITMQ_NODE_PORT (data in $local_dir/rabbitmq)"
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

start_postgres() {
  local port="${PGPORT:-5432}"
  if port_open "$port"; then
    if ours_on_port "$local_dir/postgres/data/postmaster.pid" "$port"; then
      echo "postgres: already running on 127.0.0.1:$port (started by this script)"
    else
      foreign_service postgres "$port" "the fault suite" \
        "Debian's own: systemctl stop postgresql; another checkout's: its scripts/services.sh stop"
    fi
    return
  fi
  need_packages postgresql
  local bin data run as=()
  bin=$(pg_bin)
  data="$local_dir/postgres/data"
  run="$local_dir/postgres/run"
  mkdir -p "$local_dir/postgres" "$run"
  # PostgreSQL refuses to run as root: hand its directories to the postgres user.
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$local_dir/postgres"
    as=(runuser -u postgres --)
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$local_dir/postgres/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$run -c max_connections=300 -c fsync=on" start >/dev/null
  echo "postgres: started on 127.0.0.1:$port (data in $data, user postgres, trust auth on loopback)"
}

stop_postgres() {
  local data="$local_dir/postgres/data" as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  if [ -f "$data/postmaster.pid" ]; then
    "${as[@]}" "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

stop_all() {
  rabbitmq_env
  if [ -f "$RABBITMQ_PID_FILE" ]; then
    /usr/lib/rabbitmq/bin/rabbitmqctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
  fi
  stop_postgres
}

# The console's browser tests drive Debian's Chromium through ChromeDriver;
# the tests start both themselves, on loopback.
install_browser() {
  need_packages chromium chromium-driver
  echo "browser: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
}

case "${1:-}" in
  rabbitmq) start_rabbitmq ;;
  browser) install_browser ;;
  postgres) start_postgres ;;
  all) start_rabbitmq; start_postgres; install_browser ;;
  stop) stop_all ;;
  postgres-stop) stop_postgres ;;
  # Runs rabbitmqctl against the node this script started (tests use it to stop and start the broker).
  rabbitmqctl) shift; rabbitmq_env; exec /usr/lib/rabbitmq/bin/rabbitmqctl "$@" ;;
  *) echo "usage: $0 rabbitmq|postgres|browser|all [--own] | stop|postgres-stop | rabbitmqctl ARGS" >&2; exit 2 ;;
esac
