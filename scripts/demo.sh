#!/usr/bin/env bash
# The LED device of the tutorial (../shared/seed/tpyboard-v202-onenet-mqtt.rst),
# in C, on a mosquitto this script starts on a free loopback port: `midge
# device` with a simulated LED obeys on, off, toggle, toggle and status sent
# with `midge send`, `midge devices` lists it, and the device's own log shows
# what it did, as the tutorial's "effects" section shows its console.
#
# With --onenet, the tutorial's own setting: mosquitto runs the OneNET
# platform plugin (plugins/mosquitto-onenet/) with a registry holding the
# tutorial's identities (device 9377500 of product 91025), the device is
# `midge device --profile onenet`, and `midge send --profile onenet` drives
# it as the tutorial's console did (an operator of the product).
# Everything it starts is stopped on exit.
set -euo pipefail

ONENET=0
case "${1:-}" in
--onenet) ONENET=1 ;;
"") ;;
*)
    echo "usage: $0 [--onenet]" >&2
    exit 2
    ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MIDGE_BUILD_DIR:-$ROOT/build}"
if [ "$ONENET" -eq 1 ]; then
    "$ROOT/scripts/setup.sh" midge_cli mosquitto_onenet
else
    "$ROOT/scripts/setup.sh" midge_cli
fi
MIDGE="$BUILD/midge"
MOSQUITTO="${MIDGE_MOSQUITTO:-/usr/sbin/mosquitto}"
DEVICE_ID=lamp1
# The tutorial's identities, and a product key made up for this run.
PRODUCT_ID=91025
if [ "$ONENET" -eq 1 ]; then
    DEVICE_ID=9377500
    MASTER_KEY="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/midge-demo-XXXXXX")"
BROKER_PID=""
DEVICE_PID=""

# Stop a background process: SIGTERM, up to 5 s, then SIGKILL.
stop() {
    local pid="$1"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    if [ -n "$DEVICE_PID" ]; then
        stop "$DEVICE_PID"
    fi
    if [ -n "$BROKER_PID" ]; then
        stop "$BROKER_PID"
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
    if [ "$ONENET" -eq 1 ]; then
        cat >"$WORK/registry.ini" <<REG
[product $PRODUCT_ID]
master-key = $MASTER_KEY

[device $DEVICE_ID]
product = $PRODUCT_ID
REG
        chmod 0644 "$WORK/registry.ini"
        cat >>"$WORK/mosquitto.conf" <<CONF
plugin $BUILD/plugins/mosquitto-onenet/mosquitto_onenet.so
plugin_opt_registry $WORK/registry.ini
CONF
    fi
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
BROKER=(-h 127.0.0.1 -p "$PORT")
echo "demo: mosquitto listening on 127.0.0.1:$PORT"

show_log() {
    echo "demo: the device printed:"
    sed 's/^/    /' "$WORK/device.log"
}

# The device, and the console's identity: a plain broker's, or an operator
# of the product on the platform (the key is not shown).
if [ "$ONENET" -eq 1 ]; then
    DEVICE_ARGS=(--profile onenet --device-id "$DEVICE_ID" --product-id "$PRODUCT_ID" -P "$MASTER_KEY")
    DEVICE_SHOWN="--profile onenet --device-id $DEVICE_ID --product-id $PRODUCT_ID -P KEY"
    CONSOLE_ARGS=(--profile onenet --product-id "$PRODUCT_ID" -P "$MASTER_KEY")
    CONSOLE_SHOWN="--profile onenet --product-id $PRODUCT_ID -P KEY "
    PRESENCE_TOPIC="\$onenet/$PRODUCT_ID/$DEVICE_ID/online"
    PRESENCE_ARGS=(-u "$PRODUCT_ID" -P "$MASTER_KEY")
else
    DEVICE_ARGS=(--device-id "$DEVICE_ID")
    DEVICE_SHOWN="--device-id $DEVICE_ID"
    CONSOLE_ARGS=()
    CONSOLE_SHOWN=""
    PRESENCE_TOPIC="devices/$DEVICE_ID/status"
    PRESENCE_ARGS=()
fi

echo "demo: \$ midge device $DEVICE_SHOWN --led sim -h 127.0.0.1 -p $PORT &"
"$MIDGE" device "${DEVICE_ARGS[@]}" --led sim "${BROKER[@]}" >"$WORK/device.log" 2>&1 &
DEVICE_PID=$!

# The device is up once its retained presence says so (at most 10 s).
presence="$("$MIDGE" sub "${BROKER[@]}" "${PRESENCE_ARGS[@]}" -t "$PRESENCE_TOPIC" -C 1 -W 10 2>&1 || true)"
if [ "$presence" != "online" ]; then
    echo "demo: the device did not come online ($presence)" >&2
    show_log >&2
    exit 1
fi
echo "demo: $DEVICE_ID is online"

# Each command with its answer; the answers a working device gives.
expected=(on off on off off)
failed=0
i=0
for command in on off toggle toggle status; do
    echo "demo: \$ midge send ${CONSOLE_SHOWN}-h 127.0.0.1 -p $PORT --device-id $DEVICE_ID $command"
    answer="$("$MIDGE" send "${CONSOLE_ARGS[@]}" "${BROKER[@]}" --device-id "$DEVICE_ID" "$command" 2>&1)" || true
    echo "    $answer"
    if [ "$answer" != "${expected[$i]}" ]; then
        echo "demo: expected '${expected[$i]}'" >&2
        failed=1
    fi
    i=$((i + 1))
done

echo "demo: \$ midge devices ${CONSOLE_SHOWN}-h 127.0.0.1 -p $PORT"
listing="$("$MIDGE" devices "${CONSOLE_ARGS[@]}" "${BROKER[@]}" 2>&1)" || true
echo "$listing" | sed 's/^/    /'
if [ "$listing" != "$DEVICE_ID online off" ]; then
    echo "demo: expected '$DEVICE_ID online off'" >&2
    failed=1
fi

# A clean stop says "offline" itself; a crash leaves it to the will.
echo "demo: stopping the device"
stop "$DEVICE_PID"
DEVICE_PID=""
echo "demo: \$ midge devices ${CONSOLE_SHOWN}-h 127.0.0.1 -p $PORT"
"$MIDGE" devices "${CONSOLE_ARGS[@]}" "${BROKER[@]}" 2>&1 | sed 's/^/    /' || true

show_log
if [ "$failed" -ne 0 ]; then
    echo "demo: the device did not answer as expected" >&2
    exit 1
fi
echo "demo: done"
