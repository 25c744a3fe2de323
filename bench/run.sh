#!/usr/bin/env bash
# The benchmark, one command (results and how to read them: BENCHMARKS.md).
# On this machine, one after another:
#   1. the broker's ceiling: a plain lapin publisher with confirms, many in
#      flight, persistent messages of the load's body size, into a quorum
#      queue (target/release/broker-ceiling);
#   2. the edge under wrk with unique bodies of all six sources
#      (bench/mixed.lua) at 16, 64 and 256 connections: requests per second,
#      p50/p99/p99.9, errors, the edge's peak memory; the ratio to the ceiling;
#   3. the edge with its broker unreachable, answering from its spool, at
#      64 connections: requests per second and the ratio to the connected
#      edge's rate at 64 connections;
#   4. workers draining a pre-filled queue of mixed sources: one, then two,
#      into PostgreSQL, then into SQLite; then queues of one source alone
#      (Tata calls, WhatsApp, CarDekho, call capture, CRM new_lead:
#      BENCH_SOURCE) and a mixed queue with a hot spot (BENCH_HOTSPOT: one
#      message in ten about one phone number and one call_id), one worker
#      each; messages per second, the
#      ratio to the rate the edge filled the queue at, and peak memory.
# Loopback only. Needs wrk (apt-get install wrk) and the local services
# (started here with scripts/services.sh). Takes about fifteen minutes.
#   BENCH_SECONDS (default 20): length of each load and drain window.
#   5. (section "live", not run by default) pushed updates: 50 pages of
#      one manager follow the console's event stream while 1,000 WhatsApp
#      messages from new numbers come through the edge at 100/s; when each
#      page hears of each (p50/p90/p99/max from the edge's 201), and the
#      CPU per message of the console, the worker and PostgreSQL
#      (BENCH_LIVE_CLIENTS, BENCH_LIVE_MESSAGES, BENCH_LIVE_RATE).
#   6. (section "reports", not run by default) the manager's reports over
#      90,000 leads (90 days of 1,000) seeded into PostgreSQL: the time of
#      GET /ajax/reports/ for 90 days and for 7, and the range reads' plans.
#   BENCH_SECTIONS (default "ceiling edge spool drain"): the sections to run,
#   for example BENCH_SECTIONS=drain to measure the workers alone (ratios to
#   a section not run are left out).
#   BENCH_SCENARIOS (default "mixed tata whatsapp cardekho capture crm
#   hotspot"): the drain scenarios to run, for example BENCH_SCENARIOS=mixed.
#   The scenario "desk" (not run by default) measures the lead desk's cost:
#   a backlog of mixed sources, every message a new person, drained in turn
#   (the order alternating by round) by a baseline worker into a database
#   of its own and by this build's worker into a database with the desk
#   set up
#   as a dealer would (two teams, a routing rule, three members of each on
#   duty: every new lead is routed and assigned). BENCH_BASELINE_WORKER is
#   the baseline's binary (for example the build before the desk; default:
#   this build, with no team set up). BENCH_DESK_ROUNDS (default 2): how
#   many such backlogs each database drains.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${BENCH_SECONDS:-20}
SECTIONS=" ${BENCH_SECTIONS:-ceiling edge spool drain} "
SCENARIOS=${BENCH_SCENARIOS:-mixed tata whatsapp cardekho capture crm hotspot}
wants() { [[ "$SECTIONS" == *" $1 "* ]]; }
# A ratio with two decimals, or "n/a" when the divisor was not measured.
ratio() { if [ -n "${2:-}" ] && [ "${2:-0}" != 0 ]; then echo "scale=2; $1 / $2" | bc; else echo "n/a"; fi; }
BODY_BYTES=160   # the mean size of bench/mixed.lua's six bodies (90 to 230 bytes)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
scripts/services.sh rabbitmq >/dev/null
scripts/services.sh postgres >/dev/null
# The same packages as scripts/run-local.sh in one build (features are
# unified per build, so the same set reuses its binaries and the other way
# round), then the measuring programs on their own.
cargo build --release --locked -p ingest -p worker -p leadpipe-console -p dead-letters 2>&1 | tail -n 1
cargo build --release --locked -p bench 2>&1 | tail -n 1

KEY=measure-partner-key-0001
export RUST_LOG=warn LEAD_SOFT_LIMIT_PER_MINUTE=0 CRM_RATE_LIMIT_PER_MINUTE=0 \
  LEAD_API_KEY_CARDEKHO=$KEY LEAD_API_KEY_CARWALE=$KEY CALL_CAPTURE_API_KEYS=$KEY
EDGE_PORT=18090
# The edges' spools: one of their own (run-local's edge may hold data/spool).
export SPOOL_DIR; SPOOL_DIR=$(mktemp -d)
ctl() { scripts/services.sh rabbitmqctl "$@" 2>/dev/null; }
drop_prefix() { for q in $(ctl list_queues name | grep "^$1\."); do ctl delete_queue "$q" >/dev/null; done; }
peak() { awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$1/status"; }
# Sum of a metric on an admin listener, read with bash alone.
metric() { # port name
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
  awk -v m="$2" 'index($1, m) == 1 {s += $2} END {print s + 0}' <&3
  exec 3<&-
}

echo "## Machine"
echo "- $(nproc) cores: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; Linux $(uname -r)"
echo "- RabbitMQ $(ctl version), $(/usr/lib/postgresql/*/bin/postgres --version | head -n 1), $(rustc --version | cut -d' ' -f1-2), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "- load generator, edge, broker, database and workers all on this machine"
echo

declare -A CEILING
declare -A EDGE_RPS
BEST=0
if wants ceiling; then
echo "## Broker ceiling (broker-ceiling $SECONDS_EACH s, $BODY_BYTES-byte persistent messages, 4 channels, quorum queue)"
for inflight in 16 64 256; do
  line=$(target/release/broker-ceiling "$SECONDS_EACH" "$inflight" "$BODY_BYTES" 4)
  CEILING[$inflight]=$(echo "$line" | awk '{print $2}')
  echo "- $inflight in flight: ${CEILING[$inflight]} msg/s"
done
echo
fi

if wants edge; then
echo "## Edge (wrk -t2 -d${SECONDS_EACH}s, bench/mixed.lua: unique bodies, six sources)"
echo "| connections | requests/s | p50 ms | p99 ms | p99.9 ms | non-2xx | socket errors | edge peak RSS | edge / ceiling (same in flight) | edge / ceiling (256) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for c in 16 64 256; do
  prefix=bench-edge-$c-$$
  AMQP_PREFIX=$prefix INGEST_ADDR=127.0.0.1:$EDGE_PORT ADMIN_ADDR=off target/release/ingest >/dev/null 2>&1 & edge=$!
  sleep 1.5
  result=$(wrk -t2 -c"$c" -d"${SECONDS_EACH}s" -s bench/mixed.lua "http://127.0.0.1:$EDGE_PORT" | grep '^RESULT')
  rss=$(peak $edge)
  kill -TERM $edge; wait $edge || true
  drop_prefix "$prefix"
  get() { echo "$result" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
  rps=$(get rps)
  EDGE_RPS[$c]=$rps
  [ "$rps" -gt "$BEST" ] && BEST=$rps
  echo "| $c | $rps | $(get p50) | $(get p99) | $(get p999) | $(get non2xx) | $(get socket_errors) | $rss | $(ratio "$rps" "${CEILING[$c]:-}") | $(ratio "$rps" "${CEILING[256]:-}") |"
done
echo
fi

if wants spool; then
echo "## Edge with the broker unreachable: every request answered from the spool (wrk -t2 -c64 -d${SECONDS_EACH}s)"
echo "| requests/s | p50 ms | p99 ms | non-2xx | edge peak RSS | spooled / connected (64) |"
echo "| --- | --- | --- | --- | --- | --- |"
# Nothing listens on port 1: the edge waits five seconds for a first
# connection, then serves and spools every webhook (fsynced, group commit).
AMQP_URL=amqp://127.0.0.1:1/%2f INGEST_ADDR=127.0.0.1:$EDGE_PORT ADMIN_ADDR=off target/release/ingest >/dev/null 2>&1 & edge=$!
sleep 6.5
result=$(wrk -t2 -c64 -d"${SECONDS_EACH}s" -s bench/mixed.lua "http://127.0.0.1:$EDGE_PORT" | grep '^RESULT')
rss=$(peak $edge)
kill -TERM $edge; wait $edge || true
rm -rf "${SPOOL_DIR:?}"/*
get() { echo "$result" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
echo "| $(get rps) | $(get p50) | $(get p99) | $(get non2xx) | $rss | $(ratio "$(get rps)" "${EDGE_RPS[64]:-}") |"
echo
fi

if wants drain; then
echo "## Workers draining a pre-filled queue (${SECONDS_EACH}-second windows)"
# fill SLUG LABEL [SOURCE] [HOTSPOT]: a fresh prefix, pre-filled through the
# edge at 64 connections with every source in turn, or only
# BENCH_SOURCE=SOURCE; with HOTSPOT, one message in ten about one person.
fill() {
  prefix=bench-drain-$1-$$
  export AMQP_PREFIX=$prefix
  INGEST_ADDR=127.0.0.1:$EDGE_PORT ADMIN_ADDR=off target/release/ingest >/dev/null 2>&1 & edge=$!
  sleep 1.5
  local fill=${FILL_SECONDS:-$((SECONDS_EACH * 3 / 2))}
  result=$(BENCH_SOURCE=${3:-} BENCH_HOTSPOT=${4:-} wrk -t2 -c64 -d"${fill}s" -s bench/mixed.lua "http://127.0.0.1:$EDGE_PORT" | grep '^RESULT')
  kill -TERM $edge; wait $edge || true
  get() { echo "$result" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
  PREFILLED=$(( $(get requests) - $(get non2xx) - $(get socket_errors) ))
  FILL_RATE=$((PREFILLED / fill))
  echo
  echo "### $2: pre-filled by the edge in ${fill} s: $PREFILLED messages ($FILL_RATE/s)"
  echo
  echo "| database | workers | messages/s | worker / edge | worker CPU µs/msg | worker peak RSS |"
  echo "| --- | --- | --- | --- | --- | --- |"
}
drain() { # label database-url workers [worker-binary]
  local label=$1 url=$2 n=$3 bin=${4:-target/release/worker} pids=() ports=()
  for i in $(seq 1 "$n"); do
    ports+=($((19100 + i)))
    DATABASE_URL=$url ADMIN_ADDR=127.0.0.1:$((19100 + i)) "$bin" >/dev/null 2>&1 & pids+=($!)
  done
  sleep 5   # connect, migrate, warm up
  total() { local s=0; for p in "${ports[@]}"; do s=$((s + $(metric "$p" leadpipe_worker_messages_total))); done; echo $s; }
  # The workers' CPU time so far (user and system), in clock ticks.
  ticks() { local s=0; for p in "${pids[@]}"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
  local a t0 b t1 c0 c1
  a=$(total); c0=$(ticks); t0=$(date +%s.%N); sleep "$SECONDS_EACH"; b=$(total); c1=$(ticks); t1=$(date +%s.%N)
  # Whatever is left in the scenario's work queues: none means the backlog
  # ran out during the window (or its warm-up), so the rate is a lower bound.
  local left; left=$(ctl list_queues name messages | awk -v p="$prefix." 'index($1,p)==1 && $1 !~ /dead|retry/ {s+=$2} END {print s+0}')
  local dry=""; [ "$left" -gt 0 ] || dry=" (the queue ran dry: a lower bound)"
  local rss=""; for p in "${pids[@]}"; do rss="$rss $(peak "$p")"; done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
  local rate; rate=$(echo "($b - $a) / ($t1 - $t0)" | bc)
  local cpu="n/a"; [ "$b" -gt "$a" ] && cpu=$(echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / ($b - $a)" | bc)
  echo "| $label | $n | $rate$dry | $(echo "scale=2; $rate / $FILL_RATE" | bc) | $cpu |$rss |"
}
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" postgres >/dev/null
SQLITE_DIR=$(mktemp -d)
dead=0
finish() { # counts the scenario's dead letters and drops its queues
  dead=$((dead + $(ctl list_queues name messages | awk -v p="$prefix." 'index($1,p)==1 && $1 ~ /dead/ {s+=$2} END {print s+0}')))
  drop_prefix "$prefix"
}
scenario_wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# The lead desk as a dealer sets it up, through the console's commands.
desk_setup() { # database-url
  local c=target/release/console
  DATABASE_URL=$1 $c team add "MG sales" --default >/dev/null
  DATABASE_URL=$1 $c team add "Tata sales" >/dev/null
  DATABASE_URL=$1 $c rule add --team "Tata sales" --source tata_calls >/dev/null
  for i in 1 2 3; do
    for team in MG Tata; do
      printf 'bench password 0001\n' | DATABASE_URL=$1 $c user add "$team-$i" --password-stdin --team "$team sales" >/dev/null
      DATABASE_URL=$1 $c user change "$team-$i" --on-duty true >/dev/null
    done
  done
}
if scenario_wanted desk; then
  baseline=${BENCH_BASELINE_WORKER:-target/release/worker}
  # Each drain starts from an empty database (a bigger one drains slower,
  # which would blur the comparison) and a backlog of its own.
  fresh_pg() { # name [desk]
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" postgres >/dev/null
    if [ -n "${2:-}" ]; then desk_setup "postgres://postgres@127.0.0.1/$1"; fi
  }
  fresh_sqlite() { # file [desk]
    rm -f "$SQLITE_DIR/$1"*
    if [ -n "${2:-}" ]; then desk_setup "sqlite://$SQLITE_DIR/$1?mode=rwc"; fi
  }
  # Each round fills one backlog and drains it with both workers in turn
  # (the order alternating by round), each into a database of its own:
  # the same messages, the same broker, the same fill rate, so the pair
  # differs only in the desk. The backlog is filled for three windows, so
  # neither drain runs it dry.
  for round in $(seq "${BENCH_DESK_ROUNDS:-2}"); do
    fresh_pg bench_base
    fresh_pg bench_desk on
    FILL_SECONDS=$((SECONDS_EACH * 3)) fill "desk-$round" "New people only, PostgreSQL, round $round (one backlog, both drains)"
    if [ $((round % 2)) = 1 ]; then
      drain "PostgreSQL, baseline" postgres://postgres@127.0.0.1/bench_base 1 "$baseline"
      drain "PostgreSQL, desk on" postgres://postgres@127.0.0.1/bench_desk 1
    else
      drain "PostgreSQL, desk on" postgres://postgres@127.0.0.1/bench_desk 1
      drain "PostgreSQL, baseline" postgres://postgres@127.0.0.1/bench_base 1 "$baseline"
    fi
    finish
  done
  for round in $(seq "${BENCH_DESK_ROUNDS:-2}"); do
    fresh_sqlite base.db
    fresh_sqlite desk.db on
    FILL_SECONDS=$((SECONDS_EACH * 2)) fill "desk-sqlite-$round" "New people only, SQLite, round $round (one backlog, both drains)"
    if [ $((round % 2)) = 1 ]; then
      drain "SQLite, baseline" "sqlite://$SQLITE_DIR/base.db?mode=rwc" 1 "$baseline"
      drain "SQLite, desk on" "sqlite://$SQLITE_DIR/desk.db?mode=rwc" 1
    else
      drain "SQLite, desk on" "sqlite://$SQLITE_DIR/desk.db?mode=rwc" 1
      drain "SQLite, baseline" "sqlite://$SQLITE_DIR/base.db?mode=rwc" 1 "$baseline"
    fi
    finish
  done
  for db in bench_base bench_desk; do
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" postgres >/dev/null
  done
fi
if scenario_wanted mixed; then
fill mixed "Mixed sources"
drain PostgreSQL postgres://postgres@127.0.0.1/bench 1
drain PostgreSQL postgres://postgres@127.0.0.1/bench 2
finish
# A backlog of its own: the PostgreSQL drains can nearly empty the first.
fill mixed-sqlite "Mixed sources, again for SQLite"
drain SQLite "sqlite://$SQLITE_DIR/leads.db?mode=rwc" 1
drain SQLite "sqlite://$SQLITE_DIR/leads.db?mode=rwc" 2
finish
fi
for scenario in "tata|Tata calls only|0|" "whatsapp|WhatsApp messages only|1|" "cardekho|CarDekho leads only|2|" \
  "capture|Captured calls only|4|" "crm|CRM new_lead only|5|" \
  "hotspot|Mixed sources, one message in ten about one phone number and one call_id||1"; do
  IFS='|' read -r slug label source hot <<<"$scenario"
  scenario_wanted "$slug" || continue
  fill "$slug" "$label" "$source" "$hot"
  drain PostgreSQL postgres://postgres@127.0.0.1/bench 1
  drain SQLite "sqlite://$SQLITE_DIR/leads.db?mode=rwc" 1
  finish
done
echo
fi
if wants live; then
  # Pushed updates: the edge, one worker and one console on a database of
  # their own; BENCH_LIVE_CLIENTS pages of one manager follow the event
  # stream while BENCH_LIVE_MESSAGES messages from new numbers come through
  # the edge at BENCH_LIVE_RATE a second (target/release/push-latency).
  # CPU of the console, the worker and PostgreSQL (all its processes), per
  # message.
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_live" -c "CREATE DATABASE bench_live" postgres >/dev/null
  live_url=postgres://postgres@127.0.0.1/bench_live
  export AMQP_PREFIX=bench-live-$$ prefix=bench-live-$$
  printf 'bench password 0001\n' | DATABASE_URL=$live_url target/release/console user add bench-manager --password-stdin --role manager >/dev/null
  INGEST_ADDR=127.0.0.1:$EDGE_PORT ADMIN_ADDR=off target/release/ingest >/dev/null 2>&1 & live_edge=$!
  DATABASE_URL=$live_url ADMIN_ADDR=127.0.0.1:19101 target/release/worker >/dev/null 2>&1 & live_worker=$!
  DATABASE_URL=$live_url CONSOLE_ADDR=127.0.0.1:18095 target/release/console >/dev/null 2>&1 & live_console=$!
  sleep 5
  # CPU is measured by push-latency itself, from the first message sent
  # until every page heard every message (not the sign-in before, nor its
  # lookups after).
  result=$(BENCH_CONSOLE=127.0.0.1:18095 BENCH_EDGE=127.0.0.1:$EDGE_PORT BENCH_USER=bench-manager \
    BENCH_PASSWORD='bench password 0001' BENCH_CONSOLE_PID=$live_console BENCH_WORKER_PID=$live_worker \
    BENCH_DB_PIDS=$(pgrep -x postgres | paste -sd, -) target/release/push-latency | grep '^RESULT' || true)
  kill -TERM $live_console $live_worker $live_edge; wait $live_console $live_worker $live_edge || true
  get() { echo "$result" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
  [ -n "$result" ] || { echo "push-latency failed (its error is above)" >&2; exit 1; }
  n=$(get messages)
  echo
  echo "### Pushed updates: $(get clients) pages, $n messages at $(get rate)/s through the edge (PostgreSQL)"
  echo
  echo "| events heard | missing | p50 | p90 | p99 | max | console CPU/message | worker CPU/message | PostgreSQL CPU/message |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  echo "| $(get events) | $(get missing) | $(get p50_ms) ms | $(get p90_ms) ms | $(get p99_ms) ms | $(get max_ms) ms | $(get console_cpu_us) µs | $(get worker_cpu_us) µs | $(get db_cpu_us) µs |"
  drop_prefix "$prefix"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_live" postgres >/dev/null
fi
if wants reports; then
  # The manager's reports over 90 days of 1,000 leads a day (90,000 leads,
  # a stage history line for each that moved, 20,000 follow-ups), seeded
  # with SQL into PostgreSQL; the time of GET /ajax/reports/ for 90 days and
  # for 7, as a manager, three times each (curl's total time), and the
  # query plans of the range reads.
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_reports" -c "CREATE DATABASE bench_reports" postgres >/dev/null
  reports_url=postgres://postgres@127.0.0.1/bench_reports
  for i in 1 2 3 4 5 6; do
    printf 'bench password 0001\n' | DATABASE_URL=$reports_url target/release/console user add "seller-$i" --password-stdin >/dev/null
  done
  printf 'bench password 0001\n' | DATABASE_URL=$reports_url target/release/console user add bench-manager --password-stdin --role manager >/dev/null
  psql -h 127.0.0.1 -U postgres -d bench_reports -q <<'SQL'
WITH sellers AS (SELECT array_agg(id ORDER BY username) AS ids FROM staff_users WHERE username LIKE 'seller-%'),
seeded AS (
  SELECT g, date_trunc('day', now()) - interval '90 days' + g * interval '86.4 seconds' AS seen,
         (ARRAY['new','contacted','qualified','test_drive_booked','booking','won','lost'])[1 + g % 7] AS stage
  FROM generate_series(1, 90000) AS g)
INSERT INTO leads (id, phone, name, first_source, first_seen_at, last_seen_at, created_at, updated_at,
                   stage, stage_changed_at, lost_reason, owner_id, routed_at, clock_started_at, first_response_at)
SELECT md5('bench-lead-' || g)::uuid, '+9190' || lpad(g::text, 8, '0'), 'Bench ' || g,
       (ARRAY['tata_calls','tata_whatsapp','cardekho','carwale','call_capture'])[1 + g % 5],
       seen, seen, seen, seen, stage, CASE WHEN stage <> 'new' THEN seen + interval '1 hour' END,
       CASE WHEN stage = 'lost' THEN 'price' END, (SELECT ids[1 + g % 6] FROM sellers), seen, seen,
       CASE WHEN stage <> 'new' THEN seen + (g % 7200) * interval '1 second' END
FROM seeded;
INSERT INTO lead_stage_history (id, lead_id, from_stage, to_stage, lost_reason, at)
SELECT md5('bench-history-' || id)::uuid, id, 'new', stage, lost_reason, stage_changed_at
FROM leads WHERE stage <> 'new';
INSERT INTO follow_ups (id, lead_id, phone, due_date, due_at, auto_call, done_at, created_at, updated_at, assignee_id)
SELECT md5('bench-follow-up-' || g)::uuid, md5('bench-lead-' || g)::uuid, '+9190' || lpad(g::text, 8, '0'),
       (date_trunc('day', now()) - interval '90 days' + g * interval '6.48 minutes')::date,
       date_trunc('day', now()) - interval '90 days' + g * interval '6.48 minutes', false,
       CASE WHEN g % 3 = 0 THEN NULL ELSE date_trunc('day', now()) - interval '90 days' + g * interval '6.48 minutes' + (g % 5) * interval '1 hour' END,
       now(), now(), owner_id
FROM generate_series(1, 20000) AS g JOIN leads ON leads.id = md5('bench-lead-' || g)::uuid;
ANALYZE;
SQL
  DATABASE_URL=$reports_url CONSOLE_ADDR=127.0.0.1:18096 target/release/console >/dev/null 2>&1 & reports_console=$!
  sleep 3
  jar=$(mktemp)
  token=$(curl -s -c "$jar" http://127.0.0.1:18096/login | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
  curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode username=bench-manager \
    --data-urlencode 'password=bench password 0001' --data-urlencode "csrf_token=$token" http://127.0.0.1:18096/login
  today=$(TZ=Asia/Kolkata date +%F)
  timed() { # days
    local from; from=$(TZ=Asia/Kolkata date -d "$today - $(($1 - 1)) days" +%F)
    for _ in 1 2 3; do
      curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:18096/ajax/reports/?from=$from&to=$today"
    done | awk '{if ($1 != 200) bad = 1; printf "%s%.0f ms", (NR > 1 ? ", " : ""), $2 * 1000} END {if (bad) printf " (not all 200!)"}'
  }
  echo
  echo "### Reports over 90,000 leads (90 days of 1,000), PostgreSQL"
  echo
  echo "| range | GET /ajax/reports/ (three runs) |"
  echo "| --- | --- |"
  echo "| 90 days | $(timed 90) |"
  echo "| 7 days | $(timed 7) |"
  echo
  plan() { psql -h 127.0.0.1 -U postgres -d bench_reports -Atc "EXPLAIN $1" | head -n 2 | tr '\n' ' '; }
  week="now() - interval '7 days'"
  echo "- plan, leads of 7 days: $(plan "SELECT * FROM leads WHERE first_seen_at >= $week AND first_seen_at < now()")"
  echo "- plan, follow-ups of 7 days: $(plan "SELECT * FROM follow_ups WHERE due_at >= $week AND due_at < now()")"
  kill -TERM $reports_console; wait $reports_console || true
  rm -f "$jar"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench_reports" postgres >/dev/null
fi
if wants edge; then echo "- best edge rate: $BEST requests/s"; fi
if wants drain; then echo "- dead-lettered during the run: $dead"; fi
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bench" postgres >/dev/null
rm -rf "${SQLITE_DIR:-}" "$SPOOL_DIR"
