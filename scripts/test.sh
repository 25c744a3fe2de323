#!/usr/bin/env bash
# Runs every test against a real RabbitMQ and a real PostgreSQL on loopback
# (started by scripts/services.sh, installed from Debian's packages when
# missing) and SQLite files in temporary directories.
# cargo runs test binaries one after another: the broker-outage test stops
# and starts the shared broker in a binary of its own.
#
# Every test bounds its own waits; as a last resort the whole run is bounded
# too (TEST_TIMEOUT, default 45 minutes; the suite takes about eight), so a
# hang fails loudly instead of holding CI until its own limit.
set -euo pipefail
cd "$(dirname "$0")/.."
# --own: the tests stop and restart the broker and PostgreSQL, so a server on
# their ports that this checkout did not start is refused, by name.
scripts/services.sh rabbitmq --own
scripts/services.sh postgres --own
scripts/services.sh browser
limit="${TEST_TIMEOUT:-45m}"
timeout --kill-after=30s "$limit" cargo test --workspace --locked "$@" &
runner=$!
# timeout runs in a process group of its own (so that it can stop every test
# process), out of reach of a terminal's Ctrl-C: pass interrupts on to it.
trap 'kill -TERM -- "-$runner" 2>/dev/null || true' INT TERM
while :; do
  status=0
  wait "$runner" || status=$?
  kill -0 "$runner" 2>/dev/null || break
done
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "scripts/test.sh: the tests did not finish within $limit; stopped them (TEST_TIMEOUT)" >&2
fi
exit "$status"
