# midge source lists, for CMake and for anyone reading them into another build
# system (see also midge-sources.mk). Paths are relative to the project root.

# The client core: no OS headers, no heap; builds with -ffreestanding.
# One translation unit: core.c includes its parts (codec.c, topic.c,
# session.c, session_rx.c, session_store.c), which are not compiled on
# their own; helpers shared between the parts are static there.
set(MIDGE_CORE_SOURCES
    src/mqtt/core.c
)

# Optional beside the core, freestanding too; neither the codec nor the
# session calls them, so a firmware may leave them out (their functions are
# then absent, a link error rather than a silent change).
# Text for status codes and malformed reasons: midge_strerror,
# midge_status_name, midge_malformed_str.
set(MIDGE_STRINGS_SOURCES
    src/mqtt/strings.c
)
# Topic filter matching for routing received messages: midge_topic_matches.
set(MIDGE_MATCH_SOURCES
    src/mqtt/topic_match.c
)

# The device layer (LED logic, OneNET profiles): no OS headers, no heap; builds
# with -ffreestanding. Needs jsmn.h (header-only) on the include path, and
# MIDGE_STRINGS_SOURCES and MIDGE_MATCH_SOURCES besides the core.
set(MIDGE_DEVICE_SOURCES
    src/device/device.c
    src/device/handle.c
    src/device/json.c
    src/device/report.c
    src/device/studio.c
    src/device/text.c
)

# The server half of the codec (fake brokers in tests); not in the client core.
set(MIDGE_SERVER_CODEC_SOURCES
    src/mqtt/codec_server.c
)

# The blocking client: no OS headers, no heap; builds with -ffreestanding.
# The platform supplies its transport opener, clock and idle hook
# (include/midge/platform.h), so it runs on POSIX and on a board alike.
set(MIDGE_CLIENT_SOURCES
    src/mqtt/client.c
    src/mqtt/client_connect.c
    src/mqtt/client_event.c
    src/mqtt/client_io.c
)

# The POSIX port: TCP sockets, the monotonic clock, midge_posix_platform.
set(MIDGE_POSIX_SOURCES
    src/port/posix/clock.c
    src/port/posix/tcp.c
    src/port/posix/unix.c
)

# The lwIP port: midge's transport over lwIP's raw TCP API (NO_SYS=1, no
# threads, no board code; include/midge/lwip.h). Needs lwIP's include
# folders and the application's lwipopts.h on the include path
# (cmake/lwip-sources.cmake lists the vendored lwIP core).
set(MIDGE_LWIP_SOURCES
    src/port/lwip/lwip_tcp.c
)

# The OneNET token: HMAC through mbedTLS (mbedcrypto), which allocates, so it
# sits outside the no-heap core.
set(MIDGE_TOKEN_SOURCES
    src/device/token.c
)

# LED drivers on POSIX: simulated, and Linux GPIO through libgpiod (v1 API).
# led.c alone is OS-free, for a microcontroller port's own driver.
set(MIDGE_LED_SOURCES
    src/port/led/led.c
    src/port/led/led_open.c
    src/port/led/led_sim.c
    src/port/led/led_gpiod.c
)

# TLS transport over mbedTLS (mbedtls, mbedx509, mbedcrypto), on top of
# the POSIX TCP transport; allocates, so outside the no-heap core.
set(MIDGE_TLS_SOURCES
    src/port/tls/tls.c
    src/port/tls/tls_error.c
)

set(MIDGE_INCLUDE_DIRS include)
