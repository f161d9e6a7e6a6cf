# midge as a MicroPython user C module (CMake-based ports: esp32, rp2).
# Build with USER_C_MODULES=<midge>/bindings/micropython/micropython.cmake.
# The same sources as micropython.mk, from the same lists.
set(MIDGE_ROOT ${CMAKE_CURRENT_LIST_DIR}/../..)
include(${MIDGE_ROOT}/cmake/midge-sources.cmake)

add_library(usermod_midge INTERFACE)

set(MIDGE_MP_LIB_SOURCES
  ${MIDGE_CORE_SOURCES} ${MIDGE_STRINGS_SOURCES} ${MIDGE_MATCH_SOURCES}
  ${MIDGE_CLIENT_SOURCES} ${MIDGE_DEVICE_SOURCES})
list(TRANSFORM MIDGE_MP_LIB_SOURCES PREPEND ${MIDGE_ROOT}/)

target_sources(usermod_midge INTERFACE
  ${CMAKE_CURRENT_LIST_DIR}/modmidge.c
  ${CMAKE_CURRENT_LIST_DIR}/link.c
  ${CMAKE_CURRENT_LIST_DIR}/mqtt.c
  ${CMAKE_CURRENT_LIST_DIR}/device.c
  ${MIDGE_MP_LIB_SOURCES})

target_include_directories(usermod_midge INTERFACE
  ${MIDGE_ROOT}/include ${CMAKE_CURRENT_LIST_DIR})

target_link_libraries(usermod INTERFACE usermod_midge)
