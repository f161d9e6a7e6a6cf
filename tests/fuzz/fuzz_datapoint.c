/*
 * fuzz_datapoint: the platform plugin's $dp decoder
 * (plugins/mosquitto-onenet/datapoint.h) over fuzzer-chosen payloads.
 *
 * Oracles:
 *  - success: the output is one well-formed JSON object (jsmn, strict,
 *    consumes all of it), shorter than the room ONENET_DP_OUT_CAP gives,
 *    and the writer never reports it full;
 *  - failure: a reason is given;
 *  - the payload is an exact-size heap block, so an over-read is an ASan
 *    report; nothing is written past the output's capacity.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "datapoint.h"
#include "fuzz_input.h"

static jsmntok_t check_tokens[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t work[ONENET_DP_WORK_BYTES / sizeof(uint64_t)];
    uint8_t *payload = malloc(size > 0 ? size : 1);
    size_t cap = ONENET_DP_OUT_CAP(size);
    char *out = malloc(cap);
    if (payload == NULL || out == NULL) {
        free(payload);
        free(out);
        return 0;
    }
    memcpy(payload, data, size);
    onenet_json j;
    const char *why = NULL;
    onenet_json_init(&j, out, cap);
    if (onenet_dp_decode(payload, size, work, &j, &why)) {
        FUZZ_CHECK(!j.full && j.len < cap && strlen(out) == j.len);
        jsmn_parser parser;
        jsmn_init(&parser);
        int n = jsmn_parse(&parser, out, j.len, check_tokens,
                           sizeof check_tokens / sizeof check_tokens[0]);
        FUZZ_CHECK(n >= 1 && check_tokens[0].type == JSMN_OBJECT);
        FUZZ_CHECK(check_tokens[0].start == 0 && (size_t)check_tokens[0].end == j.len);
    } else {
        FUZZ_CHECK(why != NULL);
    }
    free(payload);
    free(out);
    return 0;
}
