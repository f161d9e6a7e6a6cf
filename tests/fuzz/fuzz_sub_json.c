/*
 * fuzz_sub_json: `midge sub -F %J`'s reading of a message payload as JSON
 * (src/cli/sub_json.c), the one parser in the tools fed by any publisher.
 *
 * Input: [mode][payload...]; bit 0 of mode asks for --pretty. Besides not
 * crashing or reading out of bounds, the re-printed text must itself be
 * JSON that prints back to the same text: the writer and the reader agree,
 * whatever the payload was.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "sub_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = fuzz_input_make(data, size);
    bool pretty = (fuzz_u8(&in) & 1u) != 0;
    size_t n = 0;
    const uint8_t *payload = fuzz_bytes(&in, in.left, &n);
    char *first = NULL;
    size_t first_len = 0;
    size_t first_cap = 0;
    char *again = NULL;
    size_t again_len = 0;
    size_t again_cap = 0;

    if (sub_json_reprint(&first, &first_len, &first_cap, payload, n, pretty, 1)) {
        FUZZ_CHECK(sub_json_reprint(&again, &again_len, &again_cap, (const uint8_t *)first,
                                    first_len, pretty, 1));
        FUZZ_CHECK(again_len == first_len && memcmp(again, first, first_len) == 0);
    } else {
        FUZZ_CHECK(first_len == 0);
    }
    /* %j's string escaping never fails but for memory. */
    char *s = NULL;
    size_t s_len = 0;
    size_t s_cap = 0;
    FUZZ_CHECK(sub_json_put_string(&s, &s_len, &s_cap, payload, n));
    free(first);
    free(again);
    free(s);
    return 0;
}
