# Brokers on loopback for midge's interop tests, sourced by scenario.sh.
#
#   broker_start KIND DIR   start a fresh broker of KIND with its data in DIR;
#                           sets BROKER_PORT, BROKER_AUTH (the -u/-P flags it
#                           needs, as an array) and BROKER_VERSION
#   broker_stop             stop it and everything it started
#
# KIND: mosquitto, mosquitto-nodelay, rabbitmq, ejabberd, aedes. Every
# broker listens on 127.0.0.1 only, on ports picked free, so several runs
# can go side by side; every wait is bounded. BROKER_CACHE (a directory in
# the build tree) keeps aedes's npm install between runs.

BROKER_KIND=""
BROKER_DIR=""
BROKER_PID=""
BROKER_PORT=""
BROKER_VERSION=""
BROKER_AUTH=()
BROKER_EPMD_PORT=""
# The password of the ejabberd user (tests/support/secrets.h,
# SECRET_LIBRARY_PASSWORD: the secrets scan looks for it in every output).
BROKER_SECRET="wonderland-0f-pa55words"

# A TCP port nobody listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to $2 seconds for a listener on 127.0.0.1:$1.
wait_port() {
    local port="$1" limit="$2" i
    for ((i = 0; i < limit * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if [ -n "$BROKER_PID" ] && ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "broker: $BROKER_KIND exited during start-up" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "broker: $BROKER_KIND not listening on port $port after $limit s" >&2
    return 1
}

start_mosquitto() {
    local nodelay="$1"
    {
        echo "listener $BROKER_PORT 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence false"
        echo "log_dest file $BROKER_DIR/mosquitto.log"
        [ "$nodelay" = 1 ] && echo "set_tcp_nodelay true"
    } >"$BROKER_DIR/mosquitto.conf"
    mosquitto -c "$BROKER_DIR/mosquitto.conf" >"$BROKER_DIR/out.log" 2>&1 &
    BROKER_PID=$!
    BROKER_VERSION="mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p')"
    wait_port "$BROKER_PORT" 10
}

# The environment of a RabbitMQ node whose files all live in DIR (HOME
# with its Erlang cookie, Mnesia, logs, config), named NAME, with its
# distribution port DIST and the epmd at port EPMD, on 127.0.0.1 only;
# rabbitmqctl takes the ten ports above DIST (its default range is fixed,
# and two runs side by side would share it).
rabbitmq_node_env() {
    local dir="$1" name="$2" dist="$3" epmd="$4"
    export HOME="$dir" \
        RABBITMQ_NODENAME="$name" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_DIST_PORT="$dist" \
        RABBITMQ_CTL_DIST_PORT_MIN="$((dist + 1))" \
        RABBITMQ_CTL_DIST_PORT_MAX="$((dist + 10))" \
        ERL_EPMD_PORT="$epmd" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" \
        RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
}

# RabbitMQ 3.10: a fresh node of its own (name, ports, epmd, Mnesia and
# HOME with its Erlang cookie, all under DIR), MQTT only.
rabbitmq_env() {
    rabbitmq_node_env "$BROKER_DIR" "midge$BROKER_PORT@localhost" "$BROKER_DIST_PORT" \
        "$BROKER_EPMD_PORT"
}

start_rabbitmq() {
    BROKER_EPMD_PORT="$(free_port)"
    BROKER_DIST_PORT="$(free_port)"
    cat >"$BROKER_DIR/rabbitmq.conf" <<CONF
listeners.tcp = none
mqtt.listeners.tcp.1 = 127.0.0.1:$BROKER_PORT
mqtt.allow_anonymous = true
loopback_users = none
log.console = false
log.file.level = warning
CONF
    echo "[rabbitmq_mqtt]." >"$BROKER_DIR/enabled_plugins"
    (rabbitmq_env && exec /usr/lib/rabbitmq/bin/rabbitmq-server) >"$BROKER_DIR/out.log" 2>&1 &
    BROKER_PID=$!
    BROKER_VERSION="RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server | cut -d- -f1)"
    wait_port "$BROKER_PORT" 90
}

stop_rabbitmq() {
    (rabbitmq_env && timeout 30 /usr/lib/rabbitmq/bin/rabbitmqctl shutdown) >/dev/null 2>&1 || true
}

# ejabberd 23.01 with mod_mqtt: a node of its own, run as the ejabberd
# user (as ejabberdctl does when started by root), one registered user.
ejabberd_ctl() {
    ERL_EPMD_PORT="$BROKER_EPMD_PORT" timeout 60 /usr/sbin/ejabberdctl \
        --config-dir "$BROKER_DIR/conf" --config "$BROKER_DIR/conf/ejabberd.yml" \
        --ctl-config "$BROKER_DIR/conf/ejabberdctl.cfg" --logs "$BROKER_DIR/logs" \
        --spool "$BROKER_DIR/spool" --node "midge$BROKER_PORT@localhost" "$@"
}

start_ejabberd() {
    BROKER_EPMD_PORT="$(free_port)"
    mkdir -p "$BROKER_DIR/conf" "$BROKER_DIR/logs" "$BROKER_DIR/spool"
    cat >"$BROKER_DIR/conf/ejabberd.yml" <<CONF
hosts:
  - localhost
loglevel: warning
certfiles: []
listen:
  -
    port: $BROKER_PORT
    ip: "127.0.0.1"
    module: mod_mqtt
    backlog: 1024
auth_method: internal
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_mqtt:
    access_publish:
      "#":
        - allow
    access_subscribe:
      "#":
        - allow
CONF
    cp /etc/ejabberd/inetrc "$BROKER_DIR/conf/"
    printf 'ERLANG_NODE=midge%s@localhost\nEJABBERD_PID_PATH=%s/ejabberd.pid\nERL_EPMD_ADDRESS=127.0.0.1\n' \
        "$BROKER_PORT" "$BROKER_DIR" >"$BROKER_DIR/conf/ejabberdctl.cfg"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R ejabberd "$BROKER_DIR"
        chmod 755 "$BROKER_DIR" "$(dirname "$BROKER_DIR")"
    fi
    ejabberd_ctl start >"$BROKER_DIR/out.log" 2>&1 || return 1
    BROKER_VERSION="ejabberd $(dpkg-query -W -f='${Version}' ejabberd | cut -d- -f1)"
    wait_port "$BROKER_PORT" 60 || return 1
    ejabberd_ctl started >/dev/null 2>&1 || return 1
    ejabberd_ctl register midge localhost "$BROKER_SECRET" >/dev/null || return 1
    BROKER_AUTH=(-u midge -P "$BROKER_SECRET")
}

stop_ejabberd() {
    ejabberd_ctl stop >/dev/null 2>&1 || true
    ejabberd_ctl stopped >/dev/null 2>&1 || true
}

# aedes from npm, the version the lock file pins, installed once per
# build tree with `npm ci`.
start_aedes() {
    local here cache
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    cache="${BROKER_CACHE:-$BROKER_DIR}/aedes"
    mkdir -p "$cache" && cache="$(cd "$cache" && pwd)" || return 1
    if ! cmp -s "$here/aedes/package-lock.json" "$cache/package-lock.json" ||
        [ ! -d "$cache/node_modules/aedes" ]; then
        cp "$here/aedes/package.json" "$here/aedes/package-lock.json" "$cache/"
        (cd "$cache" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || return 1
    fi
    cp "$here/aedes/server.js" "$cache/"
    node "$cache/server.js" "$BROKER_PORT" >"$BROKER_DIR/out.log" 2>&1 &
    BROKER_PID=$!
    BROKER_VERSION="aedes $(node -p "require('$cache/node_modules/aedes/package.json').version")"
    wait_port "$BROKER_PORT" 20
}

broker_start() {
    BROKER_KIND="$1"
    BROKER_DIR="$2"
    BROKER_PORT="$(free_port)"
    BROKER_AUTH=()
    mkdir -p "$BROKER_DIR"
    case "$BROKER_KIND" in
    mosquitto) start_mosquitto 0 ;;
    mosquitto-nodelay) start_mosquitto 1 ;;
    rabbitmq) start_rabbitmq ;;
    ejabberd) start_ejabberd ;;
    aedes) start_aedes ;;
    *)
        echo "broker: unknown kind $BROKER_KIND" >&2
        return 2
        ;;
    esac
}

broker_stop() {
    case "$BROKER_KIND" in
    rabbitmq) stop_rabbitmq ;;
    ejabberd) stop_ejabberd ;;
    esac
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$BROKER_PID" 2>/dev/null
    fi
    # The Erlang port mapper of a RabbitMQ or ejabberd node of ours.
    if [ -n "$BROKER_EPMD_PORT" ]; then
        pkill -f "epmd.*-port $BROKER_EPMD_PORT" 2>/dev/null
        ERL_EPMD_PORT="$BROKER_EPMD_PORT" epmd -kill >/dev/null 2>&1
        pkill -u ejabberd -f "midge$BROKER_PORT@localhost" 2>/dev/null
        pkill -f "midge$BROKER_PORT@localhost" 2>/dev/null
    fi
    BROKER_PID=""
    BROKER_EPMD_PORT=""
    true
}
