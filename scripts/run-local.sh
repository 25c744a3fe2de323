#!/usr/bin/env bash
# Runs the whole system on this machine without Docker: a local RabbitMQ
# (installed from Debian's packages when missing), the edge, one worker on
# the embedded SQLite default (./data/leadpipe.db) and the dealer console.
#
# It cannot lie: it finds the binaries where cargo put them (it asks cargo),
# starts each process, waits until each answers ready, and only then prints
# how to use them. If any process fails to start or dies later, it stops
# the others, says which one and why, and exits non-zero. Ctrl-C stops them
# all gracefully.
#
# Addresses (defaults): INGEST_ADDR 127.0.0.1:8080, CONSOLE_ADDR
# 127.0.0.1:8090, WORKER_ADMIN_ADDR 127.0.0.1:9100, EDGE_ADMIN_ADDR
# 127.0.0.1:9101. Any other variable of README's configuration table is
# passed on (ADMIN_TOKEN: the worker's webhook-log token; one is made up
# for this run when unset). RUN_PROFILE=dev runs a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "run-local: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 \
  || fail "cargo not found: install Rust 1.94 or newer (https://rustup.rs), then run this again"
if ! command -v cc >/dev/null 2>&1; then
  # SQLite is compiled from source into the worker.
  [ "$(id -u)" = 0 ] && sudo="" || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq gcc libc6-dev >/dev/null
fi

scripts/services.sh rabbitmq

profile="${RUN_PROFILE:-release}"
profile_flag=(--release)
[ "$profile" = release ] || profile_flag=(--profile "$profile")
echo "run-local: building (the first build takes a few minutes)" >&2
# cargo says where each binary is: whatever CARGO_TARGET_DIR or
# .cargo/config.toml chose.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! cargo build "${profile_flag[@]}" --locked -p ingest -p worker -p leadpipe-console -p dead-letters \
    --message-format=json-render-diagnostics >"$build_log"; then
  fail "the build failed (see cargo's messages above)"
fi
binary() {
  local path
  path=$(grep -o "\"executable\":\"[^\"]*/$1\"" "$build_log" | head -n 1 | cut -d'"' -f4)
  [ -n "$path" ] && [ -x "$path" ] || fail "cargo did not report a '$1' binary"
  echo "$path"
}
INGEST_BIN=$(binary ingest)
WORKER_BIN=$(binary worker)
CONSOLE_BIN=$(binary console)
DEAD_LETTERS_BIN=$(binary dead-letters)

export INGEST_ADDR="${INGEST_ADDR:-127.0.0.1:8080}"
export CONSOLE_ADDR="${CONSOLE_ADDR:-127.0.0.1:8090}"
WORKER_ADMIN_ADDR="${WORKER_ADMIN_ADDR:-127.0.0.1:9100}"
EDGE_ADMIN_ADDR="${EDGE_ADMIN_ADDR:-127.0.0.1:9101}"
if [ -z "${ADMIN_TOKEN:-}" ]; then
  ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  made_token=1
fi
export ADMIN_TOKEN

# Each process in a process group of its own (job control): a terminal's
# Ctrl-C then reaches this script alone, which stops them in order and says
# so, instead of reaching them all at once and reading as a crash.
set -m
names=() pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
on_signal() {
  trap - INT TERM
  echo "run-local: stopping, as asked (the worker finishes what it holds first)" >&2
  stop_all
  echo "run-local: stopped" >&2
  exit 0
}
trap on_signal INT TERM

# start NAME ADMIN_ADDR COMMAND…: a process with its own admin address.
start() {
  local name=$1 admin=$2
  shift 2
  ADMIN_ADDR=$admin "$@" &
  names+=("$name")
  pids+=($!)
}

# True when a process has exited; it is named in gone_name, gone_status.
gone() {
  local i
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      gone_name=${names[$i]}
      gone_status=0
      wait "${pids[$i]}" || gone_status=$?
      return 0
    fi
  done
  return 1
}

die_because_gone() {
  echo >&2
  echo "run-local: the $gone_name stopped (exit status $gone_status); its messages are above. Stopping the rest." >&2
  stop_all
  exit 1
}

ready() { # admin-address
  local host=${1%:*} port=${1##*:} line
  # (In braces: `exec` with a redirection of its own would keep it.)
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
  read -r -t 5 line <&3 || { exec 3<&-; return 1; }
  exec 3<&-
  [[ "$line" == *" 200 "* ]]
}

listening() { # address
  (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

start worker "$WORKER_ADMIN_ADDR" "$WORKER_BIN"
start edge "$EDGE_ADMIN_ADDR" "$INGEST_BIN"
start console off "$CONSOLE_BIN"

deadline=$((SECONDS + ${RUN_READY_TIMEOUT:-120}))
until ready "$WORKER_ADMIN_ADDR" && ready "$EDGE_ADMIN_ADDR" && listening "$CONSOLE_ADDR"; do
  if gone; then die_because_gone; fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run-local: not ready after ${RUN_READY_TIMEOUT:-120} s (worker $WORKER_ADMIN_ADDR/readyz, edge $EDGE_ADMIN_ADDR/readyz, console $CONSOLE_ADDR); stopping" >&2
    stop_all
    exit 1
  fi
  sleep 0.2
done

token_note=""
[ -n "${made_token:-}" ] && token_note=" (made up for this run; set ADMIN_TOKEN to choose it)"
cat <<MSG

leadpipe is running (pids: worker ${pids[0]}, edge ${pids[1]}, console ${pids[2]}).

  edge (partners)   http://$INGEST_ADDR
  worker            persists to ${DATABASE_URL:-./data/leadpipe.db}; admin http://$WORKER_ADMIN_ADDR
  edge admin        http://$EDGE_ADMIN_ADDR/metrics
  console (staff)   http://$CONSOLE_ADDR

1. Send the Tata call contract's example:

  curl -i -X POST http://$INGEST_ADDR/api/webhook/ -H 'Content-Type: application/json' \\
    -d '{"call_id": "TEST-001", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed", "staff_name": "Test Staff", "disposition_code": "SALES_INQ", "vehicle_model": "Nexon", "is_lead": true, "lead_quality": "hot"}'

2. See it land in the worker's webhook log (ADMIN_TOKEN=$ADMIN_TOKEN$token_note):

  curl -s -H 'Authorization: Bearer $ADMIN_TOKEN' 'http://$WORKER_ADMIN_ADDR/logs?call_id=TEST-001'

3. Make a console account (the password is read from standard input, 12 characters or more),
   then sign in at http://$CONSOLE_ADDR:

  ${DATABASE_URL:+DATABASE_URL='$DATABASE_URL' }$CONSOLE_BIN user add YOUR_NAME --password-stdin

Dead letters: $DEAD_LETTERS_BIN list. Ctrl-C stops everything.
MSG

# Watch: the first process to stop takes the rest down, loudly.
while true; do
  if gone; then die_because_gone; fi
  sleep 0.5
done
