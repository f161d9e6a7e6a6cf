#!/usr/bin/env bash
# Set up and build midge, start mosquitto on a free loopback port, and show
# `midge sub` receiving three messages sent by `midge pub` at QoS 0, 1 and 2.
# Everything it starts is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
MIDGE="$ROOT/build/midge"
MOSQUITTO="${MIDGE_MOSQUITTO:-/usr/sbin/mosquitto}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/midge-demo-XXXXXX")"
BROKER_PID=""
SUB_PID=""

cleanup() {
    if [ -n "$SUB_PID" ]; then
        kill "$SUB_PID" 2>/dev/null || true
        wait "$SUB_PID" 2>/dev/null || true
    fi
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Start mosquitto on a port nobody uses; a root-started mosquitto runs as the
# `mosquitto` user, which must be able to read the config.
chmod 0755 "$WORK"
PORT=""
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    candidate=$((20000 + RANDOM % 40000))
    if port_open "$candidate"; then
        continue
    fi
    cat >"$WORK/mosquitto.conf" <<CONF
listener $candidate 127.0.0.1
allow_anonymous true
log_dest stderr
log_type all
CONF
    chmod 0644 "$WORK/mosquitto.conf"
    "$MOSQUITTO" -c "$WORK/mosquitto.conf" 2>"$WORK/mosquitto.log" &
    BROKER_PID=$!
    for _ in $(seq 50); do # up to 5 s
        if ! kill -0 "$BROKER_PID" 2>/dev/null || port_open "$candidate"; then
            break
        fi
        sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null && port_open "$candidate"; then
        PORT=$candidate
        break
    fi
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
done
if [ -z "$PORT" ]; then
    echo "demo: could not start mosquitto" >&2
    exit 1
fi
echo "demo: mosquitto listening on 127.0.0.1:$PORT"

echo "demo: \$ midge sub -h 127.0.0.1 -p $PORT -v -t 'demo/#' -C 3"
"$MIDGE" sub -h 127.0.0.1 -p "$PORT" -v -t 'demo/#' -C 3 >"$WORK/sub.out" 2>"$WORK/sub.err" &
SUB_PID=$!

# Publish only once the broker has logged the subscription (at most 5 s).
for _ in $(seq 50); do
    if grep -q 'Sending SUBACK' "$WORK/mosquitto.log" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

for qos in 0 1 2; do
    echo "demo: \$ midge pub -h 127.0.0.1 -p $PORT -q $qos -t demo/qos$qos -m 'hello at QoS $qos'"
    "$MIDGE" pub -h 127.0.0.1 -p "$PORT" -q "$qos" -t "demo/qos$qos" -m "hello at QoS $qos"
done

# The subscriber exits by itself after three messages (-C 3); wait up to 10 s.
for _ in $(seq 100); do
    if ! kill -0 "$SUB_PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
status=0
if kill -0 "$SUB_PID" 2>/dev/null; then
    status=1
else
    wait "$SUB_PID" || status=$?
    SUB_PID=""
fi

echo "demo: the subscriber printed:"
sed 's/^/    /' "$WORK/sub.out"
if [ -s "$WORK/sub.err" ]; then
    echo "demo: and on stderr:"
    sed 's/^/    /' "$WORK/sub.err"
fi
if [ "$status" -ne 0 ] || [ "$(wc -l <"$WORK/sub.out")" -ne 3 ]; then
    echo "demo: expected three messages, exit status $status" >&2
    exit 1
fi
echo "demo: done"
