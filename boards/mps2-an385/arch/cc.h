/*
 * lwIP's architecture header for the MPS2 AN385 firmware (Cortex-M3,
 * little-endian, picolibc). lwIP's defaults cover the types (stdint.h) and
 * the byte order; what is left is the random source and what a failed
 * assertion does: say where on the console and stop the board with its
 * own exit status (board.h).
 */
#ifndef MIDGE_BOARD_ARCH_CC_H
#define MIDGE_BOARD_ARCH_CC_H

#include <stdint.h>

void board_lwip_assert(const char *msg, int line, const char *file);
uint32_t board_random(void);

#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x) board_lwip_assert((x), __LINE__, __FILE__)
#define LWIP_RAND() board_random()
#define LWIP_NO_UNISTD_H 1

#endif /* MIDGE_BOARD_ARCH_CC_H */
