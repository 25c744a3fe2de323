#!/usr/bin/env bash
# Checks what deploy/ ships for Prometheus: the configuration and alert
# rules load (`promtool check`), and the alerts fire when they should and
# only then, against a controllable clock (`promtool test rules`: partner
# silence inside and outside business hours, across midnight IST, on a
# Sunday; dead letters; workers not consuming; a rotated key). promtool
# comes from Debian's `prometheus` package. That every metric the rules
# and the dashboard name is exported is a Rust test (worker/tests/suite/monitoring.rs).
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool from Debian's prometheus package" >&2
  [ "$(id -u)" = 0 ] && sudo="" || sudo=sudo
  $sudo apt-get update -qq
  # policy-rc.d: install the tool without starting Debian's Prometheus daemon.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts.test.yml
