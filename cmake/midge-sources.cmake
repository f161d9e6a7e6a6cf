# midge source lists, for CMake and for anyone reading them into another build
# system (see also midge-sources.mk). Paths are relative to the project root.

# The client core: no OS headers, no heap; builds with -ffreestanding.
set(MIDGE_CORE_SOURCES
    src/mqtt/status.c
    src/mqtt/codec.c
    src/mqtt/topic.c
    src/mqtt/session.c
)

# The server half of the codec (fake brokers in tests); not in the client core.
set(MIDGE_SERVER_CODEC_SOURCES
    src/mqtt/codec_server.c
)

# Blocking client and the POSIX port.
set(MIDGE_POSIX_SOURCES
    src/mqtt/client.c
    src/port/posix/clock.c
    src/port/posix/tcp.c
)

set(MIDGE_INCLUDE_DIRS include)
