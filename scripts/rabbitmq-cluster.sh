#!/usr/bin/env bash
# A three-node RabbitMQ cluster on loopback, for the cluster test and for
# trying AMQP_URL with several nodes by hand. Each node has its own name,
# ports and data directory under .local/cluster/; all share one Erlang
# cookie. Independent of the single node scripts/services.sh runs.
#
#   scripts/rabbitmq-cluster.sh start      start the three nodes and join them (idempotent)
#   scripts/rabbitmq-cluster.sh urls       print AMQP_URL for the three nodes
#   scripts/rabbitmq-cluster.sh kill N     SIGKILL node N (1 to 3), as a crash would
#   scripts/rabbitmq-cluster.sh restart N  start node N again (it rejoins the cluster)
#   scripts/rabbitmq-cluster.sh ctl N ARGS rabbitmqctl against node N
#   scripts/rabbitmq-cluster.sh stop       stop every node this script started
#   scripts/rabbitmq-cluster.sh wipe       stop them and delete their data (the next start is a fresh cluster)
#
# Node N listens for AMQP on 127.0.0.1:568N and for Erlang distribution on
# 2568N. Needs Debian's rabbitmq-server (scripts/services.sh installs it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base="$root/.local/cluster"
mkdir -p "$base/home"

fail() { echo "rabbitmq-cluster: $*" >&2; exit 1; }

node_env() { # N
  local n=$1
  [[ "$n" =~ ^[1-3]$ ]] || fail "node must be 1, 2 or 3, not '$n'"
  export HOME="$base/home"
  export RABBITMQ_NODENAME="leadpipe-c$n@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="568$n"
  export RABBITMQ_DIST_PORT="2568$n"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$base/$n/mnesia"
  export RABBITMQ_LOG_BASE="$base/$n/log"
  export RABBITMQ_CONFIG_FILE="$base/$n/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$base/$n/enabled_plugins"
  export RABBITMQ_PID_FILE="$base/$n/rabbitmq.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() { # N ARGS...
  local n=$1
  shift
  (node_env "$n" && /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" "$@")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() { # N
  (
    node_env "$1"
    if port_open "$RABBITMQ_NODE_PORT"; then
      return 0
    fi
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] \
      || fail "rabbitmq-server is not installed (scripts/services.sh rabbitmq installs it)"
    mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
    cat > "$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_NODE_PORT
loopback_users = none
disk_free_limit.absolute = 200MB
CONF
    echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    /usr/lib/rabbitmq/bin/rabbitmq-server -detached
    /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null \
      || fail "node $1 did not start (log: $RABBITMQ_LOG_BASE)"
  )
}

members() { ctl 1 cluster_status --formatter json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(len(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null || echo 0; }

start() {
  for n in 1 2 3; do start_node "$n"; done
  for n in 2 3; do
    if ! ctl 1 cluster_status 2>/dev/null | grep -q "leadpipe-c$n@localhost"; then
      for step in stop_app reset "join_cluster leadpipe-c1@localhost" start_app; do
        # shellcheck disable=SC2086 # the step's words are its arguments
        ctl "$n" $step >"$base/join.log" 2>&1 \
          || fail "node $n: rabbitmqctl $step failed: $(cat "$base/join.log")"
      done
    fi
  done
  local running
  running=$(members)
  [ "$running" = 3 ] || fail "the cluster has $running running nodes, not 3"
  echo "rabbitmq-cluster: 3 nodes on 127.0.0.1:5681-5683 (data in $base)"
}

kill_node() { # N
  local pid
  pid=$(node_env "$1" && cat "$RABBITMQ_PID_FILE" 2>/dev/null) || fail "node $1 has no pid file"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

stop() {
  for n in 3 2 1; do
    local pid_file="$base/$n/rabbitmq.pid"
    [ -f "$pid_file" ] && ctl "$n" stop "$pid_file" >/dev/null 2>&1 || true
  done
}

case "${1:-}" in
  start) start ;;
  urls) echo "amqp://127.0.0.1:5681/%2f,amqp://127.0.0.1:5682/%2f,amqp://127.0.0.1:5683/%2f" ;;
  kill) kill_node "${2:-}" ;;
  restart) start_node "${2:-}" ;;
  ctl) shift; n=${1:-}; shift; ctl "$n" "$@" ;;
  stop) stop ;;
  wipe) stop; rm -rf "${base:?}" ;;
  *) echo "usage: $0 start|urls|kill N|restart N|ctl N ARGS|stop" >&2; exit 2 ;;
esac
