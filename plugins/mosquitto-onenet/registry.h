/*
 * The device registry: who may log in to the platform. An INI file read
 * with inih:
 *
 *   # products: the product id, and its master API key
 *   [product 91025]
 *   master-key = ...
 *
 *   # devices: the device id, its product, and its API key and/or auth info
 *   [device 9377500]
 *   product = 91025
 *   api-key = ...
 *   auth-info = ...
 *
 * Ids are 1 to ONENET_ID_MAX characters of letters, digits, '-', '_' and
 * '.'; a secret is 1 to ONENET_SECRET_MAX bytes. Lines starting with '#' or
 * ';' are comments; there are no comments after a value (a secret may hold
 * any character). A device names a product of the same file; a device id
 * and a product id may be equal (they live apart).
 *
 * An error names the file's line: "FILE:LINE: what" in err, never a value.
 */
#ifndef ONENET_REGISTRY_H
#define ONENET_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

/* inih keeps at most 49 characters of a section name: "device " and 40
 * fit. */
#define ONENET_ID_MAX 40
#define ONENET_SECRET_MAX 256
#define ONENET_REGISTRY_LINE_MAX 1024
#define ONENET_REGISTRY_FILE_MAX (64L * 1024 * 1024)

typedef struct onenet_product {
    char *id;
    char *master_key;
    unsigned line; /* of its [product ...] line */
} onenet_product;

typedef struct onenet_device {
    char *id;
    char *product_id;
    char *api_key;   /* NULL when not given */
    char *auth_info; /* NULL when not given */
    const onenet_product *product;
    unsigned line;         /* of its [device ...] line */
    unsigned product_line; /* of its product = line */
} onenet_device;

typedef struct onenet_registry {
    onenet_product *products; /* sorted by id */
    size_t product_count;
    size_t product_cap;
    onenet_device *devices; /* sorted by id */
    size_t device_count;
    size_t device_cap;
} onenet_registry;

/* Read the file at path into reg (zeroed first). False with one line in
 * err (naming path and, where one is to blame, the line) when the file
 * cannot be read or is malformed; reg is then empty. */
bool onenet_registry_load(onenet_registry *reg, const char *path, char *err, size_t err_cap);

/* The same over a string (fuzzing, tests); name stands for the path. */
bool onenet_registry_parse(onenet_registry *reg, const char *text, size_t len, const char *name,
                           char *err, size_t err_cap);

void onenet_registry_free(onenet_registry *reg);

const onenet_product *onenet_registry_product(const onenet_registry *reg, const char *id);
const onenet_device *onenet_registry_device(const onenet_registry *reg, const char *id);

/* True if s is an id as the registry accepts them. */
bool onenet_id_valid(const char *s);

/* Compare two secrets in time that depends on their lengths only. */
bool onenet_secret_equal(const char *a, const char *b);

#endif /* ONENET_REGISTRY_H */
