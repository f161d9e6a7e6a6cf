/*
 * lwIP's architecture header for the ESP8266 size measurement: the
 * Xtensa LX106 is little-endian and lwIP's defaults cover its types.
 */
#ifndef MIDGE_ESP8266_ARCH_CC_H
#define MIDGE_ESP8266_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>

#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x) abort()
#define LWIP_NO_UNISTD_H 1

#endif /* MIDGE_ESP8266_ARCH_CC_H */
