# midge as a MicroPython user C module (make-based ports: unix, esp8266,
# stm32...). Build with USER_C_MODULES=<midge>/bindings, e.g.
#   make -C ports/unix USER_C_MODULES=/path/to/midge/bindings
#
# midge's own sources are compiled unchanged, from the lists in
# cmake/midge-sources.cmake (the client core, status strings, topic
# matching, the blocking client and the device layer). The device layer
# needs jsmn.h (header-only) on the include path: Debian's libjsmn-dev puts
# it in /usr/include; elsewhere add its folder to CFLAGS_USERMOD.
MIDGE_MOD_DIR := $(USERMOD_DIR)
MIDGE_ROOT := $(abspath $(MIDGE_MOD_DIR)/../..)

# The paths listed under set(NAME ...) in midge-sources.cmake.
midge_list = $(shell sed -n '/^set($(1)$$/,/^)/s/^ *\(src\/[^ ]*\.c\).*/\1/p' \
	$(MIDGE_ROOT)/cmake/midge-sources.cmake)

# The module's own files. Their objects would go to $(BUILD)/micropython/,
# where the unix port writes its executable: a path that does not start
# with $(USER_C_MODULES)/ (the doubled slash) keeps them under
# $(BUILD)/<absolute path>/ instead.
MIDGE_MOD_SRC := $(MIDGE_ROOT)//bindings/micropython
SRC_USERMOD_C += \
	$(MIDGE_MOD_SRC)/modmidge.c \
	$(MIDGE_MOD_SRC)/link.c \
	$(MIDGE_MOD_SRC)/mqtt.c \
	$(MIDGE_MOD_SRC)/device.c

# Absolute paths: their objects land under the port's build folder.
SRC_USERMOD_LIB_C += $(addprefix $(MIDGE_ROOT)/, \
	$(call midge_list,MIDGE_CORE_SOURCES) \
	$(call midge_list,MIDGE_STRINGS_SOURCES) \
	$(call midge_list,MIDGE_MATCH_SOURCES) \
	$(call midge_list,MIDGE_CLIENT_SOURCES) \
	$(call midge_list,MIDGE_DEVICE_SOURCES))

CFLAGS_USERMOD += -I$(MIDGE_ROOT)/include -I$(MIDGE_MOD_DIR)
