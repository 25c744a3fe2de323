#!/usr/bin/env bash
# A rough measurement (issue 6 will make the real benchmark): the edge under
# wrk with unique requests of five sources, then one and two workers
# draining into PostgreSQL and one into SQLite, 30 s each after a 5 s
# warm-up. Needs a release build, wrk (Debian's package) and the local
# services (scripts/services.sh all). Loopback only; bounded in time.
set -u
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p ingest -p worker
PREFIX=mixed-$(date +%s)
KEY=measure-partner-key-0001
export AMQP_PREFIX=$PREFIX RUST_LOG=warn INGEST_ADDR=127.0.0.1:18082
export LEAD_API_KEY_CARDEKHO=$KEY CALL_CAPTURE_API_KEYS=$KEY LEAD_RATE_LIMIT_PER_MINUTE=0 CRM_RATE_LIMIT_PER_MINUTE=0
target/release/ingest 2>/dev/null & EDGE=$!
sleep 1.5
echo "== edge, mixed sources: wrk -t2 -c64 -d25s -s mixed.lua"
wrk -t2 -c64 -d25s --latency -s bench/mixed.lua http://127.0.0.1:18082 | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"
echo "edge peak RSS: $(grep VmHWM /proc/$EDGE/status)"
kill -TERM $EDGE; wait $EDGE
sleep 6
queued() { scripts/services.sh rabbitmqctl list_queues name messages 2>/dev/null | awk -v p="$PREFIX." 'index($1,p)==1 && $1 !~ /retry|dead/ {s+=$2} END {print s+0}'; }
echo "queued: $(queued)"
rate() { # label count-cmd seconds pids...
  local label=$1 count=$2 secs=$3; shift 3
  sleep 5  # warm up
  local a=$($count) t0=$(date +%s.%N); sleep "$secs"; local b=$($count) t1=$(date +%s.%N)
  local dry=""
  [ "$(queued)" -gt 0 ] || dry=" (the queue ran dry: a lower bound)"
  echo "$label: $(( b - a )) in $(echo "$t1 - $t0" | bc | cut -c1-5) s -> $(echo "($b - $a) / ($t1 - $t0)" | bc) msg/s$dry"
  for p in "$@"; do echo "  worker $p peak RSS: $(grep VmHWM /proc/$p/status | awk '{print $2, $3}')"; done
}
# The slowest backend first, so every phase has a backlog to drain.
SQLITE_DIR=$(mktemp -d)
sq_count() { python3 -c "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('select count(*) from webhook_log').fetchone()[0])" "$SQLITE_DIR/leads.db" 2>/dev/null || echo 0; }
DATABASE_URL="sqlite://$SQLITE_DIR/leads.db?mode=rwc" target/release/worker & W3=$!
rate "sqlite, 1 worker" sq_count 30 $W3
kill -TERM $W3; wait $W3
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS mixed" -c "CREATE DATABASE mixed" postgres 2>/dev/null
pg_count() { psql -h 127.0.0.1 -U postgres -tAc "SELECT COUNT(*) FROM webhook_log" mixed 2>/dev/null || echo 0; }
export DATABASE_URL=postgres://postgres@127.0.0.1/mixed
target/release/worker & W1=$!
rate "postgres, 1 worker" pg_count 30 $W1
target/release/worker & W2=$!
rate "postgres, 2 workers" pg_count 30 $W1 $W2
kill -TERM $W1 $W2; wait $W1 $W2
echo "left in queues: $(queued)"
echo "dead-lettered: $(scripts/services.sh rabbitmqctl list_queues name messages 2>/dev/null | awk -v p="$PREFIX." 'index($1,p)==1 && $1 ~ /dead/ {s+=$2} END {print s+0}')"
PG=$(pg_count); SQ=$(sq_count); echo "persisted pg=$PG sqlite=$SQ"
# Clean up: the run's queues and databases.
for q in $(scripts/services.sh rabbitmqctl list_queues name 2>/dev/null | grep "^$PREFIX\."); do
  scripts/services.sh rabbitmqctl delete_queue "$q" >/dev/null 2>&1
done
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS mixed" postgres 2>/dev/null
rm -rf "$SQLITE_DIR"
