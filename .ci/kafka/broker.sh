#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) for tests and local runs,
# built from Maven Central jars: no Docker, no distribution tarball.
#
# Usage: .ci/kafka/broker.sh start|stop|status|address
#   start   gathers the classpath (once, cached in .kafka/lib), writes server.properties, formats a
#           fresh log dir, starts the broker in the background, waits for "Kafka Server started",
#           and prints the bootstrap address (only that) on stdout:
#               export KAFKA_BROKERS=$(.ci/kafka/broker.sh start)
#   stop    SIGTERM, waits for a clean exit (SIGKILL after KAFKA_STOP_TIMEOUT seconds)
#   status  prints "running <bootstrap> pid <pid>" (exit 0) or "stopped" (exit 3)
#   address prints the bootstrap address for the configured ports (what .ci/run exports as KAFKA_BROKERS)
#
# Environment (all optional):
#   KAFKA_PORT=39092             client listener (PLAINTEXT on 127.0.0.1)
#   KAFKA_CONTROLLER_PORT=39093  KRaft controller listener
#   KAFKA_STATE_DIR=<repo>/.kafka  classpath cache, data, logs, pid (git-ignored)
#   KAFKA_START_TIMEOUT=90       seconds to wait for the broker to come up
#   KAFKA_STOP_TIMEOUT=30        seconds to wait for a clean shutdown
#   KAFKA_HEAP="-Xms256m -Xmx512m"
#   KAFKA_JVM_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#   KAFKA_KEEP_DATA=1            reuse the previous log dir instead of formatting a fresh one
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${KAFKA_PORT:-39092}"
cport="${KAFKA_CONTROLLER_PORT:-39093}"
state="${KAFKA_STATE_DIR:-$repo/.kafka}"
start_timeout="${KAFKA_START_TIMEOUT:-90}"
stop_timeout="${KAFKA_STOP_TIMEOUT:-30}"
heap="${KAFKA_HEAP:--Xms256m -Xmx512m}"
# C1 only: measured 4.6-6.6 s to ready instead of 8.9-11.7 s on a loaded 2-core machine; a test
# broker's throughput does not need C2. Serial GC: one core's worth of GC threads is plenty here.
jvm_opts="${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
kafka_version="3.9.1"
lib="$state/lib"
run="$state/broker-$port"
pidfile="$run/broker.pid"
logfile="$run/broker.log"
bootstrap="127.0.0.1:$port"

say() { echo "broker.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

require_tools() {
  command -v java >/dev/null 2>&1 ||
    die "java not found on PATH. Install a JDK 17+ (Debian: apt-get install -y openjdk-17-jre-headless)."
  [[ -f "$lib/kafka_2.13-$kafka_version.jar" ]] && return 0
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found on PATH and no cached classpath in $lib. Install Maven (Debian: apt-get install -y maven); it fetches Kafka $kafka_version from Maven Central once."
}

gather_classpath() {
  if [[ -f "$lib/kafka_2.13-$kafka_version.jar" ]]; then return 0; fi
  say "gathering the Kafka $kafka_version classpath from Maven Central into $lib (once)"
  local tmp="$lib.tmp.$$"
  rm -rf "$tmp"
  mvn -q -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" >&2 ||
    die "mvn dependency:copy-dependencies failed (see above); check that Maven Central is reachable."
  rm -rf "$lib"
  mv "$tmp" "$lib" # rename last, so a half-copied folder is never mistaken for a cache
}

write_config() {
  mkdir -p "$run"
  cat >"$run/server.properties" <<EOF
# Written by .ci/kafka/broker.sh: single-node KRaft, combined roles, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# One node: internal topics must have one replica, or consumers loop on "coordinator not available".
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests create many groups: no 3 s wait for more members before the first rebalance.
group.initial.rebalance.delay.ms=0
# The default 128 MiB dedupe buffer does not fit a 512 MiB heap comfortably.
log.cleaner.dedupe.buffer.size=8388608
auto.create.topics.enable=true
delete.topic.enable=true
message.max.bytes=10485760
EOF
  cat >"$run/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# The readiness line "Kafka Server started" comes from this logger at INFO.
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka=INFO
EOF
}

java_args() {
  # shellcheck disable=SC2206 # heap and jvm_opts hold several flags on purpose
  jargs=($heap $jvm_opts -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$run/log4j.properties" -cp "$lib/*")
}

java_cmd() {
  java_args
  java "${jargs[@]}" "$@"
}

start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid)"
    echo "$bootstrap"
    return 0
  fi
  require_tools
  for p in "$port" "$cport"; do
    # Something already answers there (another broker, another checkout): say so now instead of
    # after a JVM start and a BindException.
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p on 127.0.0.1 is in use (not by this checkout's broker). Set KAFKA_PORT/KAFKA_CONTROLLER_PORT."
    fi
  done
  local t0
  t0="$(date +%s%N)"
  gather_classpath
  write_config
  if [[ "${KAFKA_KEEP_DATA:-0}" != "1" || ! -f "$run/data/meta.properties" ]]; then
    rm -rf "$run/data"
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$run/server.properties" \
      >"$run/format.log" 2>&1 || { tail -n 30 "$run/format.log" >&2; die "formatting $run/data failed"; }
  fi
  : >"$logfile"
  # setsid: the broker must not die with the shell that started it, nor take Ctrl-C meant for it.
  java_args
  setsid java "${jargs[@]}" kafka.Kafka "$run/server.properties" >>"$logfile" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  local deadline=$(($(date +%s) + start_timeout))
  while ! grep -q "Kafka Server started" "$logfile"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$logfile" >&2
      rm -f "$pidfile"
      die "the broker exited during start-up (log: $logfile). Is port $port or $cport in use? Set KAFKA_PORT/KAFKA_CONTROLLER_PORT."
    fi
    if (($(date +%s) >= deadline)); then
      tail -n 40 "$logfile" >&2
      kill -TERM "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      die "no \"Kafka Server started\" within ${start_timeout}s (log: $logfile); raise KAFKA_START_TIMEOUT on a slow machine."
    fi
    sleep 0.2
  done
  local ms=$((($(date +%s%N) - t0) / 1000000))
  say "started in ${ms} ms (pid $pid, log $logfile)"
  echo "$bootstrap"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$(($(date +%s) + stop_timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if (($(date +%s) >= deadline)); then
      say "no clean exit within ${stop_timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running $bootstrap pid $pid"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  address) echo "$bootstrap" ;;
  *)
    echo "usage: $0 start|stop|status|address   (env: KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_STATE_DIR, KAFKA_START_TIMEOUT)" >&2
    exit 2
    ;;
esac
