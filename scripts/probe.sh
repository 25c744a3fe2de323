#!/usr/bin/env bash
# Container health check without curl: `probe PORT [PATH]` GETs
# http://127.0.0.1:PORT/PATH (default /readyz) with bash's /dev/tcp and
# exits 0 only on a 200.
set -euo pipefail
port="${1:?usage: probe PORT [PATH]}"
path="${2:-/readyz}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
read -r -t 5 status_line <&3
[[ "$status_line" == *" 200 "* ]]
