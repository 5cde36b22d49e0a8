#!/usr/bin/env bash
# The apache/kafka image's listener configuration, served by nisshi. Read:
#   KAFKA_LISTENERS                      NAME://[host]:port,... (controller listeners skipped)
#   KAFKA_ADVERTISED_LISTENERS           NAME://host:port,... (per listener; default: as bound)
#   KAFKA_CONTROLLER_LISTENER_NAMES      the listeners nisshi has no use for (no KRaft here)
# Every other KAFKA_* variable is accepted and ignored: nisshi keeps topics, offsets and groups
# in one SQLite file (/var/lib/kafka/data, the image's data volume) and has no replication.
#
# A nisshi process advertises one address, so each listener is one nisshi process on the same
# SQLite file (WAL, busy timeout), the way Apache Kafka answers each listener with its own
# advertised address. The container ends when either process does, so its restart policy applies.
set -euo pipefail

: "${KAFKA_LISTENERS:=PLAINTEXT://:9092}"
controllers=",${KAFKA_CONTROLLER_LISTENER_NAMES:-},"

advertised_for() {
  local name=$1 entry
  for entry in ${KAFKA_ADVERTISED_LISTENERS//,/ }; do
    if [ "${entry%%://*}" = "$name" ]; then
      echo "${entry#*://}"
      return
    fi
  done
}

pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
for listener in ${KAFKA_LISTENERS//,/ }; do
  name=${listener%%://*}
  address=${listener#*://}
  port=${address##*:}
  host=${address%:*}
  case "$controllers" in *",$name,"*) continue ;; esac
  advertised=$(advertised_for "$name")
  advertised=${advertised:-${host:-$(hostname)}:$port}
  echo "listener $name: 0.0.0.0:$port, advertised as $advertised"
  nisshi broker --listener-url "tcp://0.0.0.0:$port" --advertised-listener-url "tcp://$advertised" \
    --storage-engine sqlite://nisshi.db --silent &
  pids+=($!)
  # One at a time: the first creates the database's tables.
  until bash -c "</dev/tcp/127.0.0.1/$port" 2>/dev/null; do
    kill -0 "${pids[-1]}" || exit 1
    sleep 0.2
  done
done

status=0
wait -n "${pids[@]}" || status=$?
kill -TERM "${pids[@]}" 2>/dev/null || true
wait || true
exit "$status"
