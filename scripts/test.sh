#!/usr/bin/env bash
# Runs every test against a real RabbitMQ and a real PostgreSQL on loopback
# (started by scripts/services.sh, installed from Debian's packages when
# missing) and SQLite files in temporary directories.
# cargo runs test binaries one after another: the broker-outage test stops
# and starts the shared broker in a binary of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh rabbitmq
scripts/services.sh postgres
cargo test --workspace --locked "$@"
