/*
 * OneNET legacy data points: the payload of a `$dp` PUBLISH (onenet.md
 * section 1) decoded into one JSON document for the platform's operators:
 *
 *   {"type":3,"points":[{"id":"temperature","value":22.5}]}
 *   {"type":1,"points":[{"id":"led","at":"2017-05-04 13:39:49","value":1}]}
 *
 * One entry of "points" per value, in the payload's order; "at" only where
 * the payload gives a time. Values keep their JSON type (types 1, 3, 4);
 * in the text types (5, 6) a value that reads as a JSON number is a number
 * and anything else a string; type 7's floats are numbers and its stream
 * ids the "id" strings. Type 2 (a binary blob) is not decoded.
 *
 * Pure functions over caller buffers: no I/O, no allocation.
 */
#ifndef ONENET_DATAPOINT_H
#define ONENET_DATAPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_out.h"

/* The JSON tokens one decode may need (jsmn); more is malformed. */
#define ONENET_DP_TOKENS_MAX 4096

/* At most this many streams in a type 7 payload (onenet.md section 1). */
#define ONENET_DP_TYPE7_STREAMS_MAX 500

/* A room for the JSON of any payload of n bytes: escaping makes a byte
 * at most 6 (\u00XX), and each point adds its braces and names. */
#define ONENET_DP_OUT_CAP(n) (16 * (size_t)(n) + 256)

/* Bytes of working memory one decode needs (its JSON tokens); the
 * caller's, aligned for an int. */
#define ONENET_DP_WORK_BYTES (ONENET_DP_TOKENS_MAX * 16)

/* Decode p[0..n) into out, using work (ONENET_DP_WORK_BYTES). True on
 * success; false with *why (a static string) when the payload is
 * malformed, of a type not decoded, or its JSON does not fit in out. */
bool onenet_dp_decode(const uint8_t *p, size_t n, void *work, onenet_json *out,
                      const char **why);

#endif /* ONENET_DATAPOINT_H */
