# Shared by the benchmark scripts: CPU placement and a private mosquitto.
# Source it after setting WORK (a temporary directory the caller removes).

# bench_placement NAME: BROKER_ON / CLIENTS_ON command prefixes from PIN:
# "none" (the scheduler decides), "split" (broker on CPU 1, clients on
# CPU 0) or a CPU number for everything.
bench_placement() {
    BROKER_ON=()
    CLIENTS_ON=()
    if [ "$PIN" != none ] && ! command -v taskset >/dev/null 2>&1; then
        echo "$1: taskset not found: CPU placement left to the scheduler" >&2
        PIN=none
    fi
    if [ "$PIN" = split ] && [ "$(nproc)" -lt 2 ]; then PIN=0; fi
    case "$PIN" in
        none) ;;
        split) BROKER_ON=(taskset -c 1); CLIENTS_ON=(taskset -c 0) ;;
        *) BROKER_ON=(taskset -c "$PIN"); CLIENTS_ON=(taskset -c "$PIN") ;;
    esac
}

# bench_start_broker NAME [CONFIG LINE...]: mosquitto on a free loopback
# port (PORT) with these extra lines, placed by BROKER_ON (may be unset);
# BROKER_PID is set for the caller's cleanup. Waits at most 5 s for it.
bench_start_broker() {
    local name="$1"
    shift
    # A free loopback port: bind to 0 and let the kernel choose.
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    {
        echo "listener $PORT 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence false"
        printf '%s\n' "$@"
    } >"$WORK/mosquitto.conf"
    ${BROKER_ON[@]+"${BROKER_ON[@]}"} mosquitto -c "$WORK/mosquitto.conf" \
        >"$WORK/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "$name: mosquitto did not start" >&2
    cat "$WORK/mosquitto.log" >&2
    exit 2
}

# bench_stop_device: SIGTERM to DEVICE_PID (a device says "offline" and
# disconnects), at most 5 s to exit, then SIGKILL; DEVICE_PID is cleared.
bench_stop_device() {
    [ -n "${DEVICE_PID:-}" ] || return 0
    kill "$DEVICE_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$DEVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$DEVICE_PID" 2>/dev/null || true
    wait "$DEVICE_PID" 2>/dev/null || true
    DEVICE_PID=""
}

# bench_cleanup: the device, the broker (BROKER_PID) and WORK; for trap EXIT.
bench_cleanup() {
    bench_stop_device
    if [ -n "${BROKER_PID:-}" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
