#!/usr/bin/env bash
# One interop scenario, run against one broker nobody in this project wrote.
#
#   scenario.sh KIND MIDGE [OUTPUT_DIR]
#
# KIND is a broker of brokers.sh, MIDGE the midge executable, OUTPUT_DIR
# where every midge process's output is kept for the secrets scan
# (tests/secrets/). The broker is started fresh on loopback and stopped at
# the end, whatever happens. Each check prints PASS or FAIL with the
# reason; the last line sums up. Exit 0 only when every check passed.
#
# Where a broker lacks a feature, the check asserts what midge does about
# it (one line on stderr, a documented exit status, never a hang):
#   RabbitMQ  no QoS 2 (it answers a QoS 2 PUBLISH with PUBACK), no
#             retained messages for wildcard subscriptions;
#   ejabberd  a user name and password are required.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=brokers.sh
. "$HERE/brokers.sh"

KIND="${1:?usage: scenario.sh KIND MIDGE [OUTPUT_DIR]}"
MIDGE="${2:?usage: scenario.sh KIND MIDGE [OUTPUT_DIR]}"
OUTPUT_DIR="${3:-}"
# Every midge process gets at most this long: a hang fails its check.
CALL_LIMIT_S=30
WORK="$(mktemp -d "${TMPDIR:-/tmp}/midge-interop-$KIND.XXXXXX")"
DEVICE_PID=""
passed=0
failed=0

cleanup() {
    [ -n "$DEVICE_PID" ] && kill -9 "$DEVICE_PID" 2>/dev/null
    broker_stop
    if [ "$failed" -eq 0 ]; then
        rm -rf "$WORK"
    else
        echo "interop: logs kept in $WORK" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() {
    echo "PASS  $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL  $1: $2"
    failed=$((failed + 1))
}

# The capture file of one midge process for the secrets scan: the header
# tests/support/test_output.h describes, then what the process printed.
capture() {
    local file="$1" streams="$2"
    shift 2
    [ -n "$OUTPUT_DIR" ] && mkdir -p "$OUTPUT_DIR" 2>/dev/null || return 0
    local out="$OUTPUT_DIR/interop-$KIND.$$.$RANDOM$RANDOM.log" arg masked=() hex=""
    for arg in "${BROKER_AUTH[@]}" "$@"; do
        if [ "$arg" = "$BROKER_SECRET" ]; then
            masked+=("********")
        else
            masked+=("$arg")
        fi
    done
    [ "${#BROKER_AUTH[@]}" -gt 0 ] && hex="$(printf '%s' "$BROKER_SECRET" | od -An -tx1 | tr -d ' \n')"
    {
        printf 'midge-test-output 1\nprogram: interop-%s (pid %s)\nsubcommand: %s\n' "$KIND" "$$" "${1:-}"
        printf 'streams: %s\ncommand: %s' "$streams" "$MIDGE"
        printf ' %s' "${masked[@]}"
        printf '\n'
        [ -n "$hex" ] && printf 'secret: %s\n' "$hex"
        printf -- '----\n'
        cat "$file"
    } >"$out" 2>/dev/null
}

# m NAME SUBCOMMAND ARGS...: run midge with the broker's address and
# credentials, bounded by CALL_LIMIT_S; stdout in $WORK/NAME.out, stderr in
# $WORK/NAME.err; returns midge's exit status (124: it had to be killed).
m() {
    local name="$1" sub="$2"
    shift 2
    local rc
    timeout -k 2 "$CALL_LIMIT_S" "$MIDGE" "$sub" -h 127.0.0.1 -p "$BROKER_PORT" "${BROKER_AUTH[@]}" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    capture "$WORK/$name.out" stdout "$sub" "$@"
    capture "$WORK/$name.err" stderr "$sub" "$@"
    return $rc
}

lines() {
    local n
    n="$(grep -c "" "$1" 2>/dev/null)"
    echo "${n:-0}"
}

# m_bg NAME SUBCOMMAND ARGS...: the same, in the background; the pid in BG_PID.
m_bg() {
    local name="$1" sub="$2"
    shift 2
    timeout -k 2 "$CALL_LIMIT_S" "$MIDGE" "$sub" -h 127.0.0.1 -p "$BROKER_PORT" "${BROKER_AUTH[@]}" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BG_PID=$!
}

m_bg_done() {
    local name="$1" sub="$2"
    shift 2
    wait "$BG_PID"
    local rc=$?
    capture "$WORK/$name.out" stdout "$sub" "$@"
    capture "$WORK/$name.err" stderr "$sub" "$@"
    return $rc
}

# --- the device and the console ---------------------------------------------

DEV="interop-$KIND-$$"

start_device() {
    "$MIDGE" device -h 127.0.0.1 -p "$BROKER_PORT" "${BROKER_AUTH[@]}" --device-id "$DEV" -c -k 5 \
        >"$WORK/device.out" 2>"$WORK/device.err" &
    DEVICE_PID=$!
    # Ready once it answers; bounded: 20 tries of 1 s.
    local i
    for ((i = 0; i < 20; i++)); do
        if m ready send --device-id "$DEV" -W 1 status && [ "$(cat "$WORK/ready.out")" = off ]; then
            return 0
        fi
        kill -0 "$DEVICE_PID" 2>/dev/null || break
    done
    return 1
}

check_commands() {
    local cmd want got
    if ! start_device; then
        fail "device + send" "the device never answered (log: $(tail -n 3 "$WORK/device.err" | tr '\n' ' '))"
        return
    fi
    for pair in on:on off:off toggle:on toggle:off status:off; do
        cmd="${pair%%:*}"
        want="${pair##*:}"
        if ! m "send-$cmd" send --device-id "$DEV" -W 5 "$cmd"; then
            fail "device + send" "send $cmd: exit $? ($(head -n 1 "$WORK/send-$cmd.err"))"
            return
        fi
        got="$(cat "$WORK/send-$cmd.out")"
        if [ "$got" != "$want" ]; then
            fail "device + send" "send $cmd answered '$got', not '$want'"
            return
        fi
    done
    pass "device + send: on, off, toggle, toggle, status answered on, off, on, off, off"
}

# Presence: `midge devices` where the broker keeps retained messages for
# wildcard subscriptions; the device's own status topic where it does not.
presence_of_device() {
    if [ "$KIND" = rabbitmq ]; then
        m presence sub -t "devices/$DEV/status" -C 1 -W 3 || return 1
        cat "$WORK/presence.out"
    else
        m presence devices || return 1
        sed -n "s/^$DEV \\([a-z]*\\) .*/\\1/p" "$WORK/presence.out"
    fi
}

check_presence() {
    local state i
    if [ -z "$DEVICE_PID" ] || ! kill -0 "$DEVICE_PID" 2>/dev/null; then
        fail "presence" "no device running"
        return
    fi
    state="$(presence_of_device)"
    if [ "$state" != online ]; then
        fail "presence" "the running device shows '$state', not online"
        return
    fi
    kill -9 "$DEVICE_PID"
    wait "$DEVICE_PID" 2>/dev/null
    DEVICE_PID=""
    # The will: the broker sees the socket close at once; 10 tries of 0.5 s.
    for ((i = 0; i < 10; i++)); do
        state="$(presence_of_device)"
        [ "$state" = offline ] && break
        sleep 0.5
    done
    if [ "$state" != offline ]; then
        fail "presence" "after kill -9 the device shows '$state', not offline (the will)"
        return
    fi
    if [ "$KIND" = rabbitmq ]; then
        # No retained messages for wildcards: `midge devices` finds no one,
        # and says so in time rather than waiting.
        m devices-none devices
        local rc=$?
        if [ $rc -eq 124 ] || grep -q "^$DEV " "$WORK/devices-none.out"; then
            fail "presence" "midge devices on RabbitMQ: exit $rc, output '$(head -c 200 "$WORK/devices-none.out")'"
            return
        fi
    fi
    pass "presence: online, then offline after kill -9 (the will)"
}

# --- pub / sub ----------------------------------------------------------------

check_pubsub() {
    local qos="$1"
    local topic="interop/$$/qos$qos" payload="hello at qos $qos"
    if [ "$KIND" = rabbitmq ] && [ "$qos" = 2 ]; then
        # RabbitMQ answers a QoS 2 PUBLISH with PUBACK: a protocol error.
        m pub2 pub -t "$topic" -m "$payload" -q 2
        local rc=$?
        if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ "$(lines "$WORK/pub2.err")" != 1 ]; then
            fail "pub/sub QoS 2" "RabbitMQ: pub -q 2 exit $rc, stderr '$(head -c 300 "$WORK/pub2.err")' (want one line, non-zero)"
            return
        fi
        pass "pub QoS 2 refused by RabbitMQ: exit $rc, '$(cat "$WORK/pub2.err")'"
        return
    fi
    m_bg "sub$qos" sub -t "$topic" -q "$qos" -C 1 -W 10 -v
    sleep 0.5
    if ! m "pub$qos" pub -t "$topic" -m "$payload" -q "$qos"; then
        fail "pub/sub QoS $qos" "pub exit $? ($(head -n 1 "$WORK/pub$qos.err"))"
        kill "$BG_PID" 2>/dev/null
        m_bg_done "sub$qos" sub
        return
    fi
    if ! m_bg_done "sub$qos" sub -t "$topic" -q "$qos"; then
        fail "pub/sub QoS $qos" "sub exit $? ($(head -n 1 "$WORK/sub$qos.err"))"
        return
    fi
    if [ "$(cat "$WORK/sub$qos.out")" != "$topic $payload" ]; then
        fail "pub/sub QoS $qos" "sub printed '$(cat "$WORK/sub$qos.out")'"
        return
    fi
    pass "pub/sub QoS $qos"
}

check_retained() {
    local topic="interop/$$/retained"
    if ! m ret-pub pub -t "$topic" -m "kept" -q 1 -r; then
        fail "retained" "pub -r exit $?"
        return
    fi
    if ! m ret-sub sub -t "$topic" -C 1 -W 5 || [ "$(cat "$WORK/ret-sub.out")" != kept ]; then
        fail "retained" "a new subscriber got '$(cat "$WORK/ret-sub.out")' ($(head -n 1 "$WORK/ret-sub.err"))"
        return
    fi
    m ret-clear pub -t "$topic" -n -r -q 1
    pass "retained message"
}

# A persistent session: what is published while the subscriber is away
# arrives when it is back, all of it, 10 rounds (a loss may be rare).
check_session_queue() {
    local id="interop-$$-queue" topic="interop/$$/queue" round i rc got
    m q-setup sub -c -i "$id" -q 1 -t "$topic" -W 1
    rc=$?
    if [ $rc -ne 27 ] && [ $rc -ne 0 ]; then
        fail "persistent session" "first subscription: exit $rc ($(head -n 1 "$WORK/q-setup.err"))"
        return
    fi
    for ((round = 1; round <= 10; round++)); do
        for ((i = 1; i <= 10; i++)); do
            if ! m q-pub pub -t "$topic" -m "r$round-m$i" -q 1; then
                fail "persistent session" "round $round: pub exit $? ($(head -n 1 "$WORK/q-pub.err"))"
                return
            fi
        done
        m q-sub sub -c -i "$id" -q 1 -t "$topic" -C 10 -W 5
        rc=$?
        got="$(lines "$WORK/q-sub.out")"
        if [ $rc -ne 0 ] || [ "$got" != 10 ]; then
            fail "persistent session" "round $round: $got of 10 queued messages arrived (exit $rc)"
            return
        fi
    done
    m q-end sub -i "$id" -t "$topic" -W 1 # a clean session ends the stored one
    pass "persistent session: 10 of 10 queued messages arrived in each of 10 rounds"
}

check_bench() {
    if ! m bench bench --devices 200 --duration 5; then
        fail "bench" "exit $? ($(head -n 3 "$WORK/bench.err" | tr '\n' ' '))"
        return
    fi
    local summary
    summary="$(grep -h '^commands:' "$WORK/bench.out" "$WORK/bench.err" | head -n 1)"
    if ! grep -q "200/200 online" "$WORK/bench.out" "$WORK/bench.err" ||
        ! echo "$summary" | grep -q " 0 errors"; then
        fail "bench" "$(grep -h -e '^connect:' -e '^commands:' "$WORK/bench.out" "$WORK/bench.err" | tr '\n' ' ')"
        return
    fi
    pass "bench --devices 200 --duration 5: ${summary#commands: }"
}

# ejabberd lets no one in without credentials: one line, a refusal status.
check_anonymous_refused() {
    local rc saved=("${BROKER_AUTH[@]}")
    BROKER_AUTH=()
    m anon pub -t interop/anon -m x
    rc=$?
    BROKER_AUTH=("${saved[@]}")
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ "$(lines "$WORK/anon.err")" != 1 ]; then
        fail "credentials required" "pub without -u/-P: exit $rc, stderr '$(head -c 300 "$WORK/anon.err")'"
        return
    fi
    pass "credentials required: pub without -u/-P refused, exit $rc, '$(cat "$WORK/anon.err")'"
}

# --- run ------------------------------------------------------------------------

started=$SECONDS
if ! broker_start "$KIND" "$WORK/broker"; then
    echo "FAIL  $KIND did not start (see $WORK/broker)"
    failed=1
    exit 1
fi
echo "interop: $BROKER_VERSION on 127.0.0.1:$BROKER_PORT, up in $((SECONDS - started)) s"

[ "$KIND" = ejabberd ] && check_anonymous_refused
check_commands
check_presence
check_pubsub 0
check_pubsub 1
check_pubsub 2
check_retained
check_session_queue
check_bench

echo "interop: $BROKER_VERSION: $passed passed, $failed failed, $((SECONDS - started)) s"
[ "$failed" -eq 0 ]
