/*
 * lwIP's architecture header for the host test: a failed lwIP assertion
 * aborts the test (cmocka reports it), and the random source is the
 * test's own.
 */
#ifndef MIDGE_TEST_ARCH_CC_H
#define MIDGE_TEST_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint32_t lwip_test_random(void);

#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                  \
    do {                                                                         \
        fprintf(stderr, "lwIP assertion \"%s\" at %s:%d\n", x, __FILE__, __LINE__); \
        abort();                                                                 \
    } while (0)
#define LWIP_RAND() lwip_test_random()

#endif /* MIDGE_TEST_ARCH_CC_H */
