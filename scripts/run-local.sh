#!/usr/bin/env bash
# Runs the whole system on this machine without Docker: a local RabbitMQ
# (installed from Debian's packages when missing), the edge on
# 127.0.0.1:8080, one worker on the embedded SQLite default
# (./data/leadpipe.db) and the dealer console on 127.0.0.1:8090.
# Ctrl-C stops them all gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust 1.94 or newer (https://rustup.rs), then run this again" >&2
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  # SQLite is compiled from source into the worker.
  [ "$(id -u)" = 0 ] && sudo="" || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq gcc libc6-dev >/dev/null
fi

scripts/services.sh rabbitmq
cargo build --release --locked -p ingest -p worker -p dead-letters -p console

export INGEST_ADDR="${INGEST_ADDR:-127.0.0.1:8080}"
pids=()
stop() {
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM

target/release/worker & pids+=($!)
target/release/ingest & pids+=($!)
target/release/console & pids+=($!)

cat <<MSG

The edge listens on http://$INGEST_ADDR and a worker persists to ./data/leadpipe.db.
Health and metrics: http://127.0.0.1:9101/metrics (edge), http://127.0.0.1:9100/metrics
(worker; set ADMIN_TOKEN to read its webhook log at /logs). Dead letters:
target/release/dead-letters list.
The dealer console is on http://${CONSOLE_ADDR:-127.0.0.1:8090}. It has no account until
you make one (the password is read from standard input, at least 12 characters):

  target/release/console user add YOUR_NAME --password-stdin

Send the contract's example:

  curl -i -X POST http://$INGEST_ADDR/api/webhook/ -H 'Content-Type: application/json' \\
    -d '{"call_id": "TEST-001", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed", "staff_name": "Test Staff", "disposition_code": "SALES_INQ", "vehicle_model": "Nexon", "is_lead": true, "lead_quality": "hot"}'

Ctrl-C stops them all.
MSG
wait
