/*
 * midge brokers: parsing a broker list and the failover rules over it
 * (brokers.h). Freestanding, no heap: the list is cut in the caller's
 * text, and the rules are a handful of indexes.
 */
#include "midge/brokers.h"

/* --- parsing --------------------------------------------------------------- */

static char *brokers_find(char *s, char c)
{
    for (; *s != '\0'; s++) {
        if (*s == c)
            return s;
    }
    return NULL;
}

/* A port: 1..65535 in decimal, nothing else. */
static bool brokers_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10u + (unsigned long)(*s - '0');
        if (v > 65535u)
            return false;
    }
    if (v == 0)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* One item, already cut at its comma. */
static bool brokers_item(char *item, uint16_t default_port, midge_broker *b)
{
    char *colon;

    b->port = default_port;
    if (item[0] == '[') {
        char *close = brokers_find(item, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return false;
        *close = '\0';
        b->host = item + 1;
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        b->host = item;
        colon = brokers_find(item, ':');
        /* A second colon: an IPv6 address, which has no port without []. */
        if (colon != NULL && brokers_find(colon + 1, ':') != NULL)
            colon = NULL;
    }
    if (colon != NULL) {
        *colon = '\0';
        if (!brokers_port(colon + 1, &b->port))
            return false;
    }
    return b->host[0] != '\0';
}

midge_status midge_brokers_parse(char *text, uint16_t default_port, midge_broker *out,
                                 size_t cap, size_t *count)
{
    size_t n = 0;

    *count = 0;
    if (text == NULL || out == NULL)
        return MIDGE_ERR_INVALID;
    for (char *item = text;; n++) {
        char *comma = brokers_find(item, ',');
        if (comma != NULL)
            *comma = '\0';
        *count = n;
        if (n == cap)
            return MIDGE_ERR_NO_SPACE;
        if (!brokers_item(item, default_port, &out[n]))
            return MIDGE_ERR_INVALID;
        if (comma == NULL)
            break;
        item = comma + 1;
    }
    *count = n + 1;
    return MIDGE_OK;
}

/* --- failover -------------------------------------------------------------- */

void midge_failover_init(midge_failover *f, size_t count, size_t first)
{
    if (count > MIDGE_FAILOVER_MAX_ITEMS)
        count = MIDGE_FAILOVER_MAX_ITEMS;
    f->count = (uint16_t)(count != 0 ? count : 1u);
    f->at = (uint16_t)(first % f->count);
    f->addr = 0;
    f->addr_more = false;
    f->in_pass = false;
    f->pass_over = false;
    f->pass_start = f->at;
    f->worst = MIDGE_OK;
}

/* How far an attempt got before it failed: the broker's own answer says
 * the most, a name that never resolved the least. */
static int failover_rank(midge_status st)
{
    if (midge_status_is_refusal(st))
        return 4;
    switch (st) {
    case MIDGE_ERR_RESOLVE:
        return 0;
    case MIDGE_ERR_CONNECT:
    case MIDGE_ERR_BIND:
        return 1;
    case MIDGE_ERR_CONNACK_TIMEOUT:
        return 3;
    default:
        return 2; /* TLS, or the connection closed or garbled after TCP */
    }
}

bool midge_failover_failed(midge_failover *f, midge_status st)
{
    if (!f->in_pass) {
        /* The failed item opens the pass: it is tried again only after
         * every other one, and after the backoff. */
        f->in_pass = true;
        f->pass_start = f->at;
        f->worst = (int8_t)st;
    } else if (failover_rank(st) >= failover_rank((midge_status)f->worst)) {
        f->worst = (int8_t)st;
    }
    if (f->addr_more && f->addr < MIDGE_FAILOVER_MAX_ADDRS) {
        f->addr++;
        f->addr_more = false;
        return false;
    }
    f->addr = 0;
    f->at = (uint16_t)(f->at + 1u < f->count ? f->at + 1u : 0u);
    if (f->at != f->pass_start)
        return false;
    f->in_pass = false;
    f->pass_over = true;
    return true;
}

void midge_failover_connected(midge_failover *f)
{
    f->in_pass = false;
    f->pass_over = false;
}
