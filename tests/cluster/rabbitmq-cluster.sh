#!/usr/bin/env bash
# A RabbitMQ 3.10 cluster of three nodes on loopback, built fresh in DIR,
# for the cluster tests and benchmarks.
#
#   rabbitmq-cluster.sh start DIR        three fresh nodes, clustered, MQTT on
#                                        127.0.0.1; writes DIR/cluster.env and
#                                        prints the broker list (-h value)
#   rabbitmq-cluster.sh stop DIR         stop every node and its epmd
#   rabbitmq-cluster.sh stop-node DIR N  rabbitmqctl stop_app on node N (1..3)
#   rabbitmq-cluster.sh start-node DIR N rabbitmqctl start_app, then wait for
#                                        its MQTT listener
#   rabbitmq-cluster.sh ctl DIR N ARGS   rabbitmqctl ARGS on node N
#   rabbitmq-cluster.sh rss DIR          resident KiB of each node's VM
#
# DIR/cluster.env, for `. DIR/cluster.env`: CLUSTER_HOSTS (the -h list,
# node 1 first), CLUSTER_PORT_1..3, CLUSTER_NODE_1..3, CLUSTER_EPMD_PORT.
#
# Each node has its own name (midgeN-TAG@localhost, TAG = the epmd port, so
# runs can go side by side), distribution and MQTT ports picked free, its
# own HOME, Mnesia and logs under DIR/nN; the three share one Erlang
# cookie and one epmd. Node 1 boots first; nodes 2 and 3 then find it
# through classic peer discovery (cluster_formation.classic_config) and
# join it. A warm restart of a whole cluster waits for its peers for
# minutes, so every run starts from empty directories (about 30 s).
#
# MQTT sessions that persist (clean session off) get quorum queues
# (mqtt.durable_queue_type = quorum): replicated on all three nodes, they
# survive the loss of one. Clean sessions get RabbitMQ's default
# exclusive classic queue, which dies with its connection anyway.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# free_port, wait_port and rabbitmq_node_env: the single node's recipe.
# shellcheck source=../interop/brokers.sh
. "$HERE/../interop/brokers.sh"
BROKER_KIND=rabbitmq

RABBIT_BIN=/usr/lib/rabbitmq/bin
NODES=3

load_env() {
    if [ ! -f "$DIR/cluster.env" ]; then
        echo "rabbitmq-cluster: no cluster in $DIR" >&2
        exit 2
    fi
    # shellcheck source=/dev/null
    . "$DIR/cluster.env"
}

# The environment of node $1, exported (in a subshell) for rabbitmq-server
# and rabbitmqctl alike.
node_env() {
    local dist_var="CLUSTER_DIST_PORT_$1" node_var="CLUSTER_NODE_$1"
    rabbitmq_node_env "$DIR/n$1" "${!node_var}" "${!dist_var}" "$CLUSTER_EPMD_PORT"
}

ctl() {
    local n="$1"
    shift
    (node_env "$n" && exec timeout 60 "$RABBIT_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@")
}

write_node() {
    local n="$1" port_var="CLUSTER_PORT_$1" i
    mkdir -p "$DIR/n$n"
    cp "$DIR/cookie" "$DIR/n$n/.erlang.cookie"
    chmod 400 "$DIR/n$n/.erlang.cookie"
    {
        echo "listeners.tcp = none"
        echo "mqtt.listeners.tcp.1 = 127.0.0.1:${!port_var}"
        echo "mqtt.allow_anonymous = true"
        echo "mqtt.durable_queue_type = quorum"
        echo "mqtt.tcp_listen_options.backlog = 4096"
        echo "loopback_users = none"
        echo "log.console = false"
        echo "log.file.level = warning"
        echo "cluster_formation.peer_discovery_backend = classic_config"
        for ((i = 1; i <= NODES; i++)); do
            local node_var="CLUSTER_NODE_$i"
            echo "cluster_formation.classic_config.nodes.$i = ${!node_var}"
        done
    } >"$DIR/n$n/rabbitmq.conf"
    echo "[rabbitmq_mqtt]." >"$DIR/n$n/enabled_plugins"
}

boot_node() {
    local n="$1"
    (node_env "$n" && exec "$RABBIT_BIN/rabbitmq-server") >"$DIR/n$n/out.log" 2>&1 &
    echo $! >"$DIR/n$n/server.pid"
}

# Wait until node $1 runs, and its MQTT listener is up.
await_node() {
    local n="$1" port_var="CLUSTER_PORT_$1"
    local i
    # await_startup fails at once while the node is not up enough to be
    # asked: ask again, for two minutes at most.
    for ((i = 0; i < 60; i++)); do
        if ctl "$n" await_startup --timeout 10 >/dev/null 2>&1; then
            wait_port "${!port_var}" 30
            return
        fi
        if ! kill -0 "$(cat "$DIR/n$n/server.pid")" 2>/dev/null; then
            break
        fi
        sleep 1
    done
    echo "rabbitmq-cluster: node $n did not start (see $DIR/n$n/log)" >&2
    return 1
}

cmd_start() {
    local i tag
    if [ -e "$DIR/cluster.env" ]; then
        echo "rabbitmq-cluster: $DIR already holds a cluster" >&2
        exit 2
    fi
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
    CLUSTER_EPMD_PORT="$(free_port)"
    tag="$CLUSTER_EPMD_PORT"
    {
        echo "CLUSTER_DIR=$DIR"
        echo "CLUSTER_EPMD_PORT=$CLUSTER_EPMD_PORT"
        local hosts=""
        for ((i = 1; i <= NODES; i++)); do
            local port
            port="$(free_port)"
            echo "CLUSTER_PORT_$i=$port"
            # The node's distribution port; rabbitmqctl takes the ten above it.
            echo "CLUSTER_DIST_PORT_$i=$(free_port)"
            echo "CLUSTER_NODE_$i=midge$i-$tag@localhost"
            hosts="$hosts${hosts:+,}127.0.0.1:$port"
        done
        echo "CLUSTER_HOSTS=$hosts"
    } >"$DIR/cluster.env.new"
    mv "$DIR/cluster.env.new" "$DIR/cluster.env"
    load_env
    head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/cookie"
    for ((i = 1; i <= NODES; i++)); do write_node "$i"; done

    # Node 1 first: the others join the cluster it forms.
    boot_node 1
    await_node 1 || exit 1
    for ((i = 2; i <= NODES; i++)); do boot_node "$i"; done
    for ((i = 2; i <= NODES; i++)); do await_node "$i" || exit 1; done
    local running
    running="$(ctl 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null | tr -d '\r\n ')"
    if [ "$running" != "$NODES" ]; then
        echo "rabbitmq-cluster: $running of $NODES nodes in the cluster (see $DIR/n*/log)" >&2
        exit 1
    fi
    echo "$CLUSTER_HOSTS"
}

cmd_stop() {
    local i
    [ -f "$DIR/cluster.env" ] || return 0
    load_env
    for ((i = 1; i <= NODES; i++)); do
        ctl "$i" shutdown >/dev/null 2>&1 &
    done
    wait
    for ((i = 1; i <= NODES; i++)); do
        local pid
        pid="$(cat "$DIR/n$i/server.pid" 2>/dev/null)"
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
        pid="$(cat "$DIR/n$i/rabbitmq.pid" 2>/dev/null)"
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    done
    # epmd refuses -kill while a node is still registered: the nodes'
    # registrations go with their processes, a moment after the kills.
    for ((i = 0; i < 50; i++)); do
        ERL_EPMD_PORT="$CLUSTER_EPMD_PORT" epmd -kill >/dev/null 2>&1 || true
        ERL_EPMD_PORT="$CLUSTER_EPMD_PORT" epmd -names >/dev/null 2>&1 || break
        sleep 0.1
    done
    rm -f "$DIR/cluster.env"
    return 0
}

cmd_stop_node() {
    load_env
    ctl "$1" stop_app >/dev/null
}

cmd_start_node() {
    local port_var="CLUSTER_PORT_$1"
    load_env
    ctl "$1" start_app >/dev/null || return 1
    wait_port "${!port_var}" 60
}

cmd_rss() {
    local i
    load_env
    for ((i = 1; i <= NODES; i++)); do
        local pid
        pid="$(cat "$DIR/n$i/rabbitmq.pid" 2>/dev/null)"
        echo "node $i: $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null) KiB"
    done
}

usage() {
    echo "usage: rabbitmq-cluster.sh start|stop|rss DIR | stop-node|start-node DIR N | ctl DIR N ARGS..." >&2
    exit 2
}

[ $# -ge 2 ] || usage
CMD="$1"
DIR="$2"
shift 2
case "$CMD" in
start) cmd_start ;;
stop) cmd_stop ;;
stop-node | start-node | ctl)
    [ $# -ge 1 ] && [[ "$1" =~ ^[1-3]$ ]] || usage
    case "$CMD" in
    stop-node) cmd_stop_node "$1" ;;
    start-node) cmd_start_node "$1" ;;
    ctl) load_env && ctl "$@" ;;
    esac
    ;;
rss) cmd_rss ;;
*) usage ;;
esac
