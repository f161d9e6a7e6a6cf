/*
 * fuzz_registry: the platform plugin's device registry parser
 * (plugins/mosquitto-onenet/registry.h) over fuzzer-chosen text.
 *
 * Oracles:
 *  - success: products and devices are sorted by id without duplicates,
 *    every id is valid, every device's product is in the registry and is
 *    the one it names, and each lookup finds its own entry;
 *  - failure: the registry is empty and the error is one line starting
 *    with the file's name;
 *  - never a read or write out of bounds, never a leak (ASan, LSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onenet_registry reg;
    char err[512];
    /* An exact-size copy: an over-read past the text is an ASan report. */
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    bool ok = onenet_registry_parse(&reg, text, size, "fuzz.ini", err, sizeof err);
    if (!ok) {
        FUZZ_CHECK(reg.product_count == 0 && reg.device_count == 0);
        FUZZ_CHECK(reg.products == NULL && reg.devices == NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.ini:", 9) == 0 && strchr(err, '\n') == NULL);
        free(text);
        return 0;
    }
    for (size_t i = 0; i < reg.product_count; i++) {
        const onenet_product *p = &reg.products[i];
        FUZZ_CHECK(onenet_id_valid(p->id) && p->master_key != NULL);
        FUZZ_CHECK(i == 0 || strcmp(reg.products[i - 1].id, p->id) < 0);
        FUZZ_CHECK(onenet_registry_product(&reg, p->id) == p);
    }
    for (size_t i = 0; i < reg.device_count; i++) {
        const onenet_device *d = &reg.devices[i];
        FUZZ_CHECK(onenet_id_valid(d->id) && d->product != NULL);
        FUZZ_CHECK(strcmp(d->product->id, d->product_id) == 0);
        FUZZ_CHECK(i == 0 || strcmp(reg.devices[i - 1].id, d->id) < 0);
        FUZZ_CHECK(onenet_registry_device(&reg, d->id) == d);
    }
    onenet_registry_free(&reg);
    free(text);
    return 0;
}
