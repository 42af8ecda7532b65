#!/usr/bin/env bash
# Creates the Kafka topics of design §3 under KAFKA_TOPIC_PREFIX, with their retention
# (compacted or time-limited), and re-applies those settings to topics that already exist.
# Idempotent: the kafka-init service of docker-compose.yml runs it on every `up`.
#
#   KAFKA_BOOTSTRAP      bootstrap server (default kafka:9092)
#   KAFKA_TOPIC_PREFIX   topic prefix (default apmcov.)
#   KAFKA_PARTITIONS     partitions of every topic but commands (default 6; the analyzer's
#                        replica bound). commands has one: its owner is the leading collector.
#   KAFKA_REPLICATION_FACTOR   (default 1: the single-node compose broker)
#   KAFKA_WAIT_SECONDS   how long to wait for the broker (default 120)
#   KAFKA_BIN_DIR        where kafka-topics.sh and kafka-configs.sh live (default /opt/kafka/bin)
set -euo pipefail

bootstrap=${KAFKA_BOOTSTRAP:-kafka:9092}
prefix=${KAFKA_TOPIC_PREFIX-apmcov.}
partitions=${KAFKA_PARTITIONS:-6}
replication=${KAFKA_REPLICATION_FACTOR:-1}
wait_seconds=${KAFKA_WAIT_SECONDS:-120}
bin_dir=${KAFKA_BIN_DIR:-/opt/kafka/bin}

for var in partitions replication wait_seconds; do
  if ! [[ ${!var} =~ ^[0-9]+$ ]] || ((${!var} < 1)); then
    echo "create-topics: ${var} must be a positive integer, got '${!var}'" >&2
    exit 2
  fi
done

# topic (without prefix) | topic configs. Retention per design §3: compacted topics keep the
# latest value per key; spans 24 h, commands 1 h, dlq 7 d.
topics=(
  "catalog|cleanup.policy=compact"
  "apm-inventory|cleanup.policy=compact"
  "spans|cleanup.policy=delete,retention.ms=86400000"
  "sync-jobs|cleanup.policy=compact"
  "commands|cleanup.policy=delete,retention.ms=3600000"
  "collector-state|cleanup.policy=compact"
  "dlq|cleanup.policy=delete,retention.ms=604800000"
)

deadline=$((SECONDS + wait_seconds))
until "$bin_dir/kafka-topics.sh" --bootstrap-server "$bootstrap" --list >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "create-topics: broker $bootstrap not reachable after ${wait_seconds}s" >&2
    exit 1
  fi
  sleep 2
done

for spec in "${topics[@]}"; do
  name="$prefix${spec%%|*}"
  configs=${spec#*|}
  topic_partitions=$partitions
  if [[ ${spec%%|*} == commands ]]; then topic_partitions=1; fi
  config_args=()
  IFS=',' read -r -a pairs <<<"$configs"
  for pair in "${pairs[@]}"; do
    config_args+=(--config "$pair")
  done
  "$bin_dir/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$name" --partitions "$topic_partitions" --replication-factor "$replication" \
    "${config_args[@]}"
  # A topic created earlier (or by someone else) gets the same settings.
  "$bin_dir/kafka-configs.sh" --bootstrap-server "$bootstrap" --entity-type topics \
    --entity-name "$name" --alter --add-config "$configs"
  echo "create-topics: $name ready ($configs)"
done
