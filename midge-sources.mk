# midge source lists for Make-based and vendor (ESP8266 / Cortex-M SDK) builds.
# Add $(MIDGE_CORE_SOURCES) to your sources and -I$(MIDGE_DIR)/include to CFLAGS.
# The core needs only <stdint.h>, <stddef.h>, <stdbool.h> and <string.h>.
MIDGE_DIR ?= .
# The core is one file, core.c, which includes its parts (codec.c, topic.c,
# session*.c in the same folder); do not compile the parts on their own.
MIDGE_CORE_SOURCES := \
	$(MIDGE_DIR)/src/mqtt/core.c
# Optional, freestanding like the core, never called by it. Strings:
# midge_strerror, midge_status_name, midge_malformed_str (about 2 KB of
# text). Match: midge_topic_matches, to route received messages.
MIDGE_STRINGS_SOURCES := \
	$(MIDGE_DIR)/src/mqtt/strings.c
MIDGE_MATCH_SOURCES := \
	$(MIDGE_DIR)/src/mqtt/topic_match.c
# The blocking client, freestanding too: the platform passes in its
# transport opener, clock and idle hook (include/midge/platform.h).
MIDGE_CLIENT_SOURCES := \
	$(MIDGE_DIR)/src/mqtt/client.c \
	$(MIDGE_DIR)/src/mqtt/client_connect.c \
	$(MIDGE_DIR)/src/mqtt/client_event.c \
	$(MIDGE_DIR)/src/mqtt/client_io.c
MIDGE_POSIX_SOURCES := \
	$(MIDGE_DIR)/src/port/posix/clock.c \
	$(MIDGE_DIR)/src/port/posix/tcp.c \
	$(MIDGE_DIR)/src/port/posix/unix.c
# The transport over lwIP's raw TCP API (include/midge/lwip.h); needs
# lwIP's include folders and your lwipopts.h on the include path.
MIDGE_LWIP_SOURCES := \
	$(MIDGE_DIR)/src/port/lwip/lwip_tcp.c
MIDGE_INCLUDE_DIRS := $(MIDGE_DIR)/include
