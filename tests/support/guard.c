/* Over-read guard pages for decoder tests: see guard.h. */
#include "guard.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int guard_init(guard_buf *g, size_t capacity)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t readable = (capacity + page - 1) / page * page;

    if (readable == 0)
        readable = page;
    memset(g, 0, sizeof(*g));
    void *map = mmap(NULL, readable + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (map == MAP_FAILED)
        return -1;
    /* The last page becomes the trap: any access to it raises SIGSEGV. */
    if (mprotect((uint8_t *)map + readable, page, PROT_NONE) != 0) {
        munmap(map, readable + page);
        return -1;
    }
    g->map = map;
    g->map_len = readable + page;
    g->capacity = readable;
    return 0;
}

const uint8_t *guard_place(guard_buf *g, const void *src, size_t len)
{
    if (g->map == NULL || len > g->capacity)
        return NULL;
    uint8_t *start = g->map + g->capacity - len;
    if (len != 0)
        memcpy(start, src, len);
    return start;
}

uint8_t *guard_tail(guard_buf *g, size_t len)
{
    if (g->map == NULL || len > g->capacity)
        return NULL;
    return g->map + g->capacity - len;
}

void guard_release(guard_buf *g)
{
    if (g->map != NULL)
        munmap(g->map, g->map_len);
    memset(g, 0, sizeof(*g));
}
