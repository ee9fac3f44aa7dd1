#!/usr/bin/env bash
# README's first command: installs what is missing, builds, starts a relay, an
# actuator and a collector on loopback, and shows live readings until Ctrl-C.
#
# The collector reads this machine's hwmon sensors (if it has any) and a
# simulated room thermometer: a file you can change while the demo runs:
#   echo 35 > /tmp/hwcast-demo/room.temp
# The actuator runs a "room-too-hot" shutdown policy (above 30 °C for 30s;
# back below 28 °C clears it) in DRY-RUN mode: it never shuts anything down,
# it records what it would have run in dry-run.jsonl and every decision in
# audit.jsonl.
#
# Environment: HWCAST_DEMO_DIR (default /tmp/hwcast-demo) holds configs, logs
# and the room file; HWCAST_DEMO_SECONDS=N stops the demo by itself after N
# seconds (for scripted runs).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO=${HWCAST_DEMO_DIR:-/tmp/hwcast-demo}
BUILD=${HWCAST_BUILD_DIR:-build}

scripts/install-deps.sh
scripts/build.sh --target hwcast-collector hwcast-relay hwcast-actuator hwcastctl

mkdir -p "$DEMO"
[ -f "$DEMO/room.temp" ] || echo 22.0 > "$DEMO/room.temp"

# The collector signs its batches; relay and actuator trust only its key.
HOST=$(hostname)
if [ ! -f "$DEMO/collector.key" ]; then
  "$BUILD/tools/hwcastctl/hwcastctl" keygen --out "$DEMO/collector" \
    --comment "demo collector on $HOST" >/dev/null
fi
cat > "$DEMO/trust.yaml" <<YAML
collectors:
  - name: demo
    public_key: "$(cut -d' ' -f1 "$DEMO/collector.pub")"
    collector_ids: ["$HOST"]
    hosts: ["$HOST"]
YAML

cat > "$DEMO/relay.yaml" <<YAML
server:
  listen: ["127.0.0.1:7430", "unix:$DEMO/relay.sock"]
  metrics_listen: "127.0.0.1:9430"
trust_file: $DEMO/trust.yaml
multicast:
  group: 239.255.70.77
  interface: 127.0.0.1        # on a LAN: eth0
  loopback: true              # both relays run on this one machine
  reannounce_interval: 10s
YAML
# A second relay, as on another host: it gets the readings over multicast.
cat > "$DEMO/relay-b.yaml" <<YAML
server:
  listen: ["127.0.0.1:7440", "unix:$DEMO/relay-b.sock"]
  metrics_listen: "127.0.0.1:9440"
trust_file: $DEMO/trust.yaml
multicast:
  group: 239.255.70.77
  interface: 127.0.0.1
  loopback: true
  reannounce_interval: 10s
YAML
cat > "$DEMO/actuator.yaml" <<YAML
server:
  listen: ["127.0.0.1:7431", "unix:$DEMO/actuator.sock"]
  metrics_listen: "127.0.0.1:9431"
relays: ["127.0.0.1:7430", "127.0.0.1:7440"]
stale_after: 30s
trust_file: $DEMO/trust.yaml
# Shut down when the room stays above 30 °C for 30s; it must cool below
# 28 °C to count as cooled (hysteresis).
policies:
  - name: room-too-hot
    grace: 30s
    threshold:
      inputs: [{host: "$HOST", source_id: room}]
      enter_above: 30
      leave_below: 28
# Dry-run: nothing is ever run; what would have been is recorded.
actions:
  shutdown_enabled: false
  dry_run_record: $DEMO/dry-run.jsonl
  audit_log: $DEMO/audit.jsonl
YAML
cat > "$DEMO/collector.yaml" <<YAML
server:
  listen: ["127.0.0.1:7432", "unix:$DEMO/collector.sock"]
  metrics_listen: "127.0.0.1:9432"
relays: ["127.0.0.1:7430"]
signing_key: $DEMO/collector.key
sources:
  - id: room
    interval: 1s
    file:
      path: $DEMO/room.temp
      label: Simulated server room
YAML
# This machine's own sensors, where it has any (VMs often have none).
if compgen -G "/sys/class/hwmon/*/temp*_input" >/dev/null ||
   compgen -G "/sys/class/hwmon/*/device/temp*_input" >/dev/null; then
  cat >> "$DEMO/collector.yaml" <<YAML
  - id: hwmon
    interval: 5s
    hwmon: {}
YAML
else
  echo "demo: no hwmon temperature sensors on this machine; showing the room file only"
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping ${#pids[@]} processes"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: stopped; logs are in $DEMO"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() {  # start NAME BINARY
  local name=$1 bin=$2
  rm -f "$DEMO/$name.ready"
  "$bin" --config "$DEMO/$name.yaml" --ready-file "$DEMO/$name.ready" \
    >"$DEMO/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -f "$DEMO/$name.ready" ] && return 0
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "demo: $name failed to start:" >&2; cat "$DEMO/$name.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "demo: $name did not become ready; see $DEMO/$name.log" >&2; exit 1
}

start relay "$BUILD/services/relay/hwcast-relay"
start relay-b "$BUILD/services/relay/hwcast-relay"
start actuator "$BUILD/services/actuator/hwcast-actuator"
start collector "$BUILD/services/collector/hwcast-collector"
CTL="$REPO/$BUILD/tools/hwcastctl/hwcastctl"

cat <<TXT

hwcast demo is running: relay 127.0.0.1:7430, actuator 127.0.0.1:7431,
collector 127.0.0.1:7432 (metrics on 127.0.0.1:9430-9432/metrics), and a
second relay 127.0.0.1:7440 (metrics :9440) that gets the signed batches over
multicast group 239.255.70.77:7433, as a relay on another host would.
  change the room:   echo 35 > $DEMO/room.temp
                     (room-too-hot: PRE_FAIL, then SHUTDOWN after 30s, in
                     DRY-RUN: recorded in $DEMO/dry-run.jsonl, nothing is
                     run; echo 22 before the 30s are up and it goes back to
                     NORMAL; SHUTDOWN is final until the actuator restarts)
  in another shell:  $CTL status        (what the actuator knows, from both relays,
                                         and its policies: state, time left, inputs)
                     $CTL readings      (latest per source at the relay)
                     $CTL readings --relay 127.0.0.1:7440   (the same, learned over multicast)
                     $CTL collectors    (signing key, clock offset per collector)
                     $CTL health
  logs:              $DEMO/*.log
  decisions:         $DEMO/audit.jsonl (every policy change and action, JSON lines)
Live readings follow; Ctrl-C stops everything.

TXT
sleep 2
"$CTL" readings || true
echo
if [ -n "${HWCAST_DEMO_SECONDS:-}" ]; then
  timeout --signal=INT "$HWCAST_DEMO_SECONDS" "$CTL" readings --follow || true
else
  "$CTL" readings --follow || true
fi
