/*
 * midge bench: latency histograms in fixed memory, in the manner of HDR
 * histograms: exact below 2^sub_bits, then every power of two split into
 * 2^(sub_bits - 1) equal buckets. The relative width of a bucket is thus
 * bounded (2^-(sub_bits-1)) whatever the magnitude, and a percentile read
 * from it is off by at most that much. Both the run's histogram and the
 * coarser per-interval ones of the timeline use the same indexing.
 */
#include <string.h>

#include "bench_internal.h"

/* Bucket of `v` for a histogram with `sub` sub-bits and `max_bits`
 * magnitude bits; values past 2^max_bits land in the last bucket. */
static unsigned bucket_of(uint64_t v, unsigned sub, unsigned max_bits)
{
    unsigned half = 1u << (sub - 1u);

    if (v >= ((uint64_t)1 << max_bits))
        v = ((uint64_t)1 << max_bits) - 1u;
    if (v < ((uint64_t)1 << sub))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    /* Shifted so that v >> shift falls in [half, 2 * half). */
    unsigned shift = msb - sub + 1u;
    return (1u << sub) + (shift - 1u) * half + (unsigned)((v >> shift) - half);
}

static uint64_t bucket_low(unsigned i, unsigned sub)
{
    unsigned half = 1u << (sub - 1u);

    if (i < (1u << sub))
        return i;
    unsigned k = i - (1u << sub);
    unsigned shift = k / half + 1u;
    return (uint64_t)(k % half + half) << shift;
}

static uint64_t bucket_high(unsigned i, unsigned sub)
{
    unsigned half = 1u << (sub - 1u);

    if (i < (1u << sub))
        return i;
    unsigned k = i - (1u << sub);
    unsigned shift = k / half + 1u;
    return ((uint64_t)(k % half + half + 1u) << shift) - 1u;
}

/* Rank of the p-th percentile among `count` values: at least 1. */
static uint64_t rank_of(uint64_t count, double p)
{
    if (p <= 0.0)
        return 1;
    if (p >= 100.0)
        return count;
    double r = p / 100.0 * (double)count;
    uint64_t k = (uint64_t)r;
    if ((double)k < r)
        k++;
    return k == 0 ? 1 : k;
}

/* --- The run's histogram ---------------------------------------------------- */

void bench_hist_reset(struct bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void bench_hist_add(struct bench_hist *h, uint64_t value)
{
    h->bins[bucket_of(value, BENCH_HIST_SUB_BITS, BENCH_HIST_MAX_BITS)]++;
    h->count++;
    h->sum += value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
    uint64_t want = rank_of(h->count, p);
    uint64_t seen = 0;

    if (h->count == 0)
        return 0;
    for (unsigned i = 0; i < BENCH_HIST_BINS; i++) {
        seen += h->bins[i];
        if (seen >= want) {
            uint64_t v = bucket_high(i, BENCH_HIST_SUB_BITS);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

uint64_t bench_hist_bin_low(unsigned i) { return bucket_low(i, BENCH_HIST_SUB_BITS); }

uint64_t bench_hist_bin_high(unsigned i) { return bucket_high(i, BENCH_HIST_SUB_BITS); }

/* --- Latency over time ------------------------------------------------------ */

void bench_timeline_init(struct bench_timeline *t, uint64_t span_ns)
{
    const uint64_t min_step = 100000000u; /* 100 ms: enough samples per point */
    uint64_t step = span_ns / (BENCH_TL_SLOTS - 1u) + 1u;

    memset(t, 0, sizeof *t);
    t->step_ns = step < min_step ? min_step : step;
}

void bench_timeline_add(struct bench_timeline *t, uint64_t at_ns, uint64_t value)
{
    uint64_t i = at_ns / t->step_ns;

    /* A command sent late in a stalled run still counts in the last slot. */
    if (i >= BENCH_TL_SLOTS)
        i = BENCH_TL_SLOTS - 1u;
    struct bench_tl_slot *s = &t->slots[i];
    s->bins[bucket_of(value, BENCH_TL_SUB_BITS, BENCH_TL_MAX_BITS)]++;
    s->count++;
    if (value > s->max)
        s->max = value;
    if (i + 1u > t->used)
        t->used = (uint32_t)(i + 1u);
}

uint64_t bench_timeline_percentile(const struct bench_tl_slot *s, double p)
{
    uint64_t want = rank_of(s->count, p);
    uint64_t seen = 0;

    if (s->count == 0)
        return 0;
    for (unsigned i = 0; i < BENCH_TL_BINS; i++) {
        seen += s->bins[i];
        if (seen >= want) {
            uint64_t v = bucket_high(i, BENCH_TL_SUB_BITS);
            return v < s->max ? v : s->max;
        }
    }
    return s->max;
}
