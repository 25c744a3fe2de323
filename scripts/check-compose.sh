#!/usr/bin/env bash
# Checks compose.yaml without a Docker engine: Debian's docker-compose
# parses and resolves it (`config`), then every service that can be scaled
# (no container_name, the workers among them) must publish no fixed host
# port, or a second replica could not start.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing docker-compose from Debian's packages (a compose parser; no engine needed)" >&2
  [ "$(id -u)" = 0 ] && sudo="" || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
resolved=$(RABBITMQ_PASSWORD=check POSTGRES_PASSWORD=check docker-compose -f compose.yaml config)
# Debian's python3 has PyYAML as docker-compose's own dependency.
echo "$resolved" | /usr/bin/python3 -c '
import sys, yaml
config = yaml.safe_load(sys.stdin)
problems = []
for name, service in config["services"].items():
    if "container_name" in service:
        continue
    for port in service.get("ports", []):
        published = port.get("published") if isinstance(port, dict) else str(port).rsplit(":", 1)[0].rsplit(":", 1)[-1]
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        if published not in (None, "") and (name == "worker" or replicas > 1):
            problems.append(f"{name} publishes the fixed host port {published}: it cannot be scaled")
if problems:
    sys.exit("\n".join(problems))
print("compose.yaml: valid; the workers scale to any count")
'
