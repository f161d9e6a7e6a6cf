/*
 * The midge client core as one translation unit: the codec, topic checks
 * and the session engine, compiled together.
 *
 * This is the file an integrator compiles (MIDGE_CORE_SOURCES in
 * cmake/midge-sources.cmake and midge-sources.mk); the parts below are
 * written as separate files for reading, but are not compiled on their own.
 * One unit lets every helper that crosses parts be static (MIDGE_CORE__FN
 * in codec_internal.h), so the compiler inlines single callers and drops
 * what nothing calls: on the ESP8266, where every external call is a long
 * call through a literal, that is about a twentieth of the core.
 *
 * Only what the server half of the codec (codec_server.c, outside the
 * core) shares keeps external linkage besides the public API.
 */
#define MIDGE_CORE_UNIT 1

#include "codec.c"
#include "topic.c"
#include "session.c"
#include "session_rx.c"
#include "session_store.c"
