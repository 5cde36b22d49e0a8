#!/usr/bin/env bash
# `make compose-test` (after `make compose-images`): the compose system on this machine's engine
# with the offline images, under a project of its own (sagaworks-test) and a .stack of its own:
#   1. up with two containers of each participant (COMPOSE_TEST_REPLICAS), and wait until every
#      container is healthy: each its own static group member, each API behind one port;
#   2. every saga path from the host (the demo, through the host-facing broker listener);
#   3. chaos against the containers: a participant SIGKILLed and restarted, a broker outage
#      (both broker proxies cut), the payment container cut off the network;
#   4. down with volumes, then check that no container, network or volume is left behind.
# Prints the chaos table, then what teardown left (nothing, or the ids); exits non-zero if any
# step failed or anything was left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release
export COMPOSE_PROJECT_NAME=sagaworks-test STACK_DIR=target/compose-test
scenarios=${COMPOSE_TEST_SCENARIOS:-kill-payment,broker-outage,partition-payment}
replicas=${COMPOSE_TEST_REPLICAS:-2}

engine_state() {
  { docker ps -aq --no-trunc; docker network ls -q --no-trunc; docker volume ls -q; } | sort
}
before=$(engine_state)

finish() {
  local status=$?
  echo "==> compose-test: down, with volumes"
  "$bin/stack" compose down --clean || status=1
  local left
  left=$(comm -13 <(echo "$before") <(engine_state))
  if [ -n "$left" ]; then
    echo "==> compose-test: left behind (container, network or volume ids):"
    echo "$left"
    status=1
  else
    echo "==> compose-test: no container, network or volume left behind"
  fi
  [ "$status" -eq 0 ] && echo "==> compose-test: passed" || echo "==> compose-test: FAILED"
  exit "$status"
}
trap finish EXIT

"$bin/stack" compose up --offline --replicas "$replicas"
for service in order inventory payment shipping notification; do
  healthy=$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service=$service" --filter health=healthy | wc -l)
  echo "==> compose-test: $service: $healthy of $replicas containers healthy"
  [ "$healthy" -eq "$replicas" ]
done
set -a
. "$STACK_DIR/env"
set +a
echo "==> compose-test: every saga path (demo)"
"$bin/demo"
echo "==> compose-test: chaos: $scenarios"
"$bin/chaos" run --compose --scenario "$scenarios" --orders "${CHAOS_ORDERS:-200}" \
  --out "$STACK_DIR/chaos"
