#!/usr/bin/env bash
# Prepare a Debian 12 machine for midge and build it into build/.
# Idempotent: apt runs only when a package is missing; the build is incremental.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${MIDGE_BUILD_DIR:-$ROOT/build}"
# Targets to build (all by default); the demo asks for the midge tool only.
TARGETS=("$@")

PACKAGES=(
    build-essential cmake pkg-config
    mosquitto mosquitto-clients
    libcmocka-dev libmbedtls-dev libjsmn-dev libinih-dev
    libgpiod-dev gpiod
    libmosquitto-dev libpaho-mqtt-dev mosquitto-dev
    openssl clang libclang-rt-14-dev valgrind gnuplot-nox
    gcc-arm-none-eabi libnewlib-arm-none-eabi picolibc-arm-none-eabi
    qemu-system-arm socat
    gcc-xtensa-lx106 picolibc-xtensa-lx106-elf
    procps iproute2 python3
    libffi-dev
    rabbitmq-server ejabberd
    libmicrohttpd-dev libcjson-dev chromium
)
# The interop tests run aedes on Node.js. A machine that has node and npm
# already (from Debian or elsewhere) keeps them: Debian's npm would conflict
# with another vendor's node.
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" apt-get install -y --no-install-recommends "${PACKAGES[@]}"
else
    echo "setup: all ${#PACKAGES[@]} packages present"
fi

# The mosquitto package may start a system broker on port 1883. midge's tests
# and demo start their own brokers on free loopback ports, so it is left alone.

echo "setup: building into $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${#TARGETS[@]}" -gt 0 ]; then
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}"
else
    cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
